package proxy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/server"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

const reviews = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {ports: [{name: grpc, port: 9080}], selector: {app: reviews}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: grpc, port: 9080}]
endpoints:
- {addresses: [127.0.0.2], conditions: {ready: true}}
`

// startServer runs the xDS transport and the monitoring endpoints of a
// server fed from a fixed snapshot, and connects one proxyless gRPC client.
func startServer(t *testing.T) (monitoring, xdsAddr string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := transport.NewMetrics(reg)
	p := &server.Pusher{Metrics: m, Log: logr.Discard()}
	views := transport.NewViews(p.Populate, nil)
	p.Views = views
	st := transport.NewStatus(m, views)
	rs, errs := config.Parse("reviews.yaml", []byte(reviews))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	p.Update(config.NewStoreFrom(rs))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = transport.Serve(ctx, transport.NewGRPCServer(ctx, views, st), lis) }()
	mlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: (&server.Monitor{Name: "test-server", Status: st, Views: views, Pusher: p, Gatherer: reg}).Handler()}
	go func() { _ = hs.Serve(mlis) }()
	t.Cleanup(func() { _ = hs.Close() })

	c := xdstest.NewClient(t, "xds:///reviews.default.svc.cluster.local:9080",
		xdstest.Bootstrap(lis.Addr().String(), xdstest.NodeID("10.244.1.1", "client-0", "default"), "default"))
	c.Conn.Connect()
	if !xdstest.Eventually(10*time.Second, func() bool {
		sz, err := (&server.DebugClient{BaseURL: "http://" + mlis.Addr().String()}).Syncz(ctx)
		if err != nil || len(sz.Proxies) != 1 {
			return false
		}
		for _, typ := range server.TypeOrder {
			if sz.Proxies[0].SyncState(typ.URL) != server.StateSynced {
				return false
			}
		}
		return true
	}) {
		t.Fatal("client not synced within 10s")
	}
	return mlis.Addr().String(), lis.Addr().String()
}

// nackRoutes connects a proxyless client of namespace ns to the xDS server
// at addr that asks for one route config and rejects it, as a client does
// with a config it cannot use. It returns once the NACK is sent.
func nackRoutes(t *testing.T, addr, pod, ns, routeName string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": ns})
	node := &core.Node{Id: xdstest.NodeID("10.244.1.2", pod, ns), Metadata: md}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: generate.RouteType, ResourceNames: []string{routeName}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{TypeUrl: generate.RouteType, ResourceNames: []string{routeName},
		ResponseNonce: resp.Nonce, ErrorDetail: &rpcstatus.Status{Code: 3, Message: "route rejected by test client"}}); err != nil {
		t.Fatal(err)
	}
}

// row returns the proxy-status line of proxy, with its columns.
func row(t *testing.T, out, proxy string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == proxy {
			return strings.Split(regexp.MustCompile(`\s{2,}`).ReplaceAllString(strings.TrimSpace(l), "\t"), "\t")
		}
	}
	t.Fatalf("proxy-status lists no %s:\n%s", proxy, out)
	return nil
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	streams, _, out, _ := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	var cmd = NewCmdProxyStatus(f)
	if args[0] == "proxy-config" {
		cmd = NewCmdProxyConfig(f)
	}
	cmd.SetArgs(args[1:])
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return out.String(), err
}

func TestProxyStatusAndConfig(t *testing.T) {
	addr, _ := startServer(t)

	out, err := run(t, "proxy-status", "--monitoring-address", addr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "client-0.default") || strings.Count(lines[1], "SYNCED") != 4 || !strings.Contains(lines[1], "test-server") {
		t.Errorf("proxy-status:\n%s", out)
	}

	out, err = run(t, "proxy-config", "routes", "client-0.default", "--monitoring-address", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "outbound|9080||reviews.default.svc.cluster.local") {
		t.Errorf("proxy-config routes:\n%s", out)
	}
	out, err = run(t, "proxy-config", "endpoints", "client-0.default", "--monitoring-address", addr, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var eps []map[string]any
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps) != 1 || !strings.Contains(out, "127.0.0.2") {
		t.Errorf("proxy-config endpoints -o json (%v):\n%s", err, out)
	}

	if _, err := run(t, "proxy-config", "clusters", "nobody.default", "--monitoring-address", addr); err == nil || !strings.Contains(err.Error(), "no proxy nobody.default") {
		t.Errorf("an unknown proxy: %v", err)
	}
	if _, err := run(t, "proxy-config", "bogus", "client-0.default", "--monitoring-address", addr); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("an unknown config type: %v (exit %d)", err, cmdutil.ExitCode(err))
	}
}

// TestProxyStatusNACK: a client that rejected its routes is shown NACKED
// for RDS in the table, beside a synced one, and -o yaml carries the reason.
func TestProxyStatusNACK(t *testing.T) {
	addr, xdsAddr := startServer(t)
	nackRoutes(t, xdsAddr, "bad-0", "default", "outbound|9080||reviews.default.svc.cluster.local")
	var out string
	if !xdstest.Eventually(10*time.Second, func() bool {
		var err error
		out, err = run(t, "proxy-status", "--monitoring-address", addr)
		return err == nil && strings.Contains(out, "NACKED")
	}) {
		t.Fatalf("proxy-status shows no NACK:\n%s", out)
	}
	// NAME KIND CDS LDS EDS RDS SERVER
	if got, want := strings.Join(row(t, out, "bad-0.default"), "|"), "bad-0.default|grpc|NOT SENT|NOT SENT|NOT SENT|NACKED|test-server"; got != want {
		t.Errorf("the NACKing client: %s, want %s\n%s", got, want, out)
	}
	if got, want := strings.Join(row(t, out, "client-0.default"), "|"), "client-0.default|grpc|SYNCED|SYNCED|SYNCED|SYNCED|test-server"; got != want {
		t.Errorf("the synced client: %s, want %s\n%s", got, want, out)
	}
	y, err := run(t, "proxy-status", "--monitoring-address", addr, "-o", "yaml")
	if err != nil || !strings.Contains(y, "route rejected by test client") {
		t.Errorf("proxy-status -o yaml lacks the NACK reason (%v):\n%s", err, y)
	}
}
