package analyze

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
)

// The Gateway API's published examples and Istio's Gateway API samples are
// correct: analyzed as they are meant to be applied, they give no Warning
// or Error. Each example file alone, without a cluster (the examples of one
// directory are often alternatives defining the same object); the sets of
// files that make one whole configuration together; and Istio's bookinfo
// routes with the bookinfo Services both without and with a cluster.
func TestGatewayAPIExamplesAnalyzeClean(t *testing.T) {
	singles, _ := filepath.Glob(filepath.Join(testdata, "upstream/gateway-api/v1.6.3/*.yaml"))
	istio, _ := filepath.Glob(filepath.Join(testdata, "upstream/istio/gateway-api/*.yaml"))
	if len(singles) < 70 || len(istio) < 12 {
		t.Fatalf("examples missing: %d Gateway API, %d Istio", len(singles), len(istio))
	}
	type set struct {
		files   []string
		cluster bool
	}
	var sets []set
	for _, f := range append(singles, istio...) {
		rel, _ := filepath.Rel(testdata, f)
		sets = append(sets, set{files: []string{rel}})
	}
	gw := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, "upstream/gateway-api/v1.6.3/"+n+".yaml")
		}
		return out
	}
	sets = append(sets,
		set{files: gw("cross-namespace-routing_0-namespaces", "cross-namespace-routing_gateway", "cross-namespace-routing_site-route", "cross-namespace-routing_store-route")},
		set{files: gw("http-routing_gateway", "http-routing_foo-httproute", "http-routing_bar-httproute")},
		set{files: gw("simple-http-https_gateway", "simple-http-https_foo-route", "simple-http-https_bar-route", "simple-http-https_tls-redirect-route")},
		set{files: gw("grpc-routing_gateway", "grpc-routing_foo-grpcroute", "grpc-routing_bar-grpcroute")},
		// An HTTPRoute and a GRPCRoute on one listener, with no hostname in
		// common (MSH0908).
		set{files: gw("http-routing_gateway", "http-routing_foo-httproute", "grpc-routing_bar-grpcroute")},
		set{files: []string{"upstream/istio/gateway-api/helloworld_gateway-api_helloworld-route.yaml", "upstream/istio/gateway-api/helloworld_gateway-api_helloworld-versions.yaml"}},
	)
	bookinfo := []string{"upstream/istio/bookinfo/bookinfo.yaml", "upstream/istio/gateway-api/bookinfo_platform_kube_bookinfo-versions.yaml", "upstream/istio/gateway-api/bookinfo_gateway-api_bookinfo-gateway.yaml"}
	routes, _ := filepath.Glob(filepath.Join(testdata, "upstream/istio/gateway-api/bookinfo_gateway-api_route-*.yaml"))
	for _, r := range routes {
		rel, _ := filepath.Rel(testdata, r)
		files := append(append([]string{}, bookinfo...), rel)
		// A cluster where Istio serves the Gateway API has istiod's class.
		inCluster := append(append([]string{}, files...), "analyze/cluster/gatewayclass-istio.yaml")
		sets = append(sets, set{files: files}, set{files: inCluster, cluster: true})
	}
	for _, s := range sets {
		t.Run(strings.Join(s.files, "+"), func(t *testing.T) {
			store, errs := load(t, s.files...)
			res := Analyze(store, errs, Options{Cluster: s.cluster})
			var bad []string
			for _, f := range res.Findings {
				if f.Level >= Warning {
					bad = append(bad, f.String())
				}
			}
			if len(bad) > 0 {
				t.Errorf("cluster=%v:\n%s", s.cluster, strings.Join(bad, "\n"))
			}
		})
	}
}

