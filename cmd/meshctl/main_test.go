package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every meshctl process, `meshctl version` included, runs the package
// initialisation of everything linked into the binary before main. These
// budgets keep that work off the start-up of every command: work a command
// needs belongs in the command (lazily built clients, schemes, renderers),
// not in a package-level variable or init of a commonly imported package.
const (
	// ownInitBudget is what one meshctl package may allocate at init: a
	// few small lookup tables (the heaviest, pkg/install, 5 KB). Regular
	// expressions and indexes are built on first use (sync.OnceValue):
	// one compiled expression takes 3-8 KB.
	ownInitBudget = 16 << 10
	// heavyInitBytes marks a dependency whose init is heavy.
	heavyInitBytes = 256 << 10
	// totalInitBudget bounds what initialisation allocates in all (4.18 MB
	// in this test binary and in meshctl): Kubernetes' and Istio's type
	// registrations take ~2.5 MB, and the Envoy API that the agent and
	// server link (go-control-plane) ~1.2 MB more. The generated clientsets
	// of Istio and the Gateway API are not linked (config.CustomResources
	// builds its scheme on first use), which took 0.3 MB and ~15% of
	// `meshctl version`'s CPU time. Go's first collection
	// would run at 4 MB; internal/initgc keeps the collector off until a
	// command runs, and every byte here is still paid in page faults by
	// every command (page faults are a third of `meshctl version`'s CPU
	// time). The budget stops the next heavy dependency.
	totalInitBudget = 4256 << 10
)

// knownHeavyInits are the dependencies whose init is heavy and cannot be
// avoided, with the reason each is linked. Adding one needs a reason just as
// good: it costs every command, `meshctl version` included.
var knownHeavyInits = map[string]string{
	// Registers every built-in Kubernetes type (~660 KB); imported by
	// client-go's discovery client, which every cluster command needs
	// through the REST mapper.
	"k8s.io/client-go/kubernetes/scheme": "client-go discovery",
}

type initCost struct {
	pkg   string
	bytes int
}

// TestStartupInitStaysLight runs this test binary, which links the same
// packages as meshctl, with GODEBUG=inittrace=1 and checks what each
// package's initialisation allocates: a deterministic figure, unlike time.
func TestStartupInitStaysLight(t *testing.T) {
	if os.Getenv("MESHCTL_INITTRACE_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartupInitStaysLight$", "-test.count=1")
	// gctrace: internal/initgc keeps the collector off until a command
	// runs, so the child, which runs none, must report no collection. The
	// user's GOGC would turn that off.
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOGC=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "GODEBUG=inittrace=1,gctrace=1", "MESHCTL_INITTRACE_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("running %s: %v\n%s", os.Args[0], err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(line, "gc ") {
			t.Errorf("garbage collection during package initialisation (internal/initgc should keep it off): %s", line)
		}
	}
	costs, err := parseInitTrace(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(costs) < 100 {
		t.Fatalf("inittrace reported only %d packages:\n%s", len(costs), stderr.String())
	}
	total := 0
	for _, c := range costs {
		total += c.bytes
		switch {
		case strings.HasPrefix(c.pkg, "github.com/meshctl/meshctl/"):
			if c.bytes > ownInitBudget {
				t.Errorf("%s allocates %d bytes at init (budget %d): build it when a command needs it", c.pkg, c.bytes, ownInitBudget)
			}
		case c.bytes > heavyInitBytes && knownHeavyInits[c.pkg] == "":
			t.Errorf("dependency %s allocates %d bytes at init, on the start-up of every meshctl command: "+
				"avoid importing it, or add it to knownHeavyInits with the reason it is needed", c.pkg, c.bytes)
		}
	}
	if total > totalInitBudget {
		t.Errorf("package initialisation allocates %d bytes in all (budget %d); the heaviest: %s", total, totalInitBudget, heaviest(costs, 8))
	}
	t.Logf("%d packages allocate %d bytes at init; the heaviest: %s", len(costs), total, heaviest(costs, 5))
}

// parseInitTrace reads lines such as
// "init k8s.io/api/core/v1 @71 ms, 0.16 ms clock, 99976 bytes, 553 allocs".
func parseInitTrace(s string) ([]initCost, error) {
	var out []initCost
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			return nil, fmt.Errorf("inittrace line %q: %w", sc.Text(), err)
		}
		out = append(out, initCost{pkg: f[1], bytes: n})
	}
	return out, sc.Err()
}

func heaviest(costs []initCost, n int) string {
	sorted := slices.Clone(costs)
	slices.SortFunc(sorted, func(a, b initCost) int { return b.bytes - a.bytes })
	var parts []string
	for i := 0; i < n && i < len(sorted); i++ {
		parts = append(parts, fmt.Sprintf("%s %d", sorted[i].pkg, sorted[i].bytes))
	}
	return strings.Join(parts, ", ")
}
