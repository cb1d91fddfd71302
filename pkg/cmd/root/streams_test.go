package root

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

// The streams rule of every command (README, "Output streams"): standard
// output carries only the command's data, standard error everything about
// the run (progress, summaries, warnings, errors). Each command runs here
// in-process on a small input; the test checks where its data and its
// summary went.
func TestOutputStreamsRule(t *testing.T) {
	td := "../../../testdata/"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	invalid := write("invalid.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: fifty
`)
	injected := filepath.Join(dir, "injected.yaml")
	bookinfo := []string{td + "bookinfo/bookinfo.yaml", td + "bookinfo/destination-rules.yaml", td + "bookinfo/gateway.yaml"}
	routes := td + "bookinfo/routes/"

	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
		// out and err must each contain these; an empty out means nothing
		// may be written to standard output.
		out, err []string
		quietOut bool
	}{
		{name: "validate valid", args: []string{"validate", "-f", td + "bookinfo/destination-rules.yaml"},
			quietOut: true, err: []string{"✔ Validation succeeded"}},
		{name: "validate invalid", args: []string{"validate", "-f", invalid}, code: cmdutil.ExitDataErr,
			out: []string{"spec.http[0].route[0].weight: expected an integer"}, err: []string{"✘ Validation failed: 1 error(s)"}},
		{name: "validate -o json", args: []string{"validate", "-o", "json", "-f", invalid}, code: cmdutil.ExitDataErr,
			out: []string{`"exitCode": 65`}},
		{name: "analyze clean", args: append([]string{"analyze", "--use-kube=false", routes + "reviews-90-10.yaml"}, bookinfo...),
			quietOut: true, err: []string{"✔ No validation issues found"}},
		{name: "analyze findings", args: append([]string{"analyze", "--use-kube=false", td + "demo/broken-route.yaml"}, bookinfo...), code: cmdutil.ExitFindings,
			out: []string{"[MSH"}, err: []string{"✘ Analyzers found issues"}},
		{name: "analyze -o json", args: append([]string{"analyze", "--use-kube=false", "-o", "json", td + "demo/broken-route.yaml"}, bookinfo...), code: cmdutil.ExitFindings,
			out: []string{`"exitCode": 79`}},
		{name: "config diff differs", args: []string{"config", "diff", routes + "reviews-90-10.yaml", routes + "reviews-50-50.yaml"}, code: cmdutil.ExitFailure,
			out: []string{"v1 90% → 50%"}},
		{name: "config diff same", args: []string{"config", "diff", routes + "reviews-90-10.yaml", routes + "reviews-90-10.yaml"},
			quietOut: true, err: []string{"No differences"}},
		{name: "manifest diff differs", args: []string{"manifest", "diff", "minimal", "default"}, code: cmdutil.ExitFailure,
			out: []string{"+ Deployment/mesh-system/mesh-ingressgateway"}},
		{name: "manifest diff same", args: []string{"manifest", "diff", "minimal", "minimal"},
			quietOut: true, err: []string{"✔ minimal and minimal render the same"}},
		{name: "manifest generate", args: []string{"manifest", "generate", "--profile", "minimal"},
			out: []string{"kind: Deployment"}},
		{name: "manifest generate -o DIR", args: []string{"manifest", "generate", "--profile", "minimal", "-o", filepath.Join(dir, "out")},
			quietOut: true, err: []string{"✔ Wrote 2 components"}},
		{name: "profile list", args: []string{"profile", "list"}, out: []string{"PROFILE", "demo"}},
		{name: "profile dump", args: []string{"profile", "dump", "minimal"}, out: []string{"kind: MeshInstall"}},
		{name: "profile diff differs", args: []string{"profile", "diff", "default", "demo"}, code: cmdutil.ExitFailure,
			out: []string{"spec.addons.grafana.enabled: false → true"}},
		{name: "profile diff same", args: []string{"profile", "diff", "demo", "demo"},
			quietOut: true, err: []string{"✔ Profiles demo and demo are the same"}},
		{name: "kube-inject", args: []string{"kube-inject", "--profile", "default", "-f", td + "inject/kinds.yaml"},
			out: []string{"name: mesh-proxy"}, err: []string{`statefulset "db" injected`}},
		{name: "kube-inject -o FILE", args: []string{"kube-inject", "--profile", "default", "-f", td + "inject/kinds.yaml", "-o", injected},
			quietOut: true, err: []string{`statefulset "db" injected`}},
		{name: "x uninject", args: []string{"x", "uninject", "-f", injected},
			out: []string{"kind: StatefulSet"}, err: []string{`statefulset "db" uninjected`}},
		{name: "version", args: []string{"version", "-o", "short"}, out: []string{"\n"}},
		{name: "a cluster command without a cluster", args: []string{"verify-install", "--kubeconfig", filepath.Join(dir, "missing")}, code: cmdutil.ExitFailure,
			quietOut: true, err: []string{"cannot reach a Kubernetes cluster"}},
		{name: "usage error", args: []string{"config", "dif", "a", "b"}, code: cmdutil.ExitUsage,
			quietOut: true, err: []string{"Did you mean this?"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			streams, in, out, errOut := iostreams.Test()
			in.WriteString(c.stdin)
			code := Execute(context.Background(), streams, c.args)
			stdout, stderr := out.String(), errOut.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			if c.quietOut && stdout != "" {
				t.Errorf("standard output should be empty, got:\n%s", stdout)
			}
			for _, w := range c.out {
				if !strings.Contains(stdout, w) {
					t.Errorf("standard output lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range c.err {
				if !strings.Contains(stderr, w) {
					t.Errorf("standard error lacks %q:\n%s", w, stderr)
				}
			}
			// Status lines are never data.
			for _, l := range strings.Split(stdout, "\n") {
				if strings.HasPrefix(l, "✔ ") || strings.HasPrefix(l, "✘ ") || strings.HasPrefix(l, "! ") {
					t.Errorf("status line on standard output: %q", l)
				}
			}
		})
	}
}
