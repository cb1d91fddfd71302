package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// clientPods is n pods client-0… of one Service in ns-0: n Envoy sidecars
// of one namespace, each with a view of its own.
func clientPods(n int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: Service
metadata: {name: client, namespace: ns-0}
spec: {ports: [{name: http, port: 9080}], selector: {app: client}}
`)
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: client-%d, namespace: ns-0, labels: {app: client}}\nspec: {containers: [{name: a, image: a}]}\nstatus: {podIP: %s}\n", i, clientIP(i))
	}
	return b.String()
}

func clientIP(i int) string { return fmt.Sprintf("10.244.%d.%d", 1+i/250, 1+i%250) }

func clientNode(i int) *core.Node {
	return &core.Node{Id: fmt.Sprintf("sidecar~%s~client-%d.ns-0~ns-0.svc.cluster.local", clientIP(i), i)}
}

// TestEnvoySidecarsEncodeSharedResourcesOnce: sidecars of one namespace,
// each with its own view and a state-of-the-world and a delta stream,
// share their clusters; each distinct cluster is encoded once in all when
// first sent, and a DestinationRule change encodes each changed cluster
// once more, whatever the number of sidecars.
func TestEnvoySidecarsEncodeSharedResourcesOnce(t *testing.T) {
	const n = 8
	srv := startTestServer(t)
	mesh := bigMesh(t, 4, 2, 50)
	clients, errs := config.Parse("clients.yaml", []byte(clientPods(n)))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	live := config.NewLiveStore()
	live.Put(append(mesh, clients...)...)
	srv.pusher.Update(live.Snapshot())

	ads := adsClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type sidecar struct {
		sotw  discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
		delta discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	}
	// recv reads the next cluster response of each stream and ACKs it;
	// it returns how many clusters the state-of-the-world and the delta
	// response carried.
	recv := func(s sidecar) (int, int) {
		t.Helper()
		r, err := s.sotw.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.sotw.Send(&discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		d, err := s.delta.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.delta.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: d.TypeUrl, ResponseNonce: d.Nonce}); err != nil {
			t.Fatal(err)
		}
		return len(r.Resources), len(d.Resources)
	}
	var sidecars []sidecar
	var err error
	for i := range n {
		var s sidecar
		if s.sotw, err = ads.StreamAggregatedResources(ctx); err != nil {
			t.Fatal(err)
		}
		if s.delta, err = ads.DeltaAggregatedResources(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.sotw.Send(&discovery.DiscoveryRequest{Node: clientNode(i), TypeUrl: generate.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if err := s.delta.Send(&discovery.DeltaDiscoveryRequest{Node: clientNode(i), TypeUrl: generate.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if a, b := recv(s); a == 0 || a != b {
			t.Fatalf("sidecar %d was sent %d clusters, and %d by delta", i, a, b)
		}
		sidecars = append(sidecars, s)
	}
	views := srv.pusher.Views.All()
	if len(views) != n {
		t.Fatalf("%d views, want one per sidecar (%d)", len(views), n)
	}
	// distinct counts the distinct cluster messages of the views, and
	// checks that they share them.
	distinct := func() map[proto.Message]bool {
		out := map[proto.Message]bool{}
		for _, v := range views {
			for _, m := range v.Resources()[generate.ClusterType] {
				out[m] = true
			}
		}
		if perView := len(views[0].Resources()[generate.ClusterType]); len(out) != perView {
			t.Fatalf("%d sidecars hold %d distinct clusters, %d each: they do not share them", n, len(out), perView)
		}
		return out
	}
	before := distinct()
	enc := srv.pusher.Views.Encodings()
	if enc.Marshals != uint64(len(before)) {
		t.Errorf("first push: %d clusters encoded %d times for %d sidecars (%d streams), want once each", len(before), enc.Marshals, n, 2*n)
	}

	live.Put(parseOne(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-0, namespace: ns-0}
spec:
  host: svc-0
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`)...)
	srv.pusher.Update(live.Snapshot())
	after := distinct()
	changed := 0
	for m := range after {
		if !before[m] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("the DestinationRule changed no cluster")
	}
	for i, s := range sidecars {
		if a, b := recv(s); a != len(after) || b != changed {
			t.Fatalf("sidecar %d was sent %d clusters and %d by delta after the change, want %d and %d", i, a, b, len(after), changed)
		}
	}
	got := srv.pusher.Views.Encodings()
	if d := got.Marshals - enc.Marshals; d != uint64(changed) {
		t.Errorf("the change encoded clusters %d times for %d changed clusters, %d sidecars (%d streams), want once each", d, changed, n, 2*n)
	}
	// Memory: one entry per distinct resource the views hold, no more
	// (the old versions of the changed clusters are gone).
	held := map[proto.Message]bool{}
	for _, v := range views {
		for _, byName := range v.Resources() {
			for _, m := range byName {
				held[m] = true
			}
		}
	}
	if got.Held != len(held) {
		t.Errorf("%d encodings held, want one per distinct resource the views hold (%d)", got.Held, len(held))
	}
}
