package server

import (
	"sort"
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// TestDeltaXDS drives the server with a raw incremental (delta) ADS stream,
// as Envoy speaks it (grpc-go cannot): a subscription is answered with the
// resources, a route change sends only the route (no cluster), and a
// subset removed from the DestinationRule reaches the client as a removal
// of that cluster alone, after the route that stopped using it.
func TestDeltaXDS(t *testing.T) {
	srv := startTestServer(t)
	addrs := map[string]string{"v1": "10.0.0.1", "v2": "10.0.0.2", "v3": "10.0.0.3"}
	base := reviewsYAML(addrs, 9080)
	srv.pusher.Update(parseStore(t, base))

	stream, err := adsClient(t, srv).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	node := proxylessNode("sidecar~10.244.9.3~delta.default~default.svc.cluster.local")
	const host = "reviews.default.svc.cluster.local"
	routeName := "outbound|9080||" + host
	v1, v2 := "outbound|9080|v1|"+host, "outbound|9080|v2|"+host

	recv := func(what string) *discovery.DeltaDiscoveryResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// ACK, as a client that accepted it.
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	names := func(r *discovery.DeltaDiscoveryResponse) []string {
		var out []string
		for _, res := range r.Resources {
			out = append(out, res.Name)
		}
		sort.Strings(out)
		return out
	}

	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: generate.RouteType, ResourceNamesSubscribe: []string{routeName}}); err != nil {
		t.Fatal(err)
	}
	if r := recv("route subscription"); r.TypeUrl != generate.RouteType || strings.Join(names(r), ",") != routeName {
		t.Fatalf("route subscription answered with %s %v", r.TypeUrl, names(r))
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: generate.ClusterType, ResourceNamesSubscribe: []string{v1, v2}}); err != nil {
		t.Fatal(err)
	}
	if r := recv("cluster subscription"); r.TypeUrl != generate.ClusterType || strings.Join(names(r), ",") != v1+","+v2 {
		t.Fatalf("cluster subscription answered with %s %v", r.TypeUrl, names(r))
	}

	// A route change: the next response is the route, and nothing else
	// comes before it (no cluster is resent).
	srv.pusher.Update(parseStore(t, base, vsYAML("  - route: [{destination: {host: reviews, subset: v1}}]\n")))
	r := recv("route change")
	if r.TypeUrl != generate.RouteType || strings.Join(names(r), ",") != routeName {
		t.Fatalf("after a route change got %s %v, want only the route", r.TypeUrl, names(r))
	}
	var rc route.RouteConfiguration
	if err := r.Resources[0].Resource.UnmarshalTo(&rc); err != nil {
		t.Fatal(err)
	}
	if got := rc.VirtualHosts[0].Routes[0].GetRoute().GetCluster(); got != v1 {
		t.Errorf("the new route goes to %q, want %q", got, v1)
	}

	// Subset v2 removed: the route (whose prewarm entry listed v2) comes
	// first, then the removal of v2 alone; v1 is not resent.
	noV2 := strings.Replace(base, "  - {name: v2, labels: {version: v2}}\n", "", 1)
	srv.pusher.Update(parseStore(t, noV2, vsYAML("  - route: [{destination: {host: reviews, subset: v1}}]\n")))
	for {
		r := recv("subset removal")
		if r.TypeUrl == generate.RouteType {
			continue
		}
		if r.TypeUrl != generate.ClusterType || len(r.Resources) != 0 || strings.Join(r.RemovedResources, ",") != v2 {
			t.Fatalf("after removing subset v2 got %s resources %v removed %v, want only the removal of %s", r.TypeUrl, names(r), r.RemovedResources, v2)
		}
		break
	}
}
