package config

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/meshctl/meshctl/internal/fakecustom"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	meshconfig "github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/configdiff"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/configdiff")

func scenarioDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "testdata", "configdiff", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// run executes `config diff` with args in dir (so that origins in the output
// are the short paths a user would type) and returns stdout, stderr and the
// exit code.
func run(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	t.Chdir(dir)
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	ns := "default"
	f.ConfigFlags.Namespace = &ns
	cmd := NewCmdConfig(f)
	cmd.SetArgs(append([]string{"diff"}, args...))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	if err != nil && cmdutil.ExitCode(err) > 1 {
		errOut.WriteString("Error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestDiffGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wantCode int
		// must appear in the text output, so that a golden file accepted
		// by mistake cannot hide the headline change of a scenario.
		want []string
	}{
		{"all-v1-to-90-10", 1, []string{"~ reviews: v1 100% → 90%, v3 0% → 10%"}},
		{"90-10-to-50-50", 1, []string{"~ reviews: v1 90% → 50%, v3 10% → 50%"}},
		// Istio's Gateway API sample (samples/bookinfo/gateway-api/route-reviews-90-10.yaml) moved to 50/50.
		{"httproute-90-10-to-50-50", 1, []string{"~ reviews: reviews-v1 90% → 50%, reviews-v2 10% → 50%  (new/reviews.yaml:11)"}},
		{"50-50-to-v3", 1, []string{"~ reviews: v1 50% → 0%, v3 50% → 100%"}},
		{"jason-v2", 1, []string{"+ end-user=jason → v2 [http route 1 of 2]"}},
		{"istio-mutual", 1, []string{"+ trafficPolicy.tls.mode: ISTIO_MUTUAL"}},
		{"gateway", 1, []string{
			"+ ratings: timeout: 2s  (new/bookinfo.yaml:61)",
			"~ gateways: [mesh] → [bookinfo-gateway, mesh]",
			"~ trafficPolicy.loadBalancer.simple: ROUND_ROBIN → LEAST_REQUEST",
			"- subset v2-mysql (version=v2-mysql)",
			"~ servers[port=80].hosts: [*] → [bookinfo.example.com]",
			"+ servers[port=443]: hosts=[bookinfo.example.com], port.name=https, port.number=443, port.protocol=HTTPS, tls.credentialName=bookinfo-cert, tls.mode=SIMPLE  (new/bookinfo.yaml:15)",
		}},
		{"unchanged", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := scenarioDir(t, tc.name)
			out, errOut, code := run(t, dir, "old", "new")
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.wantCode == 0 {
				if out != "" {
					t.Errorf("no differences expected, got:\n%s", out)
				}
				if !strings.Contains(errOut, "No differences") {
					t.Errorf("stderr does not say there are no differences: %q", errOut)
				}
				return
			}
			golden(t, filepath.Join(dir, "diff.txt"), out)

			// JSON says the same, with the same exit code.
			js, _, code := run(t, dir, "-o", "json", "old", "new")
			if code != tc.wantCode {
				t.Fatalf("-o json exit code %d, want %d", code, tc.wantCode)
			}
			var rep configdiff.Report
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatalf("-o json is not JSON: %v\n%s", err, js)
			}
			if !rep.Differences || len(rep.Sections) == 0 {
				t.Fatalf("-o json reports no differences:\n%s", js)
			}
			golden(t, filepath.Join(dir, "diff.json"), js)
		})
	}
}

// Swapping OLD and NEW swaps every added and removed line.
func TestDiffIsSymmetric(t *testing.T) {
	dir := scenarioDir(t, "jason-v2")
	fwd, _, _ := run(t, dir, "old", "new")
	back, _, code := run(t, dir, "new", "old")
	if code != 1 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(fwd, "+ end-user=jason → v2") || !strings.Contains(back, "- end-user=jason → v2  (new/reviews.yaml:9)") {
		t.Errorf("forward:\n%s\nbackward:\n%s", fwd, back)
	}
}

func TestDiffErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: a\nspec:\n  hosts: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: a\nspec:\n  hosts: [a]\n  htp: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"good.yaml", "nope.yaml"}, cmdutil.ExitTrouble, "NEW nope.yaml: no such file"},
		{"unparseable", []string{"good.yaml", "bad.yaml"}, cmdutil.ExitDataErr, "bad.yaml:7"},
		{"one argument", []string{"good.yaml"}, cmdutil.ExitUsage, "accepts 2 arg(s)"},
		{"bad format", []string{"-o", "xml", "good.yaml", "good.yaml"}, cmdutil.ExitUsage, "unsupported output format"},
		{"-A without --cluster", []string{"-A", "good.yaml", "good.yaml"}, cmdutil.ExitUsage, "--all-namespaces only applies with --cluster"},
		{"same", []string{"good.yaml", "good.yaml"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, dir, tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.msg) {
				t.Errorf("stderr lacks %q:\n%s", tc.msg, errOut)
			}
		})
	}
}

