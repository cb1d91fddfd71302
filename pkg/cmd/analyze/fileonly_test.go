package analyze

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cmdutil"
)

const upstream = td + "upstream/istio/bookinfo/"

// findings runs analyze -o json without a cluster and returns the exit code
// and "Level CODE Kind ns/name" per finding.
func findings(t *testing.T, args ...string) (int, []string) {
	t.Helper()
	code, out, errOut := run(t, "", append([]string{"--use-kube=false", "-o", "json"}, args...)...)
	var rep struct {
		Findings []struct {
			Code, Level, Message string
			Object               struct{ Kind, Namespace, Name string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, not JSON: %v\n%s\n%s", code, err, out, errOut)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Level+" "+f.Code+" "+f.Object.Kind+" "+f.Object.Namespace+"/"+f.Object.Name+": "+f.Message)
	}
	return code, got
}

// Istio's getting-started set passes without a cluster, as with istioctl:
// the Gateway's istio=ingressgateway is the install's ingress gateway, and
// namespace default's injection is unknown, not off.
func TestGettingStartedWithoutCluster(t *testing.T) {
	for name, files := range map[string][]string{
		"90-10":       {"bookinfo.yaml", "bookinfo-gateway.yaml", "destination-rule-all.yaml", "virtual-service-reviews-90-10.yaml"},
		"all-v1-mtls": {"bookinfo.yaml", "bookinfo-gateway.yaml", "destination-rule-all-mtls.yaml", "virtual-service-all-v1.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			var args []string
			for _, f := range files {
				args = append(args, upstream+f)
			}
			code, got := findings(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, strings.Join(got, "\n"))
			}
			for _, g := range got {
				if !strings.HasPrefix(g, "Info ") {
					t.Errorf("only Info findings expected, got %s", g)
				}
				if strings.Contains(g, "MSH0201") || strings.Contains(g, "MSH0402") {
					t.Errorf("the install's gateway and unknown injection are not findings: %s", g)
				}
			}
		})
	}
	// Without the ingress gateway in the profile, the selector matches
	// nothing known: said, but at Info, since the cluster may have it.
	_, got := findings(t, "--profile", "minimal", upstream+"bookinfo.yaml", upstream+"bookinfo-gateway.yaml")
	if !contains(got, "Info MSH0201 Gateway default/bookinfo-gateway") {
		t.Errorf("--profile minimal: want an Info MSH0201, got:\n%s", strings.Join(got, "\n"))
	}
	if code, _, _ := run(t, "", "--use-kube=false", "--profile", "nope", upstream+"bookinfo.yaml"); code != cmdutil.ExitUsage {
		t.Errorf("unknown profile: exit %d, want %d", code, cmdutil.ExitUsage)
	}
}

func TestHostDefinedNowhereIsReported(t *testing.T) {
	code, got := findings(t, td+"analyze/file-only/host-nowhere.yaml")
	if code != cmdutil.ExitFindings || !contains(got, `Error MSH0101 VirtualService default/reviews: Referenced host not found: "reviewz"`) {
		t.Fatalf("exit %d:\n%s", code, strings.Join(got, "\n"))
	}
}

func TestBuiltinNamespacesExist(t *testing.T) {
	_, got := findings(t, td+"analyze/file-only/principals.yaml")
	var ns []string
	for _, g := range got {
		if strings.Contains(g, "MSH0404") {
			ns = append(ns, g)
		}
	}
	if len(ns) != 1 || !strings.Contains(ns[0], `namespace "nowhere"`) {
		t.Fatalf("want MSH0404 for namespace nowhere only, got:\n%s", strings.Join(got, "\n"))
	}
}

func TestGatewayOfTheClusterIsNotMissing(t *testing.T) {
	code, got := findings(t, td+"analyze/file-only/gateway-ref.yaml")
	if code != 0 || contains(got, "MSH0103") {
		t.Fatalf("no Gateway in the files: cannot tell it is missing; exit %d:\n%s", code, strings.Join(got, "\n"))
	}
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
