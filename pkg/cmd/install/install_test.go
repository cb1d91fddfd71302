package install_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	code := root.Execute(context.Background(), streams, args)
	return code, out.String(), errOut.String()
}

func TestInstallRefusesToPromptWithoutTerminal(t *testing.T) {
	code, _, errOut := run(t, "install", "--profile", "demo", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	if code != cmdutil.ExitUsage || !strings.Contains(errOut, "pass -y") {
		t.Errorf("install without -y and without a terminal: exit %d, %q", code, errOut)
	}
}

func TestSpecErrorsAreUsageErrors(t *testing.T) {
	code, _, errOut := run(t, "manifest", "generate", "--set", "components.sever.enabled=true")
	if code != cmdutil.ExitUsage || !strings.Contains(errOut, `did you mean "server"`) {
		t.Errorf("exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "install", "--profile", "dmeo", "-y")
	if code != cmdutil.ExitUsage || !strings.Contains(errOut, `did you mean "demo"`) {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestManifestGenerateIsStableAndSplits(t *testing.T) {
	_, a, _ := run(t, "manifest", "generate", "--profile", "demo")
	_, b, _ := run(t, "manifest", "generate", "--profile", "demo")
	if a != b || !strings.Contains(a, "kind: CustomResourceDefinition") {
		t.Fatalf("manifest generate is not stable or incomplete (%d vs %d bytes)", len(a), len(b))
	}
	dir := t.TempDir()
	if code, _, errOut := run(t, "manifest", "generate", "--profile", "demo", "-o", dir); code != 0 {
		t.Fatalf("-o DIR: exit %d %s", code, errOut)
	}
	var joined strings.Builder
	for _, c := range []string{"base", "server", "ingress-gateway", "egress-gateway", "prometheus", "grafana", "jaeger", "kiali", "zipkin"} {
		bs, err := os.ReadFile(filepath.Join(dir, c+".yaml"))
		if err != nil {
			t.Fatalf("component file: %v", err)
		}
		// Each file starts with "---", which joins them into one stream.
		joined.Write(bs)
	}
	if joined.String() != "---\n"+a {
		t.Error("the per-component files do not add up to the single-stream output")
	}
}

func TestDiffExitCodes(t *testing.T) {
	if code, out, _ := run(t, "profile", "diff", "default", "demo"); code != 1 || !strings.Contains(out, "spec.addons.grafana.enabled: false → true") {
		t.Errorf("profile diff default demo: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "profile", "diff", "demo", "demo"); code != 0 {
		t.Errorf("profile diff demo demo: exit %d", code)
	}
	code, out, _ := run(t, "manifest", "diff", "default", "minimal")
	if code != 1 || !strings.Contains(out, "- Deployment/mesh-system/mesh-ingressgateway") {
		t.Errorf("manifest diff default minimal: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "mesh.yaml")
	os.WriteFile(spec, []byte("apiVersion: install.meshctl.io/v1alpha1\nkind: MeshInstall\nspec:\n  components:\n    server:\n      replicas: 3\n      autoscale:\n        enabled: false\n"), 0o644)
	code, out, _ = run(t, "manifest", "diff", "default", spec)
	if code != 1 || !strings.Contains(out, "~ Deployment/mesh-system/meshctl-server") || !strings.Contains(out, "spec.replicas: 1 → 3") {
		t.Errorf("manifest diff default mesh.yaml: exit %d\n%s", code, out)
	}
}

func TestProfileDumpRoundTrips(t *testing.T) {
	code, out, _ := run(t, "profile", "dump", "demo", "--set", "meshConfig.outboundTrafficPolicy=REGISTRY_ONLY")
	if code != 0 || !strings.Contains(out, "outboundTrafficPolicy: REGISTRY_ONLY") {
		t.Fatalf("dump: exit %d", code)
	}
	f := filepath.Join(t.TempDir(), "dump.yaml")
	os.WriteFile(f, []byte(out), 0o644)
	code, out2, errOut := run(t, "profile", "dump", "-f", f)
	if code != 0 || out2 != out {
		t.Errorf("a dump is not a valid -f file that resolves to itself: exit %d %s", code, errOut)
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false} {
		streams, stdin, out, _ := iostreams.Test()
		streams.SetTTY(true, true, true)
		stdin.WriteString(in)
		got, err := installcmd.Confirm(streams, "Proceed?")
		if err != nil || got != want || !strings.Contains(out.String(), "Proceed? [y/N]") {
			t.Errorf("answer %q: got %v, %v (prompt %q)", in, got, err, out.String())
		}
	}
	streams, _, _, _ := iostreams.Test()
	if _, err := installcmd.Confirm(streams, "Proceed?"); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("Confirm without a terminal: %v", err)
	}
}
