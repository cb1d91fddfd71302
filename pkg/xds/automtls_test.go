package xds_test

import (
	"slices"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/translate"
)

// storeOf parses a multi-document YAML config into a store.
func storeOf(t *testing.T, src string) *config.Store {
	t.Helper()
	rs, errs := config.Parse("test.yaml", []byte(src))
	for _, e := range errs {
		t.Fatal(e)
	}
	config.DefaultNamespace(rs, "default")
	return config.NewStoreFrom(rs)
}

// autoMTLSConfig: reviews has two pods with sidecars under two service
// accounts and one without a sidecar; ratings the same pods' shape under an
// ISTIO_MUTUAL DestinationRule without subjectAltNames.
const autoMTLSConfig = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {clusterIP: 10.96.0.9, ports: [{name: http, port: 9080}], selector: {app: reviews}}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 9080}], selector: {app: ratings}}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-0, namespace: shop, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-0, namespace: shop, labels: {app: reviews, version: v2, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews-v2, containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-legacy-0, namespace: shop, labels: {app: reviews, version: legacy}}
spec: {serviceAccountName: legacy, containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.12}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-0, namespace: shop, labels: {app: ratings, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: ratings, containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.20}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: shop, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- {addresses: [10.244.0.10], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-v1-0, namespace: shop}}
- {addresses: [10.244.0.11], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-v2-0, namespace: shop}}
- {addresses: [10.244.0.12], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-legacy-0, namespace: shop}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ratings-1, namespace: shop, labels: {kubernetes.io/service-name: ratings}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- {addresses: [10.244.0.20], conditions: {ready: true}, targetRef: {kind: Pod, name: ratings-0, namespace: shop}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec: {host: ratings, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
`

// TestAutoMTLSChecksTheServerIdentity: a sidecar's cluster to a service
// whose pods have sidecars, with no TLS in its DestinationRule, uses mesh
// mTLS to them (auto mTLS) and accepts only a server certificate carrying
// the SPIFFE id of a service account behind the service (every subset's,
// in the trust domain of the translation), exactly what ISTIO_MUTUAL
// accepts by default; endpoints without a sidecar still get plaintext.
func TestAutoMTLSChecksTheServerIdentity(t *testing.T) {
	cfg := translate.Build(translate.Input{Store: storeOf(t, autoMTLSConfig), TrustDomain: "td.example"},
		translate.View{Namespace: "shop", Workload: "ratings-0"})
	res, problems := generate.Sidecar(cfg, generate.Ports{Outbound: 15001, Inbound: 15006})
	for _, p := range problems {
		t.Errorf("problem: %v", p)
	}
	want := []string{"spiffe://td.example/ns/shop/sa/legacy", "spiffe://td.example/ns/shop/sa/reviews", "spiffe://td.example/ns/shop/sa/reviews-v2"}
	sansOf := func(ts *core.TransportSocket) []string {
		t.Helper()
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
			if m.SanType != tlsv3.SubjectAltNameMatcher_URI {
				t.Errorf("SAN matcher of type %v, want URI (a SPIFFE id)", m.SanType)
			}
			out = append(out, m.GetMatcher().GetExact())
		}
		if ctx.GetCommonTlsContext().GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName() != generate.SDSRootCert {
			t.Errorf("the server is not verified against the mesh root: %v", ctx.GetCommonTlsContext())
		}
		return out
	}
	for _, name := range []string{"outbound|9080||reviews.shop.svc.cluster.local", "outbound|9080|v2|reviews.shop.svc.cluster.local"} {
		c, ok := res[generate.ClusterType][name].(*cluster.Cluster)
		if !ok {
			t.Fatalf("no cluster %s", name)
		}
		if c.TransportSocket != nil || len(c.TransportSocketMatches) != 2 {
			t.Fatalf("%s: not auto mTLS: %v", name, c)
		}
		mtls, plain := c.TransportSocketMatches[0], c.TransportSocketMatches[1]
		if mtls.Match.GetFields()["tlsMode"].GetStringValue() != "istio" || plain.TransportSocket.GetName() != "envoy.transport_sockets.raw_buffer" {
			t.Fatalf("%s: transport socket matches %v", name, c.TransportSocketMatches)
		}
		if got := sansOf(mtls.TransportSocket); !slices.Equal(got, want) {
			t.Errorf("%s: auto mTLS accepts %v, want exactly %v", name, got, want)
		}
	}
	// The same identities as ISTIO_MUTUAL's default, from the same code.
	c := res[generate.ClusterType]["outbound|9080||ratings.shop.svc.cluster.local"].(*cluster.Cluster)
	if got := sansOf(c.TransportSocket); !slices.Equal(got, []string{"spiffe://td.example/ns/shop/sa/ratings"}) {
		t.Errorf("ISTIO_MUTUAL accepts %v", got)
	}
}