// Without a cluster, absence from the files is not absence from the world:
// a parent Gateway, a Service or a ReferenceGrant the files do not hold at
// all is not reported missing (or only at Info); once the files hold that
// kind (for the namespace), it is.
func TestGatewayAPIFileOnly(t *testing.T) {
	route := "analyze/MSH0904/positive.yaml"
	store, errs := load(t, route)
	res := Analyze(store, errs, Options{})
	got := strings.Join(lines(res.Findings, "MSH0904"), "\n")
	if !strings.Contains(got, "Error [MSH0904] (HTTPRoute default/to-store") || !strings.Contains(got, "Info [MSH0904] (Gateway.gateway.networking.k8s.io default/web") {
		t.Errorf("file-only MSH0904: a grant of namespace shop is in the files (Error), none of certs (Info); got:\n%s", got)
	}
	// A Gateway API route whose Gateway and Services the files do not hold.
	store, errs = load(t, "upstream/gateway-api/v1.6.3/http-route-attachment_httproute.yaml")
	if res := Analyze(store, errs, Options{}); len(res.Findings) != 0 {
		t.Errorf("file-only: %v", lines(res.Findings, ""))
	}
	res = Analyze(store, errs, Options{Cluster: true})
	if len(lines(res.Findings, "MSH0901")) != 1 || len(lines(res.Findings, "MSH0903")) != 1 {
		t.Errorf("with a cluster the missing Gateway and Services are reported; got:\n%s", strings.Join(lines(res.Findings, ""), "\n"))
	}
}

// parseYAML is load for documents written in the test.
func parseYAML(t *testing.T, docs string) (*config.Store, []*config.ParseError) {
	t.Helper()
	rs, errs := config.Parse("routes.yaml", []byte(docs))
	config.DefaultNamespace(rs, "default")
	return config.NewStoreFrom(rs), errs
}

// A Gateway of a GatewayClass that does not exist: with a cluster its
// GatewayClasses are all there is (Error); without one, implementations
// create their own classes, which files do not hold, so it is said at Info
// when the files hold GatewayClasses and not at all when they hold none.
func TestGatewayClassNotFound(t *testing.T) {
	gateway := "upstream/istio/gateway-api/bookinfo_gateway-api_bookinfo-gateway.yaml"
	cases := []struct {
		name    string
		files   []string
		cluster bool
		want    []string // MSH0907 findings, each as a prefix
	}{
		{"files without GatewayClasses", []string{gateway}, false, nil},
		{"files with other GatewayClasses", []string{gateway, "analyze/MSH0907/positive.yaml"}, false, []string{
			"Info [MSH0907] (Gateway.gateway.networking.k8s.io default/typo positive.yaml:27) GatewayClass itsio is not in the files; the Gateway API implementation installed may create it",
		}},
		{"cluster without GatewayClasses", []string{gateway}, true, []string{
			"Error [MSH0907] (Gateway.gateway.networking.k8s.io default/bookinfo-gateway bookinfo_gateway-api_bookinfo-gateway.yaml:7) GatewayClass istio not found (the cluster has no GatewayClass): no controller serves this Gateway",
		}},
		{"cluster with istio", []string{gateway, "analyze/cluster/gatewayclass-istio.yaml"}, true, nil},
		{"cluster with other classes", []string{gateway, "analyze/MSH0907/negative.yaml", "analyze/MSH0907/positive.yaml"}, true, []string{
			"Error [MSH0907] (Gateway.gateway.networking.k8s.io default/typo positive.yaml:27) GatewayClass itsio not found (the GatewayClasses are internal, istio)",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, errs := load(t, tc.files...)
			got := lines(Analyze(store, errs, Options{Cluster: tc.cluster}).Findings, "MSH0907")
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("got  %s\nwant %s…", got[i], tc.want[i])
				}
			}
		})
	}
}

