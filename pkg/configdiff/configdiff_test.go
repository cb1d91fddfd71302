package configdiff

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
)

func store(t testing.TB, name, yaml string) *config.Store {
	t.Helper()
	rs, errs := config.Parse(name, []byte(yaml))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs[0])
	}
	config.DefaultNamespace(rs, "default")
	return config.NewStoreFrom(rs)
}

// lines renders a report as "title|op text" lines for compact assertions.
func lines(r *Report) []string {
	var out []string
	for _, s := range r.Sections {
		for _, c := range s.Changes {
			out = append(out, s.Title()+"|"+c.Op.Symbol()+" "+c.Text)
		}
	}
	return out
}

func check(t *testing.T, old, cur string, want ...string) *Report {
	t.Helper()
	r := Diff(store(t, "old.yaml", old), store(t, "new.yaml", cur))
	got := lines(r)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Differences != (len(want) > 0) {
		t.Errorf("Differences = %v with %d changes", r.Differences, len(want))
	}
	return r
}

const vsHead = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [%s]
`

func TestShortAndLongHostAreOneHost(t *testing.T) {
	check(t,
		fmt.Sprintf(vsHead, "reviews")+"  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n",
		fmt.Sprintf(vsHead, "reviews.default.svc.cluster.local")+"  http:\n  - route:\n    - destination: {host: reviews.default.svc.cluster.local, subset: v1, port: {number: 0}}\n      weight: 100\n")
}

func TestRouteOrderMatters(t *testing.T) {
	jason := "  - match:\n    - headers: {end-user: {exact: jason}}\n    route:\n    - destination: {host: reviews, subset: v2}\n"
	all := "  - route:\n    - destination: {host: reviews, subset: v1}\n"
	check(t,
		fmt.Sprintf(vsHead, "reviews")+"  http:\n"+jason+all,
		fmt.Sprintf(vsHead, "reviews")+"  http:\n"+all+jason,
		"reviews|~ http route order: [end-user=jason, reviews] → [reviews, end-user=jason]")
}

func TestMatchesAndOtherRouteFields(t *testing.T) {
	old := fmt.Sprintf(vsHead, "reviews") + `  http:
  - match:
    - uri: {prefix: /api}
      method: {exact: GET}
    - queryParams: {debug: {exact: "1"}}
    route:
    - destination: {host: reviews, subset: v1}
    timeout: 5s
  - route:
    - destination: {host: ratings, subset: v1}
`
	cur := fmt.Sprintf(vsHead, "reviews") + `  http:
  - match:
    - uri: {prefix: /api}
      method: {exact: GET}
    - queryParams: {debug: {exact: "1"}}
    route:
    - destination: {host: reviews, subset: v1}
    timeout: 3s
    fault:
      abort: {httpStatus: 500, percentage: {value: 10}}
  - route:
    - destination: {host: ratings, subset: v2}
`
	check(t, old, cur,
		"reviews|+ uri^=/api method=GET or ?debug=1: fault.abort.httpStatus: 500",
		"reviews|+ uri^=/api method=GET or ?debug=1: fault.abort.percentage.value: 10",
		"reviews|~ uri^=/api method=GET or ?debug=1: timeout: 5s → 3s",
		"reviews|~ reviews: ratings:v1 100% → 0%, ratings:v2 0% → 100%")
}

func TestTCPAndRemovedHost(t *testing.T) {
	old := fmt.Sprintf(vsHead, "mongo, legacy") + `  tcp:
  - match:
    - port: 27017
    route:
    - destination: {host: mongo, subset: v1}
      weight: 80
    - destination: {host: mongo, subset: v2}
      weight: 20
`
	cur := fmt.Sprintf(vsHead, "mongo") + `  tcp:
  - match:
    - port: 27017
    route:
    - destination: {host: mongo, subset: v1}
      weight: 50
    - destination: {host: mongo, subset: v2}
      weight: 50
`
	r := check(t, old, cur,
		"legacy|- tcp port=27017 → mongo:v1 80%, mongo:v2 20%",
		"mongo|~ tcp port=27017: v1 80% → 50%, v2 20% → 50%")
	if r.Sections[0].Status != Removed || r.Sections[1].Status != "" {
		t.Errorf("statuses %q %q", r.Sections[0].Status, r.Sections[1].Status)
	}
	if at := r.Sections[1].Changes[0].At; at != "new.yaml:10" {
		t.Errorf("weights change at %q, want new.yaml:10 (its route)", at)
	}
}

func TestSubsetsAndPortLevelPolicy(t *testing.T) {
	dr := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: %s}
  subsets:
  - name: v1
    labels: {version: %s}
`
	check(t, fmt.Sprintf(dr, "RANDOM", "v1"), fmt.Sprintf(dr, "LEAST_REQUEST", "v1-fixed"),
		"reviews|~ subset v1: labels: version=v1 → version=v1-fixed",
		"reviews|~ trafficPolicy.portLevelSettings[port=9080].loadBalancer.simple: RANDOM → LEAST_REQUEST")
}

