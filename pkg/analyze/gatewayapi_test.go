package analyze

import (
	"path/filepath"
	"strings"
	"testing"
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
		set{files: []string{"upstream/istio/gateway-api/helloworld_gateway-api_helloworld-route.yaml", "upstream/istio/gateway-api/helloworld_gateway-api_helloworld-versions.yaml"}},
	)
	bookinfo := []string{"upstream/istio/bookinfo/bookinfo.yaml", "upstream/istio/gateway-api/bookinfo_platform_kube_bookinfo-versions.yaml", "upstream/istio/gateway-api/bookinfo_gateway-api_bookinfo-gateway.yaml"}
	routes, _ := filepath.Glob(filepath.Join(testdata, "upstream/istio/gateway-api/bookinfo_gateway-api_route-*.yaml"))
	for _, r := range routes {
		rel, _ := filepath.Rel(testdata, r)
		files := append(append([]string{}, bookinfo...), rel)
		sets = append(sets, set{files: files}, set{files: files, cluster: true})
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