// GRPCRoutes conflict per parent listener and per hostname, and the route
// first by namespace/name keeps the requests whatever the order of the
// files.
func TestGRPCRouteConflicts(t *testing.T) {
	gw := webGateway(`{name: grpc, port: 80, protocol: HTTP}`, `{name: other, port: 8080, protocol: HTTP}`)
	route := func(name, section, hostnames, method string) string {
		return `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ` + name + `}
spec:
  parentRefs: [{name: web, sectionName: ` + section + `}]
  hostnames: ` + hostnames + `
  rules:
  - matches: [{method: {service: shop.Cart, method: ` + method + `}}]
    backendRefs: [{name: reviews, port: 9080}]
`
	}
	for _, tc := range []struct {
		name, docs string
		want       []string
	}{
		{"shared hostname", gw + route("z", "grpc", "[a.example.com, b.example.com]", "Add") + route("a", "grpc", "[b.example.com]", "Add"), []string{
			"Warning [MSH0905] (GRPCRoute default/z routes.yaml:", "GRPCRoute default/a (routes.yaml:", "on Gateway.gateway.networking.k8s.io default/web for hostname b.example.com (method Exact /shop.Cart/Add)",
		}},
		{"other hostnames", gw + route("a", "grpc", "[a.example.com]", "Add") + route("b", "grpc", "[b.example.com]", "Add"), nil},
		{"other listener", gw + route("a", "grpc", "[a.example.com]", "Add") + route("b", "other", "[a.example.com]", "Add"), nil},
		{"other method", gw + route("a", "grpc", "[a.example.com]", "Add") + route("b", "grpc", "[a.example.com]", "Remove"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, errs := parseYAML(t, tc.docs)
			got := lines(Analyze(store, errs, Options{Cluster: true}).Findings, "MSH0905")
			if tc.want == nil {
				if len(got) > 0 {
					t.Fatalf("want no MSH0905, got:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one MSH0905, got:\n%s", strings.Join(got, "\n"))
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("finding lacks %q:\n%s", w, got[0])
				}
			}
		})
	}
}

