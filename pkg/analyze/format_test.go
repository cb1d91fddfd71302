package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func brokenRoute(t *testing.T) Result {
	t.Helper()
	store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/MSH0101/positive.yaml")...)
	return Analyze(store, errs, Options{})
}

func TestSeedFindingLine(t *testing.T) {
	res := brokenRoute(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, res.Findings, nil); err != nil {
		t.Fatal(err)
	}
	want := `Error [MSH0101] (VirtualService default/reviews positive.yaml:10) Referenced host not found: "reviews2"` + "\n" +
		"    fix: create a Service or ServiceEntry for reviews2, or correct the host\n"
	if buf.String() != want {
		t.Fatalf("text output:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestSuppression(t *testing.T) {
	store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/MSH0101/positive.yaml")...)
	for _, s := range []string{"MSH0101=VirtualService default/*", "MSH01*=VirtualService */reviews", "*=*"} {
		sup, err := ParseSuppression(s)
		if err != nil {
			t.Fatal(err)
		}
		if res := Analyze(store, errs, Options{Suppressions: []Suppression{sup}}); len(res.Findings) != 0 {
			t.Errorf("%s should suppress, got %v", s, res.Findings)
		}
	}
	sup, _ := ParseSuppression("MSH0101=VirtualService other/*")
	if res := Analyze(store, errs, Options{Suppressions: []Suppression{sup}}); len(res.Findings) != 1 {
		t.Errorf("a suppression of another namespace must not apply: %v", res.Findings)
	}
	if _, err := ParseSuppression("MSH0101"); err == nil {
		t.Error("a suppression without object should be rejected")
	}
	// The same, by annotation on the object.
	vs := store.Get(config.KindVirtualService, "default", "reviews")
	vs.Annotations = map[string]string{vocab.AnnotationAnalyzeSuppress: "MSH0999, MSH0101"}
	if res := Analyze(store, errs, Options{}); len(res.Findings) != 0 {
		t.Errorf("annotation should suppress: %v", res.Findings)
	}
}

func TestThresholdAndNamespace(t *testing.T) {
	store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/MSH0205/positive.yaml", "analyze/MSH0701/positive.yaml")...)
	all := Analyze(store, errs, Options{})
	if len(all.Findings) != 2 || all.Findings[0].Level != Warning || all.Findings[1].Level != Info {
		t.Fatalf("want a Warning then an Info, sorted worst first: %v", all.Findings)
	}
	if res := Analyze(store, errs, Options{OutputThreshold: Warning}); len(res.Findings) != 1 {
		t.Errorf("output threshold Warning should drop the Info: %v", res.Findings)
	}
	if res := Analyze(store, errs, Options{Namespace: "shop"}); len(res.Findings) != 1 || res.Findings[0].Code != "MSH0701" {
		t.Errorf("-n shop should only report the shop namespace: %v", res.Findings)
	}
}

func TestSARIF(t *testing.T) {
	res := brokenRoute(t)
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, Report{Findings: res.Findings, ExitCode: 79}, "test"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct{ ExitCode int } `json:"invocations"`
			Results     []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 1 {
		t.Fatalf("unexpected log: %s", buf.String())
	}
	r := log.Runs[0].Results[0]
	loc := r.Locations[0].PhysicalLocation
	if r.RuleID != "MSH0101" || r.Level != "error" || loc.ArtifactLocation.URI != "positive.yaml" || loc.Region.StartLine != 10 {
		t.Errorf("result = %+v", r)
	}
	if log.Runs[0].Tool.Driver.Rules[r.RuleIndex].ID != "MSH0101" || log.Runs[0].Invocations[0].ExitCode != 79 {
		t.Errorf("ruleIndex or exit code wrong: %s", buf.String())
	}
}

func TestAnalyzerCatalog(t *testing.T) {
	all := All()
	if len(all) < 30 {
		t.Fatalf("%d analyzers, want at least 30", len(all))
	}
	seen := map[string]bool{}
	for _, a := range all {
		if seen[a.Code] || seen[a.Name] {
			t.Errorf("duplicate code or name %s %s", a.Code, a.Name)
		}
		seen[a.Code], seen[a.Name] = true, true
		if !strings.HasPrefix(a.Code, "MSH") || len(a.Code) != 7 || a.Doc == "" || !strings.HasSuffix(a.Doc, ".") {
			t.Errorf("analyzer %s needs a MSHnnnn code and a one-sentence doc", a.Code)
		}
	}
	if _, err := Select([]string{"MSH01*"}); err != nil {
		t.Error(err)
	}
	if _, err := Select([]string{"NOPE"}); err == nil {
		t.Error("selecting nothing should be an error")
	}
}

// BenchmarkAnalyzeFiles parses and analyzes generated resources (five per
// service: Service, Deployment, DestinationRule, VirtualService,
// AuthorizationPolicy) from one multi-document stream, at 2k and 10k
// resources to show that the cost is linear.
func BenchmarkAnalyzeFiles(b *testing.B) {
	for _, n := range []int{400, 2000} {
		b.Run(fmt.Sprintf("resources=%d", 5*n), func(b *testing.B) { benchmarkAnalyze(b, n) })
	}
}

func benchmarkAnalyze(b *testing.B, n int) {
	data := generatedServices(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, errs := config.Parse("gen.yaml", data)
		if len(rs) != 5*n || len(errs) != 0 {
			b.Fatalf("parsed %d resources, %d errors", len(rs), len(errs))
		}
		res := Analyze(config.NewStoreFrom(rs), errs, Options{})
		if len(res.Findings) != 0 {
			b.Fatalf("generated config should be clean: %v", res.Findings[:1])
		}
	}
}

// TestAnalyzeWorkIsLinear checks, without timing anything, that parsing,
// analyzing and printing do work proportional to the input: from 200 to
// 2,000 services (1,000 to 10,000 resources, one finding per service) the
// allocations grow at most about tenfold. A check that compares every
// object with every other allocates per pair, and would grow a hundredfold.
func TestAnalyzeWorkIsLinear(t *testing.T) {
	allocs := func(n int) float64 {
		data := generatedServices(n)
		// Every route also names a subset nothing defines: one finding per
		// service, so that reporting is measured too.
		data = bytes.ReplaceAll(data, []byte("}, weight: 10}"), []byte(", subset: v9}, weight: 10}"))
		return testing.AllocsPerRun(1, func() {
			rs, errs := config.Parse("gen.yaml", data)
			res := Analyze(config.NewStoreFrom(rs), errs, Options{})
			if len(rs) != 5*n || len(res.Findings) < n {
				t.Fatalf("%d services: %d resources, %d findings", n, len(rs), len(res.Findings))
			}
			var out bytes.Buffer
			if err := WriteText(&out, res.Findings, func(_ Level, s string) string { return s }); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, big := allocs(200), allocs(2000)
	t.Logf("%.0f allocations for 200 services, %.0f for 2,000 (%.1fx)", small, big, big/small)
	if big > 11*small {
		t.Errorf("analyze allocates %.0f times for 200 services and %.0f for 2,000: more than linear in the input", small, big)
	}
}

// generatedServices is n services of five resources each (Service,
// Deployment, DestinationRule, VirtualService, AuthorizationPolicy) in 50
// namespaces, clean for every analyzer.
func generatedServices(n int) []byte {
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, `apiVersion: v1
kind: Service
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  selector: {app: svc%[1]d}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  selector: {matchLabels: {app: svc%[1]d}}
  template:
    metadata: {labels: {app: svc%[1]d, version: v1}}
    spec: {containers: [{name: app, image: app}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  host: svc%[1]d
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  hosts: [svc%[1]d]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: svc%[1]d, subset: v1}}]
  - route:
    - {destination: {host: svc%[1]d, subset: v1}, weight: 90}
    - {destination: {host: svc%[1]d}, weight: 10}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  selector: {matchLabels: {app: svc%[1]d}}
  rules: [{from: [{source: {principals: [cluster.local/ns/ns%[2]d/sa/default]}}]}]
---
`, i, i%50)
	}
	return buf.Bytes()
}

// Kinds are told apart by their group: the Gateway API's Gateway is not an
// Istio Gateway, and a suppression can name either one by its qualified kind.
func TestSuppressionQualifiedKind(t *testing.T) {
	store, errs := load(t, "upstream/istio/bookinfo/bookinfo.yaml", "analyze/MSH0205/positive.yaml", "upstream/istio/bookinfo/gateway-api/bookinfo-gateway.yaml")
	res := Analyze(store, errs, Options{Analyzers: []*Analyzer{ByCode("MSH0205")}})
	if len(res.Findings) != 1 || res.Findings[0].Object.Kind != config.KindGateway {
		t.Fatalf("want one MSH0205 about the Istio Gateway only, got %v", res.Findings)
	}
	for s, want := range map[string]int{
		"MSH0205=Gateway.networking.istio.io default/*":       0,
		"MSH0205=Gateway default/*":                           0,
		"MSH0205=Gateway.gateway.networking.k8s.io default/*": 1,
	} {
		sup, err := ParseSuppression(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(Analyze(store, errs, Options{Analyzers: []*Analyzer{ByCode("MSH0205")}, Suppressions: []Suppression{sup}}).Findings); got != want {
			t.Errorf("%s: %d findings left, want %d", s, got, want)
		}
	}
	if k, ok := config.ResolveKind("gateways.networking.istio.io"); !ok || k != config.KindGateway {
		t.Errorf("ResolveKind(gateways.networking.istio.io) = %q, %v", k, ok)
	}
}