// With --cluster, OLD is the cluster and NEW the cluster with the files on
// top: objects the files do not mention are no difference.
func TestDiffCluster(t *testing.T) {
	vs := func(name, host, subset string) *networkingv1.VirtualService {
		return &networkingv1.VirtualService{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: networkingapi.VirtualService{Hosts: []string{host}, Http: []*networkingapi.HTTPRoute{{
				Route: []*networkingapi.HTTPRouteDestination{{Destination: &networkingapi.Destination{Host: host, Subset: subset}}},
			}}},
		}
	}
	client := istiofake.NewSimpleClientset(vs("reviews", "reviews", "v1"), vs("details", "details", "v1"))
	dir := scenarioDir(t, "all-v1-to-90-10")
	t.Chdir(dir)
	streams, _, out, _ := iostreams.Test()
	o := &DiffOptions{IO: streams, Cluster: true, New: "new/reviews.yaml", Namespace: "default",
		Custom: func() (meshconfig.CustomResources, error) { return fakecustom.New(client, nil), nil }}
	err := o.Run(context.Background())
	if code := cmdutil.ExitCode(err); code != 1 {
		t.Fatalf("exit code %d (%v), want 1", code, err)
	}
	got := out.String()
	if !strings.Contains(got, "~ reviews: v1 100% → 90%, v3 0% → 10%  (new/reviews.yaml:") {
		t.Errorf("weights change missing:\n%s", got)
	}
	if strings.Contains(got, "details") {
		t.Errorf("an object the files do not mention shows as changed:\n%s", got)
	}
	// The rule only in the files is new to the cluster.
	if !strings.Contains(got, "+ subset v3 (version=v3)") {
		t.Errorf("subsets of the new DestinationRule missing:\n%s", got)
	}
	if !bytes.Contains(out.Bytes(), []byte("VirtualService default/reviews")) {
		t.Errorf("heading does not name the VirtualService:\n%s", got)
	}
}

// NEW may come from standard input, as in `helm template … | meshctl config
// diff live.yaml -`; origins then name "-".
func TestDiffStdinAndColor(t *testing.T) {
	dir := scenarioDir(t, "90-10-to-50-50")
	t.Chdir(dir)
	data, err := os.ReadFile(filepath.Join("new", "reviews.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	streams, in, out, _ := iostreams.Test()
	in.Write(data)
	streams.SetColorEnabled(true)
	f := cmdutil.NewFactory(streams)
	ns := "default"
	f.ConfigFlags.Namespace = &ns
	cmd := NewCmdConfig(f)
	cmd.SetArgs([]string{"diff", "old", "-"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err = cmd.ExecuteContext(context.Background())
	if code := cmdutil.ExitCode(err); code != 1 {
		t.Fatalf("exit code %d (%v)", code, err)
	}
	got := out.String()
	if !strings.Contains(got, "reviews: v1 90% → 50%, v3 10% → 50%  (-:9)") {
		t.Errorf("stdin origin missing:\n%s", got)
	}
	if !strings.Contains(got, "\x1b[33m~\x1b[0m") {
		t.Errorf("the change marker is not colored on a color terminal: %q", got)
	}
}

// With --cluster, HTTPRoutes are read from the cluster through the Gateway
// API client: the live 90/10 route against the file's 50/50.
func TestDiffClusterHTTPRoute(t *testing.T) {
	w := func(n int32) *int32 { return &n }
	port := gatewayv1.PortNumber(9080)
	svc := gatewayv1.Kind("Service")
	live := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Kind: &svc, Name: "reviews", Port: &port}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "reviews-v1", Port: &port}, Weight: w(90)}},
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "reviews-v2", Port: &port}, Weight: w(10)}},
			}}},
		},
	}
	gw := gatewayfake.NewSimpleClientset(live)
	t.Chdir(scenarioDir(t, "httproute-90-10-to-50-50"))
	streams, _, out, _ := iostreams.Test()
	o := &DiffOptions{IO: streams, Cluster: true, New: "new/reviews.yaml", Namespace: "default",
		Custom: func() (meshconfig.CustomResources, error) {
			return fakecustom.New(istiofake.NewSimpleClientset(), gw), nil
		}}
	err := o.Run(context.Background())
	if code := cmdutil.ExitCode(err); code != 1 {
		t.Fatalf("exit code %d (%v), want 1", code, err)
	}
	if got := out.String(); !strings.Contains(got, "~ reviews: reviews-v1 90% → 50%, reviews-v2 10% → 50%  (new/reviews.yaml:11)") {
		t.Errorf("weights change missing:\n%s", got)
	}
}