// An HTTPRoute and a GRPCRoute on one listener with a hostname in common:
// the API accepts the first in its order (oldest, then namespace/name)
// whatever the order of the files, judges each listener a parentRef
// selects on its own, and a route it refuses takes nothing from a third.
func TestHTTPGRPCRouteConflicts(t *testing.T) {
	gw := webGateway(`{name: http, port: 80, protocol: HTTP}`, `{name: other, port: 8080, protocol: HTTP}`)
	route := func(kind, name, parent, hostnames string) string {
		return `---
apiVersion: gateway.networking.k8s.io/v1
kind: ` + kind + `
metadata: {name: ` + name + `}
spec:
  parentRefs: [` + parent + `]
  hostnames: ` + hostnames + `
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`
	}
	onHTTP := "{name: web, sectionName: http}"
	for _, tc := range []struct {
		name, docs string
		want       []string // MSH0908 findings, each as a prefix
	}{
		{"file order", gw + route("GRPCRoute", "b", onHTTP, "[a.example.com]") + route("HTTPRoute", "a", onHTTP, "[a.example.com]"), []string{
			"Error [MSH0908] (GRPCRoute default/b routes.yaml:15) HTTPRoute default/a (routes.yaml:24) also claims hostname a.example.com on listener http of Gateway default/web",
		}},
		{"every listener of the Gateway", gw + route("HTTPRoute", "a", "{name: web, sectionName: other}", "[a.example.com]") + route("GRPCRoute", "b", "{name: web}", "['*.example.com']"), []string{
			"Error [MSH0908] (GRPCRoute default/b routes.yaml:24) HTTPRoute default/a (routes.yaml:15) also claims hostname a.example.com on listener other of Gateway default/web",
		}},
		// b is refused for a; c shares a hostname with b only, so nothing
		// accepted competes with it.
		{"refused route claims nothing", gw + route("HTTPRoute", "a", onHTTP, "[a.example.com]") + route("GRPCRoute", "b", onHTTP, "[a.example.com, c.example.com]") + route("HTTPRoute", "c", onHTTP, "[c.example.com]"), []string{
			"Error [MSH0908] (GRPCRoute default/b routes.yaml:24) HTTPRoute default/a (routes.yaml:15) also claims hostname a.example.com",
		}},
		// The API's order does not tell these two apart, and the finding
		// says so.
		{"same namespace and name", gw + route("GRPCRoute", "same", onHTTP, "[a.example.com]") + route("HTTPRoute", "same", onHTTP, "[a.example.com]"), []string{
			"Error [MSH0908] (GRPCRoute default/same routes.yaml:15) HTTPRoute default/same (routes.yaml:24) also claims hostname a.example.com on listener http of Gateway default/web; the Gateway API accepts only one of an HTTPRoute and a GRPCRoute sharing a hostname on a listener, the older, then the first by namespace/name, which does not tell these two apart: one of them is not accepted",
		}},
		{"two HTTPRoutes", gw + route("HTTPRoute", "a", onHTTP, "[a.example.com]") + route("HTTPRoute", "b", onHTTP, "[a.example.com]"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, errs := parseYAML(t, tc.docs)
			// Files alone hold everything the conclusion needs.
			for _, cluster := range []bool{false, true} {
				got := lines(Analyze(store, errs, Options{Cluster: cluster}).Findings, "MSH0908")
				if len(got) != len(tc.want) {
					t.Fatalf("cluster=%v: got %d findings, want %d:\n%s", cluster, len(got), len(tc.want), strings.Join(got, "\n"))
				}
				for i := range got {
					if !strings.HasPrefix(got[i], tc.want[i]) {
						t.Errorf("got  %s\nwant %s…", got[i], tc.want[i])
					}
				}
			}
		})
	}
	// --suppress takes the code like any other.
	store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/MSH0908/positive.yaml")...)
	sup, err := ParseSuppression("MSH0908=HTTPRoute default/*")
	if err != nil {
		t.Fatal(err)
	}
	got := lines(Analyze(store, errs, Options{Cluster: true, Suppressions: []Suppression{sup}}).Findings, "MSH0908")
	if len(got) != 2 || !strings.Contains(got[0], "(GRPCRoute ") || !strings.Contains(got[1], "(GRPCRoute ") {
		t.Errorf("MSH0908=HTTPRoute default/* leaves the GRPCRoutes' findings only:\n%s", strings.Join(got, "\n"))
	}
}

