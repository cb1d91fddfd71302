package analyze

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

const td = "../../../testdata/"

var bookinfo = []string{td + "bookinfo/bookinfo.yaml", td + "bookinfo/mesh.yaml", td + "bookinfo/gateway.yaml", td + "bookinfo/destination-rules.yaml"}

// run executes the command with a factory that has no cluster.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	streams, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(streams)
	f.RESTConfig = func() (*rest.Config, error) { return nil, cmdutil.NoClusterError(errors.New("no kubeconfig")) }
	cmd := NewCmdAnalyze(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.WithExitCode(cmdutil.ExitUsage, err) })
	err := cmd.Execute()
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

func TestCleanBookinfo(t *testing.T) {
	code, out, errOut := run(t, "", append(bookinfo, td+"bookinfo/routes/reviews-90-10.yaml")...)
	if code != 0 || out != "" || !strings.Contains(errOut, "✔ No validation issues found when analyzing namespace: default.\n") {
		t.Fatalf("code %d, out %q, errOut %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "No cluster reachable") || !strings.Contains(errOut, "analyzing files only") {
		t.Errorf("stderr should say the cluster was skipped: %q", errOut)
	}
}

func TestExitCodesInEveryFormat(t *testing.T) {
	broken := append(append([]string{}, bookinfo...), td+"analyze/MSH0101/positive.yaml")
	for _, format := range []string{"", "json", "yaml", "sarif"} {
		code, out, _ := run(t, "", append([]string{"--use-kube=false", "-o", format}, broken...)...)
		if code != cmdutil.ExitFindings {
			t.Errorf("-o %q: exit %d, want %d", format, code, cmdutil.ExitFindings)
		}
		if !strings.Contains(out, "MSH0101") {
			t.Errorf("-o %q: output lacks the finding:\n%s", format, out)
		}
		switch format {
		case "json", "sarif":
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Errorf("-o %s is not JSON: %v", format, err)
			}
		case "yaml":
			var v map[string]any
			if err := yaml.Unmarshal([]byte(out), &v); err != nil || v["exitCode"] != float64(79) {
				t.Errorf("-o yaml: %v %v", err, v["exitCode"])
			}
		}
	}
	// Warnings pass by default and fail with --failure-threshold Warning.
	warn := append(append([]string{}, bookinfo...), td+"analyze/MSH0104/positive.yaml")
	if code, _, _ := run(t, "", append([]string{"--use-kube=false"}, warn...)...); code != 0 {
		t.Errorf("a warning below the failure threshold: exit %d", code)
	}
	if code, _, _ := run(t, "", append([]string{"--use-kube=false", "--failure-threshold", "warning"}, warn...)...); code != cmdutil.ExitFindings {
		t.Errorf("--failure-threshold Warning: exit %d", code)
	}
	// Unparseable input wins over findings.
	if code, out, _ := run(t, "", "--use-kube=false", "-o", "json", td+"analyze/MSH0001/positive.yaml"); code != cmdutil.ExitDataErr || !strings.Contains(out, `"exitCode": 65`) {
		t.Errorf("unparseable: exit %d\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"--failure-threshold", "fatal", "x.yaml"},
		{"-o", "xml", "x.yaml"},
		{"--suppress", "MSH0101", "x.yaml"},
		{"--use-kube=false"},
		{"--no-such-flag"},
		{"--use-kube=false", td + "does-not-exist.yaml"},
	} {
		if code, _, _ := run(t, "", bad...); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, cmdutil.ExitUsage)
		}
	}
}

func TestStdinAndSuppress(t *testing.T) {
	route := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews2}
`
	code, out, _ := run(t, route, append([]string{"--use-kube=false"}, append(bookinfo, "-")...)...)
	if code != cmdutil.ExitFindings || !strings.Contains(out, `Error [MSH0101] (VirtualService default/reviews -:8) Referenced host not found: "reviews2"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, _, out = run(t, route, append([]string{"--use-kube=false", "--suppress", "MSH0101=VirtualService default/rev*"}, append(bookinfo, "-")...)...)
	if code != 0 || !strings.Contains(out, "No validation issues") {
		t.Fatalf("suppressed: exit %d:\n%s", code, out)
	}
}

func TestExplicitUseKubeFails(t *testing.T) {
	code, _, _ := run(t, "", append([]string{"--use-kube=true"}, bookinfo...)...)
	if code != cmdutil.ExitFailure {
		t.Errorf("an explicit --use-kube without a cluster must fail, got exit %d", code)
	}
}

func TestListAnalyzers(t *testing.T) {
	code, out, _ := run(t, "", "--list-analyzers")
	if code != 0 || !strings.Contains(out, "MSH0101") || !strings.Contains(out, "ReferencedHostNotFound") || strings.Count(out, "\n") < 31 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
