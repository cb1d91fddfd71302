package root

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// run executes meshctl in-process with a config home of its own, so the
// developer's real config file never leaks into a test.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	streams, _, out, errOut := iostreams.Test()
	code = Execute(context.Background(), streams, args)
	return code, out.String(), errOut.String()
}

func TestVersionOutputs(t *testing.T) {
	code, out, _ := run(t, "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version"`) || !strings.Contains(out, `"goVersion"`) {
		t.Fatalf("version -o json: code %d, output %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "short")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("version -o short: code %d, output %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "yaml")
	if code != 0 || !strings.HasPrefix(out, "goVersion:") {
		t.Fatalf("version -o yaml: code %d, output %q", code, out)
	}
}

func TestUsageErrorsExit64(t *testing.T) {
	for _, args := range [][]string{
		{"version", "-o", "xml"},
		{"no-such-command"},
		{"version", "--no-such-flag"},
		{"version", "extra-arg"},
		{"completion"},
	} {
		code, out, errOut := run(t, args...)
		if code != cmdutil.ExitUsage {
			t.Errorf("%v: exit code %d, want %d (stderr %q)", args, code, cmdutil.ExitUsage, errOut)
		}
		if !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, "--help") {
			t.Errorf("%v: stderr %q should give the error and point at --help", args, errOut)
		}
		if out != "" {
			t.Errorf("%v: unexpected stdout %q", args, out)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_meshctl",
		"zsh":        "#compdef meshctl",
		"fish":       "complete -c meshctl",
		"powershell": "Register-ArgumentCompleter",
	} {
		code, out, _ := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: code %d, missing %q", shell, code, marker)
		}
	}
}

// The precedence users expect: flag > MESHCTL_* env > config file > default.
func TestFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("mesh-namespace: from-file\nversion:\n  output: short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolve := func(env string, args ...string) (string, string) {
		t.Helper()
		if env != "" {
			t.Setenv("MESHCTL_MESH_NAMESPACE", env)
		} else {
			os.Unsetenv("MESHCTL_MESH_NAMESPACE")
		}
		streams, _, out, _ := iostreams.Test()
		f := cmdutil.NewFactory(streams)
		cmd := NewCmdRoot(f)
		cmd.SetArgs(append([]string{"version"}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return f.MeshNamespace, out.String()
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if got, _ := resolve(""); got != vocab.DefaultMeshNamespace {
		t.Errorf("default: %q", got)
	}
	if got, out := resolve("", "--config", file); got != "from-file" || strings.Contains(out, "git commit") {
		t.Errorf("file: namespace %q, output %q (the command-scoped output: short should apply)", got, out)
	}
	if got, _ := resolve("from-env", "--config", file); got != "from-env" {
		t.Errorf("env over file: %q", got)
	}
	if got, _ := resolve("from-env", "--config", file, "--mesh-namespace", "from-flag"); got != "from-flag" {
		t.Errorf("flag over env: %q", got)
	}
	// The default file location is used without --config.
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	os.MkdirAll(filepath.Join(home, "meshctl"), 0o755)
	os.WriteFile(filepath.Join(home, "meshctl", "config.yaml"), []byte("mesh-namespace: xdg\n"), 0o600)
	if got, _ := resolve(""); got != "xdg" {
		t.Errorf("XDG config file: %q", got)
	}
}

func TestBadConfigFileIsAUsageError(t *testing.T) {
	code, _, errOut := run(t, "version", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != cmdutil.ExitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestUnreachableClusterSaysWhatToDo(t *testing.T) {
	// A kubeconfig pointing at a port nothing listens on.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
	code, _, errOut := run(t, "get", "virtualservices", "--kubeconfig", kc)
	if code != cmdutil.ExitFailure || !strings.Contains(errOut, "--kubeconfig") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

// Flags that skip the confirmation or delete more than asked come only from
// the command line: a MESHCTL_* variable or a config key must not turn a plain
// `meshctl uninstall` into an unprompted purge.
func TestDangerousFlagsOnlyFromTheCommandLine(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
	config := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(config, []byte("yes: true\npurge: true\nforce-conflicts: true\nuninstall:\n  purge: true\n"), 0o600)

	// flags runs meshctl and returns the values the command ended up with.
	flags := func(t *testing.T, args ...string) (map[string]string, int, string) {
		t.Helper()
		t.Setenv("XDG_CONFIG_HOME", t.TempDir())
		streams, _, _, errOut := iostreams.Test()
		f := cmdutil.NewFactory(streams)
		cmd := NewCmdRoot(f)
		cmd.SetArgs(append(args, "--kubeconfig", kc))
		err := cmd.Execute()
		code := 0
		if err != nil {
			code = cmdutil.ExitCode(err)
		}
		sub, _, _ := cmd.Find(args[:1])
		got := map[string]string{}
		for _, n := range []string{"yes", "purge", "force-conflicts"} {
			if fl := sub.Flags().Lookup(n); fl != nil {
				got[n] = fl.Value.String()
			}
		}
		return got, code, errOut.String()
	}

	t.Run("environment", func(t *testing.T) {
		t.Setenv("MESHCTL_PURGE", "true")
		t.Setenv("MESHCTL_YES", "true")
		t.Setenv("MESHCTL_FORCE_CONFLICTS", "true")
		got, code, errOut := flags(t, "uninstall")
		if got["yes"] != "false" || got["purge"] != "false" {
			t.Errorf("uninstall took --yes/--purge from the environment: %v", got)
		}
		// Without --yes and without a terminal, uninstall refuses before
		// touching the cluster.
		if code != cmdutil.ExitUsage || !strings.Contains(errOut, "MESHCTL_PURGE") {
			t.Errorf("exit %d, stderr %q: want a refusal to proceed and a warning naming MESHCTL_PURGE", code, errOut)
		}
		got, _, _ = flags(t, "install")
		if got["yes"] != "false" || got["force-conflicts"] != "false" {
			t.Errorf("install took --yes/--force-conflicts from the environment: %v", got)
		}
	})
	t.Run("config file", func(t *testing.T) {
		got, code, errOut := flags(t, "uninstall", "--config", config)
		if got["yes"] != "false" || got["purge"] != "false" {
			t.Errorf("uninstall took --yes/--purge from the config file: %v", got)
		}
		if code != cmdutil.ExitUsage || !strings.Contains(errOut, "config file key uninstall.purge") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		got, _, _ = flags(t, "install", "--config", config)
		if got["yes"] != "false" || got["force-conflicts"] != "false" {
			t.Errorf("install took --yes/--force-conflicts from the config file: %v", got)
		}
	})
	t.Run("command line", func(t *testing.T) {
		got, _, _ := flags(t, "uninstall", "--purge", "-y", "--dry-run")
		if got["yes"] != "true" || got["purge"] != "true" {
			t.Errorf("uninstall --purge -y: %v", got)
		}
	})
}

// Every flag that skips a confirmation or takes something over, on any
// command, is marked command-line only.
func TestEveryDangerousFlagIsMarked(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, n := range []string{"yes", "purge", "force-conflicts"} {
			if fl := c.LocalFlags().Lookup(n); fl != nil && !cmdutil.IsCommandLineOnly(fl) {
				t.Errorf("%s --%s can be set from the environment or a config file", c.CommandPath(), n)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(cmdutil.NewFactory(streams)))
}

// Every exit code the README's table documents, command by command, as the
// process returns it; on every error standard output stays empty.
func TestExitCodesAsDocumented(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: install.meshctl.io/v1alpha1\nkind: MeshInstall\nspec: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknownField := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownField, []byte("apiVersion: install.meshctl.io/v1alpha1\nkind: MeshInstall\nspec:\n  profil: demo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		args []string
		code int
		says string // in stderr
	}{
		{[]string{"config", "dif", "a.yaml", "b.yaml"}, cmdutil.ExitUsage, "Did you mean this?\n\tdiff"},
		{[]string{"profile", "lst"}, cmdutil.ExitUsage, "Did you mean this?\n\tlist"},
		{[]string{"manifest", "generat"}, cmdutil.ExitUsage, "Did you mean this?\n\tgenerate"},
		{[]string{"x", "uninjct"}, cmdutil.ExitUsage, "Did you mean this?\n\tuninject"},
		{[]string{"analize"}, cmdutil.ExitUsage, "Did you mean this?\n\tanalyze"},
		{[]string{"kube-inject"}, cmdutil.ExitUsage, `"filename"`},
		{[]string{"manifest", "diff", missing, "default"}, cmdutil.ExitTrouble, "missing.yaml"},
		{[]string{"manifest", "diff", "default"}, cmdutil.ExitUsage, "accepts 2 arg"},
		{[]string{"manifest", "generate", "-f", bad}, cmdutil.ExitDataErr, "bad.yaml"},
		{[]string{"manifest", "generate", "-f", unknownField}, cmdutil.ExitDataErr, "profil"},
		{[]string{"manifest", "generate", "-f", missing}, cmdutil.ExitUsage, "missing.yaml"},
		{[]string{"install", "-f", bad, "--dry-run"}, cmdutil.ExitDataErr, "bad.yaml"},
		{[]string{"config", "diff", missing, missing}, cmdutil.ExitTrouble, "missing.yaml"},
		{[]string{"validate", "-f", bad}, cmdutil.ExitDataErr, "bad.yaml"},
		{[]string{"validate"}, cmdutil.ExitUsage, ""},
		{[]string{"analyze", "--use-kube=false", bad}, cmdutil.ExitDataErr, "bad.yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut+out, tc.says) {
				t.Errorf("stderr does not say %q:\n%s", tc.says, errOut)
			}
			if out != "" && tc.code != cmdutil.ExitDataErr {
				t.Errorf("stdout on error:\n%s", out)
			}
		})
	}
	// A group alone is a request for its help, which is data: stdout, 0.
	code, out, errOut := run(t, "config")
	if code != 0 || !strings.Contains(out, "diff") || errOut != "" {
		t.Errorf("meshctl config: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// One-shot commands relax the collector's pacing, after a first collection
// deferred to shortRunFirstCollection; a long-running one gets Go's
// default, and a pacing chosen by the user (GOGC) is left alone. Each run
// starts with the collector off, as the meshctl binary does
// (internal/initgc).
func TestShortRunsPaceTheCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(math.MaxInt64)
	execute := func(annotations map[string]string) {
		debug.SetGCPercent(-1)
		f := cmdutil.NewFactory(iostreams.System())
		cmd := NewCmdRoot(f)
		cmd.AddCommand(&cobra.Command{Use: "probe", Annotations: annotations, RunE: func(*cobra.Command, []string) error { return nil }})
		cmd.SetArgs([]string{"probe", "--config", filepath.Join(t.TempDir(), "none.yaml")})
		_ = cmd.Execute()
	}
	run := func(annotations map[string]string) int {
		execute(annotations)
		return debug.SetGCPercent(100)
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	// Reading the percent sets it: -1 keeps the state under test.
	execute(nil)
	if got, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1); got != -1 || limit != shortRunFirstCollection {
		t.Errorf("one-shot command before its first collection: GC percent %d, memory limit %d; want -1 and %d", got, limit, shortRunFirstCollection)
	}
	runtime.GC()
	// The hand-over runs on the runtime's cleanup goroutine, after the
	// collection; the bound only keeps a broken hand-over from hanging.
	deadline := time.Now().Add(30 * time.Second)
	for debug.SetGCPercent(-1) != shortRunGCPercent || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		if time.Now().After(deadline) {
			t.Fatalf("one-shot command after its first collection: memory limit %d, want the pacing of GOGC=%d without a limit", debug.SetMemoryLimit(-1), shortRunGCPercent)
		}
		time.Sleep(time.Millisecond)
	}
	// A limit chosen by the user stays the only limit (hand-overs of
	// earlier runs may still lift it: they never lower it).
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	if got, limit := run(nil), debug.SetMemoryLimit(-1); got != shortRunGCPercent || limit == shortRunFirstCollection {
		t.Errorf("one-shot command with GOMEMLIMIT: GC percent %d, memory limit %d; want %d and the user's limit", got, limit, shortRunGCPercent)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "")
	if got := run(map[string]string{cmdutil.AnnotationLongRunning: "true"}); got != 100 {
		t.Errorf("long-running command: GC percent %d, want Go's default", got)
	}
	// The runtime read GOGC=50 at start; initgc then left the collector on.
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	f := cmdutil.NewFactory(iostreams.System())
	cmd := NewCmdRoot(f)
	cmd.AddCommand(&cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }})
	cmd.SetArgs([]string{"probe", "--config", filepath.Join(t.TempDir(), "none.yaml")})
	_ = cmd.Execute()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("user's GOGC=50 replaced by %d", got)
	}
}

// TestInterruptStopsLongWork cancels the context of a validate that is busy
// reading one document of 400,000 keys (seconds of work in a parser that
// cannot watch the context), as Ctrl-C or SIGTERM do through main. meshctl
// must give control back with exit code 130 instead of finishing the work
// and exiting 0. The bound is generous (machine noise must not decide the
// result); the exit code is what tells an ignored interrupt apart.
func TestInterruptStopsLongWork(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n")
	for i := 0; i < 400000; i++ {
		fmt.Fprintf(&b, "  key%d: value%d\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, _, _, errOut := iostreams.Test()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Execute(ctx, streams, []string{"validate", "-f", file}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != cmdutil.ExitCancelled {
			t.Fatalf("exit code %d after the interrupt, want %d", code, cmdutil.ExitCancelled)
		}
		if !strings.Contains(errOut.String(), "Interrupted.") {
			t.Errorf("standard error does not say it was interrupted: %q", errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("meshctl did not stop within a minute of the interrupt")
	}
}
