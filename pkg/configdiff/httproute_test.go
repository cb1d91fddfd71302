package configdiff

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Istio's bookinfo Gateway API sample: reviews split 90/10 between the
// reviews-v1 and reviews-v2 Services, routed as mesh traffic (the parent is
// the reviews Service).
func reviewsSample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/upstream/istio/bookinfo/gateway-api/route-reviews-90-10.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHTTPRouteWeights(t *testing.T) {
	old := reviewsSample(t)
	r := check(t, old, strings.Replace(strings.Replace(old, "weight: 90", "weight: 50", 1), "weight: 10", "weight: 50", 1),
		"reviews|~ reviews: reviews-v1 90% → 50%, reviews-v2 10% → 50%")
	s := r.Sections[0]
	if s.FQDN != "reviews.default.svc.cluster.local" || len(s.Objects) != 1 || s.Objects[0].Kind != "HTTPRoute" {
		t.Errorf("section %+v", s)
	}
	if at := s.Changes[0].At; at != "new.yaml:11" {
		t.Errorf("weights change at %q, want new.yaml:11 (the rule's backendRefs)", at)
	}
	// Weights are relative: 1 and 1 are 50/50, and no weight means 1.
	check(t, old, strings.Replace(strings.Replace(old, "      weight: 90\n", "      weight: 1\n", 1), "      weight: 10\n", "", 1),
		"reviews|~ reviews: reviews-v1 90% → 50%, reviews-v2 10% → 50%")
}

func TestHTTPRouteMatchAddedAndBackendRemoved(t *testing.T) {
	old := reviewsSample(t)
	jason := strings.Replace(old, "  rules:\n", `  rules:
  - matches:
    - headers:
      - name: End-User
        value: jason
    backendRefs:
    - name: reviews-v2
      port: 9080
`, 1)
	check(t, old, jason, "reviews|+ end-user=jason → reviews-v2 [http route 1 of 2]")
	onlyV1 := strings.Replace(old, "    - name: reviews-v2\n      port: 9080\n      weight: 10\n", "", 1)
	check(t, old, onlyV1, "reviews|~ reviews: reviews-v1 90% → 100%, reviews-v2 10% → 0%")
}

// A VirtualService and the HTTPRoute that replaces it route one host: the
// move shows as the same host's routes changing.
func TestVirtualServiceToHTTPRoute(t *testing.T) {
	vs := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews-v1, port: {number: 9080}}
      weight: 90
    - destination: {host: reviews-v2, port: {number: 9080}}
      weight: 10
`
	r := check(t, vs, reviewsSample(t))
	if len(r.Sections) != 0 {
		t.Errorf("the same split written as an HTTPRoute is no difference: %v", lines(r))
	}
}

// Routes attached to a Gateway route its hostnames on it; the Gateway's
// listeners are compared field by field.
func TestHTTPRouteOnGateway(t *testing.T) {
	b, err := os.ReadFile("../../testdata/upstream/istio/bookinfo/gateway-api/bookinfo-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := string(b)
	cur := strings.Replace(strings.Replace(old, "    port: 80\n", "    port: 8080\n", 1),
		"  - backendRefs:", "  - backendRefs:", 1)
	cur = strings.Replace(cur, "  rules:\n", "  hostnames: [bookinfo.example.com]\n  rules:\n", 1)
	check(t, old, cur,
		"*|- gateways: [default/bookinfo-gateway]",
		"*|- uri=/productpage or uri^=/static or uri=/login or uri=/logout or uri^=/api/v1/products → productpage",
		"bookinfo.example.com|+ gateways: [default/bookinfo-gateway]",
		"bookinfo.example.com|+ uri=/productpage or uri^=/static or uri=/login or uri=/logout or uri^=/api/v1/products → productpage",
		"Gateway.gateway.networking.k8s.io default/bookinfo-gateway|~ listeners[http].port: 80 → 8080")
}

// GRPCRoutes read the same way; a method match reads as a path.
func TestGRPCRoute(t *testing.T) {
	route := `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: store
spec:
  parentRefs:
  - name: grpc-gateway
  hostnames: [store.example.com]
  rules:
%s  - backendRefs:
    - name: store-v1
      port: 50051
      weight: %d
    - name: store-v2
      port: 50051
      weight: %d
`
	deletes := `  - matches:
    - method:
        service: com.example.Store
        method: Delete
      headers:
      - name: X-Admin
        value: "true"
    backendRefs:
    - name: store-admin
      port: 50051
`
	check(t, fmt.Sprintf(route, "", 90, 10), fmt.Sprintf(route, deletes, 50, 50),
		"store.example.com|+ grpc=/com.example.Store/Delete x-admin=true → store-admin [http route 1 of 2]",
		"store.example.com|~ store.example.com: store-v1 90% → 50%, store-v2 10% → 50%")
}
