package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/translate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// bigMesh is n services with e endpoints each, a DestinationRule with two
// subsets and a VirtualService splitting between them for every service.
func bigMesh(tb testing.TB, n, e int, weight int) []*config.Resource {
	tb.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: svc-%d, namespace: ns-%d}
spec: {ports: [{name: grpc, port: 8080}], selector: {app: svc-%d}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-%d, namespace: ns-%d}
spec: {host: svc-%d, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-%d, namespace: ns-%d}
spec:
  hosts: [svc-%d]
  http:
  - route:
    - {destination: {host: svc-%d, subset: v1}, weight: %d}
    - {destination: {host: svc-%d, subset: v2}, weight: %d}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-%d-1, namespace: ns-%d, labels: {kubernetes.io/service-name: svc-%d}}
addressType: IPv4
ports: [{name: grpc, port: 8080}]
endpoints:
`, i, i%50, i, i, i%50, i, i, i%50, i, i, weight, i, 100-weight, i, i%50, i)
		for j := range e {
			fmt.Fprintf(&b, "- {addresses: [10.%d.%d.%d], conditions: {ready: true}, targetRef: {kind: Pod, name: svc-%d-%d}}\n", 100+i/250, i%250, j, i, j)
		}
		for j := range e {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: svc-%d-%d, namespace: ns-%d, labels: {app: svc-%d, version: v%d}}\nspec: {containers: [{name: a, image: a}]}\n", i, j, i%50, i, 1+j%2)
		}
	}
	rs, errs := config.Parse("bench.yaml", []byte(b.String()))
	if len(errs) > 0 {
		tb.Fatal(errs[0])
	}
	return rs
}

// BenchmarkTranslate1kServices10kEndpoints: a whole snapshot of 1,000
// services / 10,000 endpoints into the resources of one gRPC view.
func BenchmarkTranslate1kServices10kEndpoints(b *testing.B) {
	store := config.NewStoreFrom(bigMesh(b, 1000, 10, 50))
	b.ResetTimer()
	for b.Loop() {
		x := translate.NewIndex(translate.Input{Store: store})
		res, _ := generate.GRPC(x.Build(translate.View{Namespace: "ns-0"}))
		if len(res[generate.ClusterType]) != 3000 {
			b.Fatalf("clusters: %d", len(res[generate.ClusterType]))
		}
	}
}

// BenchmarkOneEventInto1kServices: one VirtualService changes in that
// snapshot; the cost of publishing it to a view that holds the rest (only
// the changed host is translated and generated again).
func BenchmarkOneEventInto1kServices(b *testing.B) {
	rs := bigMesh(b, 1000, 10, 50)
	views := transport.NewViews(nil, nil)
	p := &Pusher{Views: views, Log: logr.Discard()}
	views.Ensure(&core.Node{Id: "sidecar~1.1.1.1~c.ns-0~ns-0.svc.cluster.local", Metadata: grpcMeta()})
	a, bb := config.NewStoreFrom(rs), config.NewStoreFrom(rs, changedVS(b))
	p.Update(a)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			p.Update(bb)
		} else {
			p.Update(a)
		}
	}
}

// BenchmarkPush1000Streams: 1,000 ADS streams (one connection each) watch
// the same route; one change is published; reports the time until each
// stream received it (p50, p99, max), how long the 1,000 took to connect, and
// the server's heap growth for them. The clients run in a child process
// (this test binary, see TestMain), so the heap is the server's alone.
func BenchmarkPush1000Streams(b *testing.B) {
	benchPush(b, 1000, false, bigMesh(b, 10, 3, 50), bigMesh(b, 10, 3, 90))
}

// BenchmarkPush1000EnvoySidecars: as BenchmarkPush1000Streams, but the
// 1,000 streams are Envoy sidecars of 1,000 pods of one namespace, so 1,000
// views (each has its own inbound listener); each asks for every cluster,
// every listener and the route config of port 8080, as Envoy does. The
// change is that route config, shared by the 1,000 sidecars: encodes-per-push
// is how many resources the change had encoded, whatever the number of
// views, and heap-MiB the server's whole live heap with the 1,000 sidecars.
func BenchmarkPush1000EnvoySidecars(b *testing.B) {
	const n = 1000
	clients, errs := config.Parse("clients.yaml", []byte(clientPods(n)))
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	benchPush(b, n, true, append(bigMesh(b, 10, 3, 50), clients...), append(bigMesh(b, 10, 3, 90), clients...))
}

// benchPush publishes a and b in turn to n streams of Envoy sidecars or
// gRPC clients and reports the push latencies and the server's heap.
func benchPush(b *testing.B, n int, sidecars bool, a, bb []*config.Resource) {
	srv, addr := benchServer(b)
	store := config.NewStoreFrom(a)
	srv.Update(store)
	other := config.NewStoreFrom(bb)

	before := heapInuse()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientsEnv+"="+addr, fmt.Sprintf("%s=%d", benchClientsNEnv, n), fmt.Sprintf("%s=%t", benchClientsSidecarsEnv, sidecars))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	lines.Buffer(nil, 1<<20)
	next := func() []int64 {
		if !lines.Scan() {
			b.Fatalf("xDS clients ended: %v", lines.Err())
		}
		var v []int64
		for _, f := range strings.Fields(lines.Text()) {
			x, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatalf("xDS clients wrote %q", lines.Text())
			}
			v = append(v, x)
		}
		return v
	}
	connectAll := time.Duration(next()[0])
	after := heapInuse()
	if got := len(srv.Views.All()); sidecars && got != n {
		b.Fatalf("%d views for %d sidecars", got, n)
	}

	var lat []time.Duration
	encodes := srv.Views.Encodings().Marshals
	cur := store
	for b.Loop() {
		if cur == store {
			cur = other
		} else {
			cur = store
		}
		t0 := time.Now()
		srv.Update(cur)
		got := next()
		if len(got) != n {
			b.Fatalf("%d streams answered, want %d", len(got), n)
		}
		for _, ns := range got {
			lat = append(lat, time.Unix(0, ns).Sub(t0))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(connectAll), "connect1000-ms")
	b.ReportMetric(float64(after-before)/(1<<20), "heap1000-MiB")
	if sidecars {
		b.ReportMetric(float64(after)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(srv.Views.Encodings().Marshals-encodes)/float64(b.N), "encodes-per-push")
	}
}

// heapInuse is the live heap after two collections: the second empties
// sync.Pool victims (gRPC's pooled buffers), which the first only moves.
func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

const (
	benchClientsEnv         = "MESHCTL_BENCH_XDS_CLIENTS"
	benchClientsNEnv        = "MESHCTL_BENCH_XDS_CLIENTS_N"
	benchClientsSidecarsEnv = "MESHCTL_BENCH_XDS_CLIENTS_SIDECARS"
)

// runBenchClients is the child process of BenchmarkPush1000Streams: it opens
// the streams to addr and writes how long that took (ns), then, for every
// response that reaches all streams, when each stream received it (Unix
// ns), one line each; it ends when its parent does.
func runBenchClients(addr string, w io.Writer) int {
	n, err := strconv.Atoi(os.Getenv(benchClientsNEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sidecars := os.Getenv(benchClientsSidecarsEnv) == "true"
	start := time.Now()
	streams, err := openStreams(addr, n, sidecars)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(w, time.Since(start).Nanoseconds())
	for {
		at, err := waitAll(streams)
		if err != nil {
			// The parent closed the connections' server: done.
			return 0
		}
		var line strings.Builder
		for _, t := range at {
			fmt.Fprintf(&line, "%d ", t.UnixNano())
		}
		fmt.Fprintln(w, line.String())
	}
}

// BenchmarkLoneChange: one change published to one client: from the
// event reaching the live store to the client receiving the new route.
func BenchmarkLoneChange(b *testing.B) {
	srv, addr := benchServer(b)
	// The server's path: informer events into the live store, its
	// snapshots to the Pusher.
	live := config.NewLiveStore()
	rs := bigMesh(b, 1000, 10, 50)
	live.Put(rs...)
	srv.Update(live.Snapshot())
	streams, err := openStreams(addr, 1, false)
	if err != nil {
		b.Fatal(err)
	}
	turns := changeAndBack(b, rs)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		live.Put(turns[i%2])
		srv.Update(live.Snapshot())
		if _, err := waitAll(streams); err != nil {
			b.Fatal(err)
		}
	}
}

// changeAndBack is svc-0's VirtualService changed (changedVS) and as rs
// has it: a benchmark puts them in turn, so that every iteration changes
// the route.
func changeAndBack(b testing.TB, rs []*config.Resource) [2]*config.Resource {
	for _, r := range rs {
		if r.Kind == config.KindVirtualService && r.Name == "svc-0" {
			return [2]*config.Resource{changedVS(b)[0], r}
		}
	}
	b.Fatal("no VirtualService svc-0")
	return [2]*config.Resource{}
}

// changedVS is svc-0's VirtualService with 90/10 instead of 50/50.
func changedVS(b testing.TB) []*config.Resource {
	for _, r := range bigMesh(b, 1, 0, 90) {
		if r.Kind == config.KindVirtualService {
			return []*config.Resource{r}
		}
	}
	b.Fatal("no VirtualService")
	return nil
}

type benchStream struct {
	s    discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	last *discovery.DiscoveryResponse
	// subs are the names asked for by type (none: all of the type).
	subs map[string][]string
}

// ack acknowledges r as a client that accepted it.
func (st *benchStream) ack(r *discovery.DiscoveryResponse) error {
	st.last = r
	return st.s.Send(&discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, ResourceNames: st.subs[r.TypeUrl], VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
}

type benchSub struct {
	typeURL string
	names   []string
}

// benchSubs is what a bench client asks for, in order: a gRPC client the
// route of svc-0; an Envoy sidecar every cluster and listener, then the
// route config of its outbound port 8080.
func benchSubs(sidecars bool) []benchSub {
	if !sidecars {
		return []benchSub{{generate.RouteType, []string{"outbound|8080||svc-0.ns-0.svc.cluster.local"}}}
	}
	return []benchSub{{generate.ClusterType, nil}, {generate.ListenerType, nil}, {generate.RouteType, []string{generate.RouteName(8080)}}}
}

func grpcMeta() *structpb.Struct {
	md, _ := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": "ns-0"})
	return md
}

func benchServer(b *testing.B) (*Pusher, string) {
	m := transport.NewMetrics(prometheus.NewRegistry())
	p := &Pusher{Metrics: m, Log: logr.Discard()}
	views := transport.NewViews(p.Populate, nil)
	p.Views = views
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	gs := transport.NewGRPCServer(ctx, views, transport.NewStatus(m, views))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = transport.Serve(ctx, gs, lis) }()
	return p, lis.Addr().String()
}

// openStreams opens n connections with one ADS stream each, asks for what
// benchSubs says, type after type, and waits for each answer.
func openStreams(addr string, n int, sidecars bool) ([]*benchStream, error) {
	out := make([]*benchStream, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				errs <- err
				return
			}
			s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
			if err != nil {
				errs <- err
				return
			}
			node := &core.Node{Id: fmt.Sprintf("sidecar~10.0.0.1~c%d.ns-0~ns-0.svc.cluster.local", i), Metadata: grpcMeta()}
			if sidecars {
				node = clientNode(i)
			}
			st := &benchStream{s: s, subs: map[string][]string{}}
			for _, sub := range benchSubs(sidecars) {
				st.subs[sub.typeURL] = sub.names
				if err := s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: sub.typeURL, ResourceNames: sub.names}); err != nil {
					errs <- err
					return
				}
				node = nil // sent once, on the first request
				for {
					r, err := s.Recv()
					if err != nil {
						errs <- err
						return
					}
					_ = st.ack(r)
					if r.TypeUrl == sub.typeURL {
						break
					}
				}
			}
			out[i] = st
		})
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// waitAll waits for the next response on every stream, ACKs it, and returns
// when each arrived.
func waitAll(streams []*benchStream) ([]time.Time, error) {
	at := make([]time.Time, len(streams))
	errs := make(chan error, len(streams))
	var wg sync.WaitGroup
	for i, st := range streams {
		wg.Go(func() {
			r, err := st.s.Recv()
			if err != nil {
				errs <- err
				return
			}
			at[i] = time.Now()
			_ = st.ack(r)
		})
	}
	wg.Wait()
	close(errs)
	return at, <-errs
}