// Two routes of one kind compete on each listener both are attached to,
// however their parentRefs select it (the whole Gateway, a sectionName or a
// port), for the hostnames they serve there (a route without hostnames
// takes the listener's; hostnames the listener does not match are
// ignored), and the API's order settles which one gets the requests: the
// older, then the first by namespace/name, a route of a file without a
// creationTimestamp counting as newer than one with.
func TestConflictingRoutesPerListener(t *testing.T) {
	gw := webGateway(`{name: http, port: 80, protocol: HTTP}`, `{name: other, port: 8080, protocol: HTTP}`, `{name: store, port: 8081, protocol: HTTP, hostname: store.example.com}`, `{name: wild, port: 8082, protocol: HTTP, hostname: "*.example.com"}`)
	// Each route is ten lines; the first's match is on line 19, the
	// second's on line 29.
	route := func(kind, meta, parent, hostnames string) string {
		match := "[{path: {value: /v1}}]"
		if kind == "GRPCRoute" {
			match = "[{method: {service: shop.Cart, method: Add}}]"
		}
		return `---
apiVersion: gateway.networking.k8s.io/v1
kind: ` + kind + `
metadata: {` + meta + `}
spec:
  parentRefs: [` + parent + `]
  hostnames: ` + hostnames + `
  rules:
  - matches: ` + match + `
    backendRefs: [{name: reviews, port: 9080}]
`
	}
	http := func(meta, parent, hostnames string) string { return route("HTTPRoute", meta, parent, hostnames) }
	grpc := func(meta, parent, hostnames string) string { return route("GRPCRoute", meta, parent, hostnames) }
	const (
		whole   = "{name: web}"
		onHTTP  = "{name: web, sectionName: http}"
		onOther = "{name: web, sectionName: other}"
		byName  = "the Gateway API gives them to the first by namespace/name when neither is older (here that one), so this rule gets none of them"
		byAge   = "the Gateway API gives them to the older (here that one), so this rule gets none of them"
	)
	for _, tc := range []struct {
		name, docs string
		want       []string // MSH0905 findings, each as a prefix
	}{
		{"whole Gateway, then one listener", gw + http("name: a", whole, "[a.example.com]") + http("name: b", onHTTP, "[a.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/b routes.yaml:29) HTTPRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (path PathPrefix /v1): on listener http " + byName,
		}},
		// b is on http, other and wild, and competes with a on http only:
		// one finding.
		{"one listener, then the whole Gateway", gw + http("name: a", onHTTP, "[a.example.com]") + http("name: b", whole, "[a.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/b routes.yaml:29) HTTPRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (path PathPrefix /v1): on listener http " + byName,
		}},
		{"listener by port", gw + http("name: a", "{name: web, port: 8080}", "[a.example.com]") + http("name: b", whole, "[a.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/b routes.yaml:29) HTTPRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (path PathPrefix /v1): on listener other " + byName,
		}},
		{"two listeners", gw + http("name: a", onHTTP, "[a.example.com]") + http("name: b", onOther, "[a.example.com]"), nil},
		// The older route wins although its name comes second.
		{"older", gw + http(`name: a, creationTimestamp: "2026-01-01T00:00:00Z"`, onHTTP, "[a.example.com]") + http(`name: z, creationTimestamp: "2025-01-01T00:00:00Z"`, whole, "[a.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/a routes.yaml:19) HTTPRoute default/z (routes.yaml:29) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (path PathPrefix /v1): on listener http " + byAge,
		}},
		// A route of a file is created when applied: newer than any that
		// has a creationTimestamp.
		{"file route newer", gw + http("name: a", onHTTP, "[a.example.com]") + http(`name: z, creationTimestamp: "2025-01-01T00:00:00Z"`, onHTTP, "[a.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/a routes.yaml:19) HTTPRoute default/z (routes.yaml:29) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (path PathPrefix /v1): on listener http " + byAge,
		}},
		{"older, Service parent", http(`name: a, creationTimestamp: "2026-01-01T00:00:00Z"`, `{kind: Service, group: "", name: reviews, port: 9080}`, "[]") + http(`name: z, creationTimestamp: "2025-01-01T00:00:00Z"`, `{kind: Service, group: "", name: reviews, port: 9080}`, "[]"), []string{
			"Warning [MSH0905] (HTTPRoute default/a routes.yaml:9) HTTPRoute default/z (routes.yaml:19) matches the same requests on Service default/reviews for hostname * (path PathPrefix /v1): " + byAge,
		}},
		// Without hostnames a route serves the listener's.
		{"listener's hostname", gw + http("name: a", "{name: web, sectionName: store}", "[]") + http("name: b", "{name: web, sectionName: store}", "[store.example.com]"), []string{
			"Warning [MSH0905] (HTTPRoute default/b routes.yaml:29) HTTPRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname store.example.com (path PathPrefix /v1): on listener store " + byName,
		}},
		// A wildcard on a listener of one name serves that name.
		{"wildcard narrowed by the listener", gw + http("name: a", "{name: web, sectionName: store}", "['*.example.com']") + http("name: b", "{name: web, sectionName: store}", "[]"), []string{
			"Warning [MSH0905] (HTTPRoute default/b routes.yaml:29) HTTPRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname store.example.com (path PathPrefix /v1): on listener store " + byName,
		}},
		// b.example.net is ignored by listener wild (*.example.com).
		{"hostname the listener ignores", gw + http("name: a", "{name: web, sectionName: wild}", "[a.example.com, b.example.net]") + http("name: b", "{name: web, sectionName: wild}", "[b.example.net, c.example.com]"), nil},
		{"GRPCRoutes, whole Gateway and one listener", gw + grpc("name: a", whole, "[a.example.com]") + grpc("name: b", onHTTP, "[a.example.com]"), []string{
			"Warning [MSH0905] (GRPCRoute default/b routes.yaml:29) GRPCRoute default/a (routes.yaml:19) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (method Exact /shop.Cart/Add): on listener http " + byName,
		}},
		{"GRPCRoutes, older", gw + grpc(`name: a, creationTimestamp: "2026-01-01T00:00:00Z"`, onHTTP, "[a.example.com]") + grpc(`name: z, creationTimestamp: "2025-01-01T00:00:00Z"`, whole, "[a.example.com]"), []string{
			"Warning [MSH0905] (GRPCRoute default/a routes.yaml:19) GRPCRoute default/z (routes.yaml:29) matches the same requests on Gateway.gateway.networking.k8s.io default/web for hostname a.example.com (method Exact /shop.Cart/Add): on listener http " + byAge,
		}},
		{"GRPCRoutes, two listeners", gw + grpc("name: a", onHTTP, "[a.example.com]") + grpc("name: b", onOther, "[a.example.com]"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, errs := parseYAML(t, tc.docs)
			if len(errs) > 0 {
				t.Fatalf("parse: %v", errs)
			}
			// The files hold the Gateway: the cluster changes nothing.
			for _, cluster := range []bool{false, true} {
				got := lines(Analyze(store, errs, Options{Cluster: cluster}).Findings, "MSH0905")
				if len(got) != len(tc.want) {
					t.Fatalf("cluster=%v: got %d findings, want %d:\n%s", cluster, len(got), len(tc.want), strings.Join(got, "\n"))
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("cluster=%v:\ngot  %s\nwant %s", cluster, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

// A parent Gateway the files do not hold has listeners nobody knows: two
// routes whose parentRefs are alike are on the same ones, so they compete
// there. With a cluster (or with Gateways in the files) it is known to be
// missing: the routes are attached to nothing (MSH0901) and compete for
// nothing.
func TestConflictingRoutesUnknownGateway(t *testing.T) {
	route := func(name, parent string) string {
		return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ` + name + `}
spec:
  parentRefs: [` + parent + `]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {value: /v1}}]
    backendRefs: [{name: reviews, port: 9080}]
`
	}
	store, errs := parseYAML(t, route("a", "{name: gw, sectionName: http}")+route("b", "{name: gw, sectionName: http}")+
		route("c", "{name: gw}")+route("d", "{name: gw, sectionName: other}"))
	want := "Warning [MSH0905] (HTTPRoute default/b routes.yaml:19) HTTPRoute default/a (routes.yaml:9) matches the same requests on Gateway.gateway.networking.k8s.io default/gw for hostname a.example.com (path PathPrefix /v1): the Gateway API gives them to the first by namespace/name when neither is older (here that one), so this rule gets none of them"
	if got := lines(Analyze(store, errs, Options{}).Findings, "MSH0905"); len(got) != 1 || got[0] != want {
		t.Errorf("files only: got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	if got := lines(Analyze(store, errs, Options{Cluster: true}).Findings, "MSH0905"); len(got) != 0 {
		t.Errorf("with a cluster the Gateway is missing and the routes are attached to nothing; got:\n%s", strings.Join(got, "\n"))
	}
}

// webGateway is the Gateway "web" the route conflict tests attach routes
// to, with the listeners given (flow mappings, one per line).
func webGateway(listeners ...string) string {
	s := "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\nspec:\n  gatewayClassName: istio\n  listeners:\n"
	for _, l := range listeners {
		s += "  - " + l + "\n"
	}
	return s
}
