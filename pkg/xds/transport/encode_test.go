package transport

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// counted is a resource that counts how often it is encoded, wherever
// that happens (here or inside go-control-plane): the protobuf runtime
// encodes a message through its ProtoMethods.
type counted struct {
	protoreflect.Message
	n *atomic.Int64
}

func countedOf(m proto.Message, n *atomic.Int64) *counted { return &counted{m.ProtoReflect(), n} }

func (c *counted) ProtoReflect() protoreflect.Message   { return c }
func (c *counted) Interface() protoreflect.ProtoMessage { return c }
func (c *counted) ProtoMethods() *protoiface.Methods    { return &countedMethods }
func (c *counted) GetName() string {
	return c.Message.Interface().(interface{ GetName() string }).GetName()
}
func (c *counted) unwrap() proto.Message { return c.Message.Interface() }
func countedMarshal(in protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
	c := in.Message.(*counted)
	c.n.Add(1)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(in.Buf, c.unwrap())
	return protoiface.MarshalOutput{Buf: b}, err
}

var countedMethods = protoiface.Methods{Flags: protoiface.SupportMarshalDeterministic, Marshal: countedMarshal}

// TestSharedResourcesEncodedOnce: Envoy sidecars have a view each, yet the
// clusters their namespace shares are one message; each must be encoded
// once in all, not once per view or stream, for state-of-the-world and
// delta streams alike, when first sent and again when it changes.
func TestSharedResourcesEncodedOnce(t *testing.T) {
	const views = 6
	counts := map[string]*atomic.Int64{}
	shared := func(name string, timeout int64) *counted {
		n := &atomic.Int64{}
		counts[fmt.Sprintf("%s@%d", name, timeout)] = n
		return countedOf(&cluster.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Duration(timeout) * time.Second)}, n)
	}
	clusters := map[string]proto.Message{"a": shared("a", 1), "b": shared("b", 1), "c": shared("c", 1)}
	resourcesOf := func(n Node, cl map[string]proto.Message) generate.Resources {
		res := generate.NewResources()
		for name, m := range cl {
			res[generate.ClusterType][name] = m
		}
		// Each sidecar's own listener: never asked for, never encoded.
		res[generate.ListenerType]["inbound"] = &listener.Listener{Name: "inbound", StatPrefix: n.Pod}
		return res
	}
	vs := NewViews(func(_ context.Context, _ string, n Node) (generate.Resources, uint64) {
		return resourcesOf(n, clusters), 1
	}, nil)
	addr := serveForTest(t, vs)

	type client struct {
		sotw  discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
		delta discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	recvSotw := func(c client) []string {
		t.Helper()
		r, err := c.sotw.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.sotw.Send(&discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range r.Resources {
			var cl cluster.Cluster
			if err := a.UnmarshalTo(&cl); err != nil {
				t.Fatal(err)
			}
			names = append(names, fmt.Sprintf("%s@%d", cl.Name, cl.ConnectTimeout.AsDuration()/time.Second))
		}
		sort.Strings(names)
		return names
	}
	recvDelta := func(c client) []string {
		t.Helper()
		r, err := c.delta.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.delta.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, res := range r.Resources {
			var cl cluster.Cluster
			if err := res.Resource.UnmarshalTo(&cl); err != nil {
				t.Fatal(err)
			}
			names = append(names, fmt.Sprintf("%s@%d", cl.Name, cl.ConnectTimeout.AsDuration()/time.Second))
		}
		sort.Strings(names)
		return names
	}
	var clients []client
	for i := range views {
		// Two streams per sidecar: one of each protocol.
		node := &core.Node{Id: fmt.Sprintf("sidecar~10.0.0.%d~pod-%d.ns~ns.svc.cluster.local", i+1, i)}
		var c client
		if c.sotw, err = ads.StreamAggregatedResources(ctx); err != nil {
			t.Fatal(err)
		}
		if c.delta, err = ads.DeltaAggregatedResources(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.sotw.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: generate.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if err := c.delta.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: generate.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(recvSotw(c), ","); got != "a@1,b@1,c@1" {
			t.Fatalf("sidecar %d was sent clusters %s", i, got)
		}
		if got := strings.Join(recvDelta(c), ","); got != "a@1,b@1,c@1" {
			t.Fatalf("sidecar %d was sent clusters %s by delta", i, got)
		}
		clients = append(clients, c)
	}
	if got := len(vs.All()); got != views {
		t.Fatalf("%d views, want one per sidecar (%d)", got, views)
	}
	check := func(when string, want map[string]int64) {
		t.Helper()
		for k, n := range counts {
			if got := n.Load(); got != want[k] {
				t.Errorf("%s: cluster %s encoded %d times for %d sidecars (%d streams), want %d", when, k, got, views, 2*views, want[k])
			}
		}
	}
	check("first push", map[string]int64{"a@1": 1, "b@1": 1, "c@1": 1})

	// One cluster changes, the same new message in every view.
	next := map[string]proto.Message{"a": shared("a", 2), "b": clusters["b"], "c": clusters["c"]}
	for _, v := range vs.All() {
		v.Apply(resourcesOf(v.Node, next), 2)
	}
	for i, c := range clients {
		// State of the world sends every cluster again; delta only a.
		if got := strings.Join(recvSotw(c), ","); got != "a@2,b@1,c@1" {
			t.Fatalf("sidecar %d was sent clusters %s after the change", i, got)
		}
		if got := strings.Join(recvDelta(c), ","); got != "a@2" {
			t.Fatalf("sidecar %d was sent clusters %s by delta after the change", i, got)
		}
	}
	check("after a change", map[string]int64{"a@1": 1, "b@1": 1, "c@1": 1, "a@2": 1})

	// Memory: one encoding per distinct resource some view holds (a@1 is
	// gone), and none once every sidecar has left.
	if got, want := vs.Encodings(), (EncodingStats{Held: 3 + views, Marshals: 4}); got != want {
		t.Errorf("after the change: %+v, want %+v (the clusters and each sidecar's listener)", got, want)
	}
	for _, c := range clients {
		_ = c.sotw.CloseSend()
		_ = c.delta.CloseSend()
	}
	cancel()
	deadline := time.Now().Add(30 * time.Second)
	for len(vs.All()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := vs.Encodings(); len(vs.All()) > 0 || got.Held != 0 {
		t.Errorf("after every sidecar left: %d views, %d encodings held, want none", len(vs.All()), got.Held)
	}
}

func serveForTest(t *testing.T, vs *Views) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gs := NewGRPCServer(ctx, vs, NewStatus(nil, vs))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = Serve(ctx, gs, lis) }()
	return lis.Addr().String()
}
