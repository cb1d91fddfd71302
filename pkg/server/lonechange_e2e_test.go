//go:build e2e

package server

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// BenchmarkLoneChangeThroughAPIServer: `meshctl server` runs against the
// local cluster's API server (informers, live store, translation, ADS); one
// VirtualService is updated through the API server and an ADS client
// (grpc-go, as a proxyless gRPC client subscribes) waits for the route with
// the new weights. Reported: event-to-client-ms, from the moment a watch of
// the benchmark's own saw the API server's event for the update until the
// client received the route (the "API server event → client"), and
// update-to-client-ms, from the start of the update request.
func BenchmarkLoneChangeThroughAPIServer(b *testing.B) {
	c := testcluster.Get(b)
	testcrds.Ensure(b, c.Config, "virtualservices", "destinationrules")
	ns := c.NewNamespace(b, nil)
	ctx := context.Background()
	// A Service without selector and its own EndpointSlice: no pods to
	// wait for, and nothing but the benchmark writes the objects.
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9080}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "reviews-1", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To[int32](9080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.201.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	srv, ic := startServerLog(b, c, logr.Discard())
	if _, err := ic.NetworkingV1().DestinationRules(ns).Create(ctx, &networkingv1.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec: networkingapi.DestinationRule{Host: "reviews", Subsets: []*networkingapi.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}},
		}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	route50 := vsWeights(b, ns, 50)
	created, err := ic.NetworkingV1().VirtualServices(ns).Create(ctx, route50, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}

	// The benchmark's own watch stamps when the API server sent each
	// version of the VirtualService.
	w, err := ic.NetworkingV1().VirtualServices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	events := make(chan time.Time, 16)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				events <- time.Now()
			}
		}
	}()

	conn, err := grpc.NewClient(srv.XDSAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		b.Fatal(err)
	}
	md, _ := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": ns})
	name := "outbound|9080||reviews." + ns + ".svc.cluster.local"
	req := &discovery.DiscoveryRequest{Node: &core.Node{Id: "sidecar~10.244.201.9~bench." + ns + "~" + ns + ".svc.cluster.local", Metadata: md}, TypeUrl: generate.RouteType, ResourceNames: []string{name}}
	// waitWeight reads responses (ACKing each) until the route splits
	// weight% to v1.
	waitWeight := func(weight uint32) time.Time {
		for {
			r, err := stream.Recv()
			if err != nil {
				b.Fatal(err)
			}
			at := time.Now()
			req.Node, req.VersionInfo, req.ResponseNonce = nil, r.VersionInfo, r.Nonce
			if err := stream.Send(req); err != nil {
				b.Fatal(err)
			}
			for _, a := range r.Resources {
				var rc route.RouteConfiguration
				if err := a.UnmarshalTo(&rc); err != nil {
					b.Fatal(err)
				}
				if firstWeight(&rc) == weight {
					return at
				}
			}
		}
	}
	if err := stream.Send(req); err != nil {
		b.Fatal(err)
	}
	waitWeight(50)

	var fromEvent, fromUpdate []time.Duration
	weight := uint32(50)
	for b.Loop() {
		weight = 140 - weight // 50 ↔ 90
		cur, err := ic.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		next := vsWeights(b, ns, weight)
		next.ResourceVersion = cur.ResourceVersion
		t0 := time.Now()
		if _, err := ic.NetworkingV1().VirtualServices(ns).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		got := waitWeight(weight)
		var ev time.Time
		select {
		case ev = <-events:
		case <-time.After(30 * time.Second):
			b.Fatal("the benchmark's watch saw no event for the update")
		}
		fromEvent = append(fromEvent, got.Sub(ev))
		fromUpdate = append(fromUpdate, got.Sub(t0))
	}
	b.StopTimer()
	ms := func(ds []time.Duration, q float64) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	// Both watches read the API server's events from one connection, in
	// order; a negative minimum would say the stamp is too late to trust.
	b.ReportMetric(ms(fromEvent, 0), "event-to-client-min-ms")
	b.ReportMetric(ms(fromEvent, 0.5), "event-to-client-p50-ms")
	b.ReportMetric(ms(fromEvent, 1), "event-to-client-max-ms")
	b.ReportMetric(ms(fromUpdate, 0.5), "update-to-client-p50-ms")
}

// vsWeights is the reviews VirtualService splitting weight% to subset v1,
// the rest to v2.
func vsWeights(tb testing.TB, ns string, weight uint32) *networkingv1.VirtualService {
	tb.Helper()
	return vs(tb, ns, fmt.Sprintf("- route:\n  - {destination: {host: reviews, subset: v1}, weight: %d}\n  - {destination: {host: reviews, subset: v2}, weight: %d}\n", weight, 100-weight))
}

// firstWeight is the weight of the first cluster of the route config's
// first route, 0 if it has none.
func firstWeight(rc *route.RouteConfiguration) uint32 {
	for _, vh := range rc.VirtualHosts {
		for _, r := range vh.Routes {
			if wc := r.GetRoute().GetWeightedClusters(); wc != nil && len(wc.Clusters) > 0 {
				return wc.Clusters[0].GetWeight().GetValue()
			}
		}
	}
	return 0
}
