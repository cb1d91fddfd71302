package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// reviewsYAML is the reviews Service with one pod per version at the given
// addresses, and its DestinationRule.
func reviewsYAML(addrs map[string]string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: grpc, port: 9080, targetPort: %d}]
  selector: {app: reviews}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: grpc, port: %d}]
endpoints:
`, port, port)
	for _, v := range []string{"v1", "v2", "v3"} {
		fmt.Fprintf(&b, "- {addresses: [%q], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-%s, namespace: default}}\n", addrs[v], v)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: reviews-%s, namespace: default, labels: {app: reviews, version: %s}}\nspec: {containers: [{name: app, image: x}]}\n", v, v)
	}
	return b.String()
}

func parseStore(t *testing.T, docs ...string) *config.Store {
	t.Helper()
	rs, errs := config.Parse("test.yaml", []byte(strings.Join(docs, "\n---\n")))
	if len(errs) > 0 {
		t.Fatalf("test config: %v", errs[0])
	}
	return config.NewStoreFrom(rs)
}

// testServer runs the xDS transport with a Pusher on a loopback port.
type testServer struct {
	pusher  *Pusher
	status  *transport.Status
	metrics *transport.Metrics
	reg     *prometheus.Registry
	addr    string
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := transport.NewMetrics(reg)
	p := &Pusher{Metrics: m, Log: testr.New(t)}
	views := transport.NewViews(p.Populate, nil)
	p.Views = views
	st := transport.NewStatus(m, views)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gs := transport.NewGRPCServer(ctx, views, st)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = transport.Serve(ctx, gs, lis) }()
	return &testServer{pusher: p, status: st, metrics: m, reg: reg, addr: lis.Addr().String()}
}

// startReviews binds one backend per version on 127.0.0.2-4, same port.
func startReviews(t *testing.T) (map[string]*xdstest.Backend, map[string]string, int) {
	t.Helper()
	first := xdstest.StartBackend(t, "127.0.0.2:0", "v1")
	_, portStr, _ := net.SplitHostPort(first.Addr)
	var port int
	fmt.Sscan(portStr, &port)
	bs := map[string]*xdstest.Backend{"v1": first}
	bs["v2"] = xdstest.StartBackend(t, fmt.Sprintf("127.0.0.3:%d", port), "v2")
	bs["v3"] = xdstest.StartBackend(t, fmt.Sprintf("127.0.0.4:%d", port), "v3")
	addrs := map[string]string{"v1": "127.0.0.2", "v2": "127.0.0.3", "v3": "127.0.0.4"}
	return bs, addrs, port
}

// startReviewsMesh starts the reviews backends and a server serving them;
// base is the configuration it serves.
func startReviewsMesh(t *testing.T) (srv *testServer, base string) {
	t.Helper()
	_, addrs, port := startReviews(t)
	srv = startTestServer(t)
	base = reviewsYAML(addrs, port)
	srv.pusher.Update(parseStore(t, base))
	return srv, base
}

// reviewsClient is a proxyless gRPC client of reviews, served by srv as the
// pod of the given IP and name in namespace default.
func reviewsClient(t *testing.T, srv *testServer, ip, pod string) *xdstest.Client {
	t.Helper()
	return xdstest.NewClient(t, "xds:///reviews.default.svc.cluster.local:9080",
		xdstest.Bootstrap(srv.addr, xdstest.NodeID(ip, pod, "default"), "default"))
}

// servedClient is a reviewsClient that has been served: its calls (check)
// succeed.
func servedClient(t *testing.T, srv *testServer, ip, pod string) (check func() xdstest.Result) {
	t.Helper()
	c := reviewsClient(t, srv, ip, pod)
	check = func() xdstest.Result { return c.Check(context.Background()) }
	waitFor(t, pod+" served", check, func(r xdstest.Result) bool { return r.Code == codes.OK })
	return check
}

// adsClient dials srv's xDS port without the xDS client, to speak the
// protocol by hand; the connection is closed when the test ends.
func adsClient(t *testing.T, srv *testServer) discovery.AggregatedDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(conn)
}

// proxylessNode is the node of a proxyless gRPC client in namespace default.
func proxylessNode(id string) *core.Node {
	md, _ := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": "default"})
	return &core.Node{Id: id, Metadata: md}
}

func vsYAML(http string) string {
	return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
` + http
}

