package server

import (
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// TestProxylessTLSNotExpressible: a DestinationRule asking for SIMPLE or
// MUTUAL TLS, which grpc-go cannot originate, never turns a proxyless
// client's cluster into plaintext: the cluster is withheld, named in the
// problems and the metric, and the clients keep the version they have (and
// go on being served); a cluster never sent before is not sent at all.
func TestProxylessTLSNotExpressible(t *testing.T) {
	srv, base := startReviewsMesh(t)
	check := servedClient(t, srv, "10.244.9.9", "client-0")

	const name = "outbound|9080||reviews.default.svc.cluster.local"
	viewCluster := func(name string) *cluster.Cluster {
		for _, v := range srv.pusher.Views.All() {
			if m, ok := v.Resources()[generate.ClusterType][name]; ok {
				return m.(*cluster.Cluster)
			}
		}
		return nil
	}
	before := viewCluster(name)
	if before == nil || before.TransportSocket != nil {
		t.Fatalf("plaintext cluster %s before the change: %v", name, before)
	}

	simple := strings.Replace(base, "  host: reviews\n", "  host: reviews\n  trafficPolicy: {tls: {mode: SIMPLE, credentialName: reviews-ca}}\n", 1)
	ratings := `apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  ports: [{name: grpc, port: 9080}]
  selector: {app: ratings}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem}}
`
	srv.pusher.Update(parseStore(t, simple, ratings))
	want := "Cluster " + name + ": DestinationRule default/reviews asks for TLS mode SIMPLE, which proxyless gRPC clients cannot originate"
	if !xdstest.Eventually(10*time.Second, func() bool { return strings.Contains(strings.Join(srv.pusher.Problems(), "\n"), want) }) {
		t.Fatalf("problems lack %q:\n%s", want, strings.Join(srv.pusher.Problems(), "\n"))
	}
	for _, object := range []string{"Cluster " + name, "Cluster outbound|9080|v1|reviews.default.svc.cluster.local", "Cluster outbound|9080||ratings.default.svc.cluster.local"} {
		if n := testutil.ToFloat64(srv.metrics.Problems.WithLabelValues(object)); n != 1 {
			t.Errorf("meshctl_translation_problems{object=%q} = %v, want 1", object, n)
		}
	}
	if got := viewCluster(name); !proto.Equal(got, before) {
		t.Errorf("the clients' cluster changed; want the version they had:\n%v\nwant\n%v", got, before)
	}
	if got := viewCluster("outbound|9080||ratings.default.svc.cluster.local"); got != nil {
		t.Errorf("a cluster never sent before is sent without its TLS: %v", got)
	}
	if got := xdstest.Count(100, check); got.Codes[codes.OK] != 100 {
		t.Errorf("the client is not served on its last config: %v", got)
	}

	// Back to a TLS setting the client can have: the cluster follows again.
	// (Not ISTIO_MUTUAL: this client's bootstrap has no certificates.)
	plain := strings.Replace(base, "  host: reviews\n", "  host: reviews\n  trafficPolicy: {tls: {mode: DISABLE}, loadBalancer: {simple: LEAST_REQUEST}}\n", 1)
	srv.pusher.Update(parseStore(t, plain))
	if !xdstest.Eventually(10*time.Second, func() bool {
		c := viewCluster(name)
		return c != nil && c.LbPolicy == cluster.Cluster_LEAST_REQUEST && c.TransportSocket == nil
	}) {
		t.Fatalf("DISABLE: the cluster did not follow: %v", viewCluster(name))
	}
	waitFor(t, "served after the change", check, func(r xdstest.Result) bool { return r.Code == codes.OK })
	if strings.Contains(strings.Join(srv.pusher.Problems(), "\n"), "Cluster "+name) {
		t.Errorf("the problem outlived its cause: %v", srv.pusher.Problems())
	}
	if n := testutil.CollectAndCount(srv.metrics.NACKs); n != 0 {
		t.Errorf("the client rejected %d responses", n)
	}
}
