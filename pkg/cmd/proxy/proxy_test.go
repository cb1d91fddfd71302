package proxy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/server"
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
func startServer(t *testing.T) (monitoring string) {
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
	return mlis.Addr().String()
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
	addr := startServer(t)

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