// waitFor makes calls until every one of 20 in a row satisfies ok.
func waitFor(t *testing.T, what string, call func() xdstest.Result, ok func(xdstest.Result) bool) {
	t.Helper()
	streak := 0
	if !xdstest.Eventually(10*time.Second, func() bool {
		if ok(call()) {
			streak++
		} else {
			streak = 0
		}
		return streak >= 20
	}) {
		t.Fatalf("%s: not reached within 10s", what)
	}
}

// TestProxylessGRPCRouting drives a real grpc-go xDS client through the
// bookinfo routing scenarios, counting every failed call during the switches.
func TestProxylessGRPCRouting(t *testing.T) {
	srv, base := startReviewsMesh(t)
	c := reviewsClient(t, srv, "10.244.9.9", "client-0")
	ctx := context.Background()
	check := func() xdstest.Result { return c.Check(ctx) }
	if r := check(); r.Code != codes.OK {
		t.Logf("first call: %v", r.Err)
	}
	waitFor(t, "first response", check, func(r xdstest.Result) bool { return r.Code == codes.OK })

	const n = 600
	t.Run("round robin without routing", func(t *testing.T) {
		got := xdstest.Count(n, check)
		for _, v := range []string{"v1", "v2", "v3"} {
			xdstest.ExpectShare(t, v, got.Versions[v], n, 1.0/3)
		}
		if got.Codes[codes.OK] != n {
			t.Errorf("failed calls: %v", got)
		}
	})

	var switchErrors int
	apply := func(t *testing.T, http string, done func(xdstest.Result) bool) {
		t.Helper()
		bad := xdstest.FailuresDuring(t, check, nil, func() {
			srv.pusher.Update(parseStore(t, base, vsYAML(http)))
			waitFor(t, "route applied", check, done)
		})
		switchErrors += bad
		if bad > 0 {
			t.Logf("%d transient errors during the switch", bad)
		}
	}
	is := func(v string) func(xdstest.Result) bool {
		return func(r xdstest.Result) bool { return r.Code == codes.OK && r.Version == v }
	}
	t.Run("all to v1", func(t *testing.T) {
		apply(t, "  - route: [{destination: {host: reviews, subset: v1}}]\n", is("v1"))
		got := xdstest.Count(n, check)
		if got.Versions["v1"] != n {
			t.Errorf("want all %d on v1: %v", n, got)
		}
	})
	t.Run("end-user jason to v2", func(t *testing.T) {
		apply(t, `  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`, func(r xdstest.Result) bool { return is("v2")(c.Check(ctx, "end-user", "jason")) })
		jason := xdstest.Count(200, func() xdstest.Result { return c.Check(ctx, "end-user", "jason") })
		other := xdstest.Count(200, func() xdstest.Result { return c.Check(ctx, "end-user", "mary") })
		if jason.Versions["v2"] != 200 || other.Versions["v1"] != 200 {
			t.Errorf("jason: %v; mary: %v", jason, other)
		}
	})
	for _, tc := range []struct{ w1, w3 int }{{50, 50}, {90, 10}} {
		t.Run(fmt.Sprintf("%d/%d v1/v3", tc.w1, tc.w3), func(t *testing.T) {
			apply(t, fmt.Sprintf("  - route:\n    - {destination: {host: reviews, subset: v1}, weight: %d}\n    - {destination: {host: reviews, subset: v3}, weight: %d}\n", tc.w1, tc.w3),
				func(xdstest.Result) bool {
					// Applied once both versions answer.
					got := xdstest.Count(50, check)
					return got.Versions["v1"] > 0 && got.Versions["v3"] > 0 && got.Versions["v1"]+got.Versions["v3"] == 50
				})
			got := xdstest.Count(n, check)
			xdstest.ExpectShare(t, "v1", got.Versions["v1"], n, float64(tc.w1)/100)
			xdstest.ExpectShare(t, "v3", got.Versions["v3"], n, float64(tc.w3)/100)
		})
	}
	t.Run("100% v3 after an update", func(t *testing.T) {
		apply(t, "  - route: [{destination: {host: reviews, subset: v3}, weight: 100}]\n", is("v3"))
		got := xdstest.Count(n, check)
		if got.Versions["v3"] != n {
			t.Errorf("want all on v3: %v", got)
		}
	})
	t.Logf("transient errors over all route switches: %d", switchErrors)
}
