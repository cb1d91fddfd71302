package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

// run executes `meshctl manifest ARGS` in-process and returns the exit code,
// standard output and standard error.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	streams, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	cmd := NewCmdManifest(cmdutil.NewFactory(streams))
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.WithExitCode(cmdutil.ExitUsage, err) })
	err := cmd.Execute()
	if err != nil && cmdutil.ExitCode(err) != cmdutil.ExitFailure {
		errOut.WriteString(err.Error())
	}
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestGenerateDirWritesExactlyTheRender(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious.yaml")
	if err := os.WriteFile(outside, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink planted at a name generate writes, pointing outside DIR,
	// and a file of the user's.
	if err := os.Symlink(outside, filepath.Join(dir, "server.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.yaml"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "", "generate", "--profile", "demo", "-o", dir)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "✔ Wrote 9 components to "+dir) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep me\n" {
		t.Fatalf("generate wrote through the planted symlink: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(dir, "server.yaml"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("server.yaml is not a regular file: %v %v", fi, err)
	}
	demo := []string{install.DirIndex, "base.yaml", "egress-gateway.yaml", "grafana.yaml", "ingress-gateway.yaml", "jaeger.yaml", "kiali.yaml", "notes.yaml", "prometheus.yaml", "server.yaml", "zipkin.yaml"}
	if got := names(t, dir); !slices.Equal(got, demo) {
		t.Fatalf("files = %v, want %v (no temporary files left)", got, demo)
	}
	for _, n := range demo[1:] {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if n != "notes.yaml" && !strings.HasPrefix(string(b), "---\n") {
			t.Errorf("%s does not start with ---: %.40q", n, b)
		}
	}

	// A smaller render removes the files of components it no longer has,
	// and only those.
	code, _, stderr = run(t, "", "generate", "--profile", "minimal", "-o", dir)
	if code != 0 || !strings.Contains(stderr, "removed 7 no longer rendered (egress-gateway.yaml, grafana.yaml, ingress-gateway.yaml, jaeger.yaml, kiali.yaml, prometheus.yaml, zipkin.yaml)") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := names(t, dir), []string{install.DirIndex, "base.yaml", "notes.yaml", "server.yaml"}; !slices.Equal(got, want) {
		t.Fatalf("after minimal: files = %v, want %v", got, want)
	}
	minimal := filepath.Join(t.TempDir(), "minimal.yaml")
	_, rendered, _ := run(t, "", "generate", "--profile", "minimal")
	if err := os.WriteFile(minimal, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "notes.yaml"))

	// manifest diff reads such a directory on either side.
	if code, stdout, stderr := run(t, "", "diff", dir, "minimal"); code != 0 || !strings.Contains(stdout+stderr, "render the same") {
		t.Errorf("diff DIR minimal: exit %d %s", code, stdout+stderr)
	}
	if code, _, _ := run(t, "", "diff", minimal, dir); code != 0 {
		t.Errorf("diff FILE DIR: exit %d", code)
	}
	if code, stdout, _ := run(t, "", "diff", dir, "demo"); code != cmdutil.ExitFailure || !strings.Contains(stdout, "+ Deployment/mesh-system/grafana") {
		t.Errorf("diff DIR demo: exit %d\n%s", code, stdout)
	}
	if code, _, _ := run(t, "", "diff", t.TempDir(), "demo"); code != cmdutil.ExitTrouble {
		t.Errorf("diff of an empty directory: exit %d, want %d", code, cmdutil.ExitTrouble)
	}
}

// An index planted as a symlink, or naming files outside DIR, removes
// nothing.
func TestGenerateDirIgnoresForeignIndex(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim.yaml")
	if err := os.WriteFile(victim, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	index := "base.yaml\n../" + filepath.Base(filepath.Dir(victim)) + "/victim.yaml\n" + victim + "\n"
	if err := os.WriteFile(filepath.Join(dir, install.DirIndex), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "", "generate", "--profile", "minimal", "-o", dir); code != 0 || strings.Contains(stderr, "removed") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("a file outside DIR was removed: %v", err)
	}
}

func TestGenerateReadsSpecFromStdin(t *testing.T) {
	spec := "apiVersion: install.meshctl.io/v1alpha1\nkind: MeshInstall\nspec:\n  meshConfig:\n    outboundTrafficPolicy: REGISTRY_ONLY\n"
	code, stdout, stderr := run(t, spec, "generate", "--profile", "minimal", "-f", "-")
	if code != 0 || !strings.Contains(stdout, "mode: REGISTRY_ONLY") {
		t.Fatalf("exit %d: %s\n%.300s", code, stderr, stdout)
	}
	if code, _, stderr := run(t, spec, "generate", "-f", "-", "-f", "-"); code == 0 || !strings.Contains(stderr, "standard input can be read only once") {
		t.Errorf("-f - twice: exit %d %s", code, stderr)
	}
	if code, _, _ := run(t, "spec: {bogus: 1}\n", "generate", "-f", "-"); code != cmdutil.ExitDataErr {
		t.Errorf("bad spec on stdin: exit %d, want %d", code, cmdutil.ExitDataErr)
	}
}

// Two renders that differ inside the mesh ConfigMap show the keys that
// changed.
func TestDiffShowsKeysInsideTheMeshConfig(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	_, ra, _ := run(t, "", "generate", "--profile", "minimal")
	_, rb, _ := run(t, "", "generate", "--profile", "minimal", "--set", "meshConfig.outboundTrafficPolicy=REGISTRY_ONLY")
	os.WriteFile(a, []byte(ra), 0o644)
	os.WriteFile(b, []byte(rb), 0o644)
	code, stdout, _ := run(t, "", "diff", a, b)
	if code != cmdutil.ExitFailure || !strings.Contains(stdout, "~ data.mesh: outboundTrafficPolicy.mode: ALLOW_ANY → REGISTRY_ONLY") || strings.Contains(stdout, "bytes)") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}
