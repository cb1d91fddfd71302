package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// TestNACK: a client that rejects a response is shown in syncz and the
// metrics, is not sent the same response again (no NACK storm), and the
// server goes on serving the config to the other clients.
func TestNACK(t *testing.T) {
	srv, base := startReviewsMesh(t)
	good := servedClient(t, srv, "10.244.9.1", "good")

	stream, err := adsClient(t, srv).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const badID = "sidecar~10.244.9.2~bad.default~default.svc.cluster.local"
	node := proxylessNode(badID)
	name := "outbound|9080||reviews.default.svc.cluster.local"
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: generate.RouteType, ResourceNames: []string{name}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("want the route, got %d resources", len(resp.Resources))
	}
	// Reject it.
	if err := stream.Send(&discovery.DiscoveryRequest{TypeUrl: generate.RouteType, ResourceNames: []string{name},
		ResponseNonce: resp.Nonce, ErrorDetail: &status.Status{Code: 3, Message: "route rejected by test client"}}); err != nil {
		t.Fatal(err)
	}
	resent := make(chan *discovery.DiscoveryResponse, 10)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			resent <- r
		}
	}()
	select {
	case r := <-resent:
		t.Errorf("server resent after a NACK without any change (storm): version %s", r.VersionInfo)
	case <-time.After(300 * time.Millisecond):
	}

	mon := httptest.NewServer((&Monitor{Name: "test", Status: srv.status, Views: srv.pusher.Views, Pusher: srv.pusher, Gatherer: srv.reg}).Handler())
	defer mon.Close()
	var sz Syncz
	getJSON(t, mon.URL+PathSyncz, &sz)
	var bad *SynczProxy
	for i := range sz.Proxies {
		if sz.Proxies[i].ID == badID {
			bad = &sz.Proxies[i]
		}
	}
	if bad == nil {
		t.Fatalf("syncz does not list %s: %+v", badID, sz)
	}
	if rt := bad.Types[generate.RouteType]; rt == nil || rt.NackError != "route rejected by test client" || rt.Nacked == "" {
		t.Errorf("syncz does not show the NACK: %+v", bad.Types[generate.RouteType])
	}
	metrics := get(t, mon.URL+PathMetrics)
	if !strings.Contains(metrics, `meshctl_xds_nacks_total{reason="route rejected by test client",type="RouteConfiguration"} 1`) {
		t.Errorf("metrics do not count the NACK:\n%s", grepLines(metrics, "meshctl_xds_nacks"))
	}
	if !strings.Contains(metrics, `meshctl_xds_connected_proxies{kind="grpc"} 2`) {
		t.Errorf("metrics do not count two grpc proxies:\n%s", grepLines(metrics, "connected"))
	}

	// The other client still routes, and a config change reaches both.
	if r := good(); r.Code != codes.OK {
		t.Errorf("good client after the NACK: %v", r.Err)
	}
	srv.pusher.Update(parseStore(t, base, vsYAML("  - route: [{destination: {host: reviews, subset: v2}}]\n")))
	waitFor(t, "change after NACK", func() xdstest.Result { return good() },
		func(r xdstest.Result) bool { return r.Version == "v2" })
	select {
	case r := <-resent:
		if r.VersionInfo == resp.VersionInfo {
			t.Errorf("new config came with the rejected version %s", r.VersionInfo)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the NACKing client was not sent the new route")
	}

	var dump ConfigDump
	getJSON(t, mon.URL+PathConfigDump+"?proxy="+badID, &dump)
	if len(dump.Routes) != 1 || !strings.Contains(string(dump.Routes[0]), "outbound|9080|v2|reviews") {
		t.Errorf("config_dump routes: %s", dump.Routes)
	}
	if code := status0(t, mon.URL+PathConfigDump+"?proxy=nobody"); code != http.StatusNotFound {
		t.Errorf("config_dump of an unknown proxy: %d", code)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func status0(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(get(t, url)), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
