// Package bench holds the benchmarks of whole-binary figures, such as the
// cost of starting meshctl. Capability benchmarks live beside their code;
// `make bench` runs them all.
package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

// BenchmarkStartup measures a whole process: exec of the binary, package
// initialisation of every dependency, building the command tree and running
// `meshctl version -o short`. It is the floor under every command users run.
func BenchmarkStartup(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "meshctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/meshctl/meshctl/cmd/meshctl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("building meshctl: %v", err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command(bin, "version", "-o", "short").CombinedOutput(); err != nil {
			b.Fatalf("meshctl version: %v: %s", err, out)
		}
	}
}

// BenchmarkCommandTree measures building the command tree and running the
// cheapest command in-process: what every invocation pays after init.
func BenchmarkCommandTree(b *testing.B) {
	for i := 0; i < b.N; i++ {
		streams, _, _, _ := iostreams.Test()
		if code := root.Execute(context.Background(), streams, []string{"version", "-o", "short"}); code != 0 {
			b.Fatalf("exit code %d", code)
		}
	}
}
