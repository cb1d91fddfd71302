// Package bench holds the benchmarks of what a user waits for: whole meshctl
// processes, from exec to exit. Capability benchmarks live beside their code;
// `make bench` runs them all.
package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// binDir holds the meshctl binary built once for every benchmark of the run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshctl-bench-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds the Go program pkg once per run of the benchmarks, as name.
// Without -trimpath, so that most packages compiled for the tests are
// reused; static (CGO_ENABLED=0) as `make build` builds meshctl, so the code
// and the figures are those of `make build`.
func binary(name, pkg string) func(testing.TB) string {
	build := sync.OnceValues(func() (string, error) {
		bin := filepath.Join(binDir, name)
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stderr = os.Stderr
		return bin, cmd.Run()
	})
	return func(tb testing.TB) string {
		tb.Helper()
		bin, err := build()
		if err != nil {
			tb.Fatalf("building %s: %v", name, err)
		}
		return bin
	}
}

var (
	// meshctl returns the path of the built binary.
	meshctl = binary("meshctl", "github.com/meshctl/meshctl/cmd/meshctl")
	// floorBinary returns the hello world BenchmarkStartup compares with.
	floorBinary = binary("floor", "./testdata/floor")
)

// repoFile is a path under the repository root (benchmarks run in bench/).
func repoFile(p string) string { return filepath.Join("..", p) }

// benchProcess runs `meshctl args...` once per iteration and reports, beside
// the wall time, the CPU time of the process (user+system), which the load
// of other work on the machine disturbs much less than wall time.
func benchProcess(b *testing.B, args ...string) {
	benchBinary(b, meshctl(b), args...)
}

func benchBinary(b *testing.B, bin string, args ...string) {
	benchExec(b, bin, false, args...)
}

// benchExec runs bin once per iteration. Beside the mean it reports the
// median and the least CPU time of the runs: on a machine whose other
// tenants come and go (these are virtual machines; steal time is common)
// the mean follows them, and the least is the closest figure to an idle
// machine's. With exitOK an exit code other than 0 is expected (analyze
// with findings) and only a failure to run fails the benchmark.
func benchExec(b *testing.B, bin string, exitOK bool, args ...string) {
	var cpus []time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !(exitOK && errors.As(err, &exit)) {
			b.Fatalf("%s %v: %v: %s", filepath.Base(bin), args, err, out)
		}
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	var sum time.Duration
	for _, c := range cpus {
		sum += c
	}
	slices.Sort(cpus)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sum)/float64(len(cpus)), "cpu-ms/op")
	b.ReportMetric(ms(cpus[len(cpus)/2]), "cpu-p50-ms")
	b.ReportMetric(ms(cpus[0]), "cpu-min-ms")
}

// peerEnv names the istioctl binary the benchmarks compare with (the peer:
// `make peer-istioctl` builds it at the default path).
const peerEnv = "MESHCTL_PEER_ISTIOCTL"

// istioctl returns the peer binary, or skips the peer sub-benchmark saying
// where it looked: the meshctl figures of the run stand without it.
func istioctl(b *testing.B) string {
	bin := os.Getenv(peerEnv)
	if bin == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			b.Skipf("istioctl not found: no home directory (%v); set %s", err, peerEnv)
		}
		bin = filepath.Join(home, ".cache", "meshctl", "peer", "istioctl")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		b.Skipf("istioctl not found at %s: set %s or run `make peer-istioctl` to compare with it", bin, peerEnv)
	}
	return bin
}

// benchPair runs the same user action with meshctl and, as a sibling
// sub-benchmark of the same run, with istioctl.
func benchPair(b *testing.B, meshctlArgs, istioctlArgs []string) {
	b.Run("meshctl", func(b *testing.B) { benchProcess(b, meshctlArgs...) })
	b.Run("istioctl", func(b *testing.B) { benchBinary(b, istioctl(b), istioctlArgs...) })
}

// BenchmarkStartup is the floor under every command: exec, package
// initialisation of every dependency, building the command tree and the
// cheapest command (`version`, and `--help`, which prints the tree). Beside
// them, "floor" is the least any Go program costs on this machine at this
// moment (a static hello world): how far a figure is from it is what
// meshctl's code and dependencies add.
func BenchmarkStartup(b *testing.B) {
	b.Run("floor", func(b *testing.B) { benchBinary(b, floorBinary(b)) })
	b.Run("version", func(b *testing.B) {
		benchPair(b, []string{"version", "-o", "short"}, []string{"version", "--remote=false", "--short"})
	})
	b.Run("help", func(b *testing.B) { benchProcess(b, "--help") })
}

// BenchmarkManifestGenerate is `meshctl manifest generate --profile P >
// file`: start-up, the first render of the process and writing the YAML;
// beside it istioctl's `manifest generate --set profile=P` of the same name
// (its profiles install more: Istio's CRDs, istiod's full RBAC and config).
func BenchmarkManifestGenerate(b *testing.B) {
	for _, p := range profiles.Names() {
		b.Run(p, func(b *testing.B) {
			benchPair(b, []string{"manifest", "generate", "--profile", p}, []string{"manifest", "generate", "--set", "profile=" + p})
		})
	}
}

// BenchmarkKubeInjectBookinfo injects the sidecar into Istio's bookinfo
// sample offline, from the default profile.
func BenchmarkKubeInjectBookinfo(b *testing.B) {
	benchProcess(b, "kube-inject", "-f", repoFile("testdata/bookinfo/bookinfo.yaml"), "--profile", "default")
}

// BenchmarkAnalyzeBookinfo analyzes bookinfo and its routing from files,
// without a cluster (mesh.yaml stands in for the installed ingress gateway).
func BenchmarkAnalyzeBookinfo(b *testing.B) {
	args := []string{"analyze", "--use-kube=false"}
	peer := []string{"analyze", "--use-kube=false"}
	for _, f := range []string{"bookinfo.yaml", "mesh.yaml", "gateway.yaml", "destination-rules.yaml", "routes/all-v1.yaml"} {
		args = append(args, "-f", repoFile(filepath.Join("testdata/bookinfo", f)))
		peer = append(peer, repoFile(filepath.Join("testdata/bookinfo", f)))
	}
	benchPair(b, args, peer)
}

// BenchmarkCommandTree measures building the command tree and running the
// cheapest command in-process: what every invocation pays after init.
func BenchmarkCommandTree(b *testing.B) {
	for b.Loop() {
		streams, _, _, _ := iostreams.Test()
		if code := root.Execute(context.Background(), streams, []string{"version", "-o", "short"}); code != 0 {
			b.Fatalf("exit code %d", code)
		}
	}
}