func TestOtherKindsFieldByField(t *testing.T) {
	se := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 443, name: https, protocol: %s}
`
	pa := `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls: {mode: STRICT}
`
	r := check(t, fmt.Sprintf(se, "TLS")+pa, fmt.Sprintf(se, "HTTPS"),
		"ServiceEntry default/api|~ ports[https].protocol: TLS → HTTPS",
		"PeerAuthentication default/default|- mtls.mode: STRICT")
	if r.Sections[1].Status != Removed {
		t.Errorf("PeerAuthentication status %q, want removed", r.Sections[1].Status)
	}
}

func TestIdenticalConfigIsNoDifference(t *testing.T) {
	y := fmt.Sprintf(vsHead, "reviews") + "  http:\n  - route:\n    - destination: {host: reviews}\n"
	r := check(t, y, y)
	if r.Sections == nil {
		t.Error("Sections is nil; JSON would print null")
	}
}

func FuzzDiff(f *testing.F) {
	f.Add(fmt.Sprintf(vsHead, "reviews")+"  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n",
		fmt.Sprintf(vsHead, "reviews")+"  http:\n  - match:\n    - headers: {a: {regex: x}}\n    route:\n    - destination: {host: r}\n      weight: 3\n")
	// Gateway API routes: Istio's bookinfo samples (mesh and gateway
	// parents), one without parents, weights of zero, regex matches, and a
	// Gateway API Gateway beside an Istio one of the same name.
	for _, p := range []string{"istio/bookinfo/gateway-api/route-reviews-90-10.yaml", "istio/bookinfo/gateway-api/bookinfo-gateway.yaml", "gateway-api/traffic-split-2.yaml"} {
		b, err := os.ReadFile("../../testdata/upstream/" + p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), strings.ReplaceAll(string(b), "9", "5"))
	}
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{kind: Service, name: reviews, port: 9080}, {name: gw, namespace: other}]
  hostnames: ["*.example.com"]
  rules:
  - name: canary
    matches:
    - path: {type: RegularExpression, value: "/api/.*"}
      headers: [{type: RegularExpression, name: x-user, value: "a.*"}]
      queryParams: [{name: debug, value: "1"}]
      method: GET
    backendRefs:
    - {name: reviews-v1, port: 9080, weight: 0}
    - {name: reviews-v1, port: 9090, weight: 0}
    - {kind: ServiceImport, group: multicluster.x-k8s.io, name: remote, namespace: b}
    timeouts: {request: 5s}
  - {}
`, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {selector: {istio: ingressgateway}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec: {}
`)
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {type: RegularExpression, service: "com\\.example\\..*"}, headers: [{name: a, value: b, type: RegularExpression}]}, {}]
    backendRefs: [{name: store, port: 50051, weight: 3}, {name: store, port: 50052}]
`, `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  rules: [{matches: [{method: {method: Get}}], backendRefs: [{name: store, port: 50051}]}]
`)
	f.Fuzz(func(t *testing.T, a, b string) {
		ra, _ := config.Parse("a", []byte(a))
		rb, _ := config.Parse("b", []byte(b))
		r := Diff(config.NewStoreFrom(ra), config.NewStoreFrom(rb))
		if r.Differences != (len(r.Sections) > 0) {
			t.Fatal("Differences disagrees with Sections")
		}
		if same := Diff(config.NewStoreFrom(ra), config.NewStoreFrom(ra)); same.Differences {
			t.Fatalf("a config differs from itself: %v", lines(same))
		}
	})
}

// BenchmarkDiff compares two configurations of 2,000 hosts (a VirtualService
// with a header route and a weighted default route, and a DestinationRule
// each) where every host's weights moved.
func BenchmarkDiff(b *testing.B) {
	gen := func(w int) *config.Store {
		var sb strings.Builder
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(&sb, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  hosts: [svc%[1]d]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: svc%[1]d, subset: v2}}]
  - route:
    - {destination: {host: svc%[1]d, subset: v1}, weight: %[3]d}
    - {destination: {host: svc%[1]d, subset: v3}, weight: %[4]d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc%[1]d, namespace: ns%[2]d}
spec:
  host: svc%[1]d
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
---
`, i, i%20, w, 100-w)
		}
		return store(b, "gen.yaml", sb.String())
	}
	old, cur := gen(90), gen(50)
	b.ResetTimer()
	for b.Loop() {
		if r := Diff(old, cur); len(r.Sections) != 2000 {
			b.Fatalf("%d sections", len(r.Sections))
		}
	}
}
