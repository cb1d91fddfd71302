//go:build e2e

package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// envKubectl names the kubectl the install benchmark compares with; by
// default the one `hack/cluster/build.sh kubectl` puts beside the cluster's
// kube-apiserver.
const envKubectl = "MESHCTL_KUBECTL"

func kubectlPath(b *testing.B) string {
	if p := os.Getenv(envKubectl); p != "" {
		return p
	}
	bins, err := testcluster.FindBinaries()
	if err != nil {
		b.Skipf("kubectl not found: %v; set %s", err, envKubectl)
	}
	p := filepath.Join(filepath.Dir(bins.APIServer), "kubectl")
	if _, err := os.Stat(p); err != nil {
		b.Skipf("kubectl not found at %s: run `bash hack/cluster/build.sh kubectl` or set %s", p, envKubectl)
	}
	return p
}

// runProcess runs one whole process (meshctl is this test binary acting as
// meshctl, see TestMain) and returns its CPU time.
func runProcess(b *testing.B, env []string, bin string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// BenchmarkInstallDemo is what a user waits for, whole processes against the
// local cluster: `meshctl install --profile demo` into a new mesh namespace
// (until every component is ready), the same command again when nothing
// changed, and `kubectl apply --server-side` of the same rendered objects
// (which waits for nothing) into the same namespace, in the same run.
// ns/op is wall time; cpu-ms/op the process's CPU time.
func BenchmarkInstallDemo(b *testing.B) {
	cl := testcluster.Get(b)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	meshctlEnv := []string{envRunMeshctl + "=1"}
	installArgs := func(ns string) []string {
		return []string{"install", "--profile", "demo", "-y", "--mesh-namespace", ns, "--timeout", "3m", "--kubeconfig", cl.Kubeconfig}
	}
	report := func(b *testing.B, cpu time.Duration) {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}

	b.Run("install", func(b *testing.B) {
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ns := meshNamespace(b, cl)
			b.StartTimer()
			cpu += runProcess(b, meshctlEnv, self, installArgs(ns)...)
		}
		report(b, cpu)
	})

	ns := meshNamespace(b, cl)
	runProcess(b, meshctlEnv, self, installArgs(ns)...)
	b.Run("noop-reinstall", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			cpu += runProcess(b, meshctlEnv, self, installArgs(ns)...)
		}
		report(b, cpu)
	})

	b.Run("kubectl-apply-server-side", func(b *testing.B) {
		kubectl := kubectlPath(b)
		mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: "demo", MeshNamespace: ns})
		if err != nil {
			b.Fatal(err)
		}
		m, err := install.Render(mi)
		if err != nil {
			b.Fatal(err)
		}
		y, err := m.YAML()
		if err != nil {
			b.Fatal(err)
		}
		file := filepath.Join(b.TempDir(), "demo.yaml")
		if err := os.WriteFile(file, y, 0o644); err != nil {
			b.Fatal(err)
		}
		// The install's own field manager: the same request meshctl sends,
		// so that both runs are no-op applies of the same objects. kubectl
		// keeps its discovery cache in a fresh directory, warmed by the
		// first run as a user's would be.
		args := []string{"apply", "--server-side", "--field-manager", install.FieldManager, "-f", file,
			"--kubeconfig", cl.Kubeconfig, "--cache-dir", filepath.Join(b.TempDir(), "kube-cache")}
		runProcess(b, nil, kubectl, args...)
		var cpu time.Duration
		for b.Loop() {
			cpu += runProcess(b, nil, kubectl, args...)
		}
		b.ReportMetric(float64(len(m.Objects())), "objects")
		report(b, cpu)
	})
}
