package server

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/go-logr/logr"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// envoyMesh is bigMesh's four services (svc-i in ns-i, pods svc-i-0 and
// svc-i-1) with an ingress gateway pod in ns-0, its Gateway, and a
// VirtualService bound only to that Gateway.
func envoyMesh(t *testing.T, gatewayWeight int) []*config.Resource {
	t.Helper()
	rs := bigMesh(t, 4, 2, 50)
	gw, errs := config.Parse("gateway.yaml", []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: ingress-0, namespace: ns-0, labels: {istio: ingressgateway}}
spec: {containers: [{name: proxy, image: x}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: ns-0}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: ns-0}
spec:
  hosts: [shop.example.com]
  gateways: [ingress]
  http:
  - route:
    - {destination: {host: svc-2.ns-2.svc.cluster.local, subset: v1}, weight: %d}
    - {destination: {host: svc-2.ns-2.svc.cluster.local, subset: v2}, weight: %d}
`, gatewayWeight, 100-gatewayWeight)))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	return append(rs, gw...)
}

func parseOne(t *testing.T, doc string) []*config.Resource {
	t.Helper()
	rs, errs := config.Parse("change.yaml", []byte(doc))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	return rs
}

// versions is what each type of a view was last published as.
func versions(v *transport.View) map[string]string {
	out := map[string]string{}
	for _, typ := range generate.Types {
		out[typ] = v.Version(typ)
	}
	return out
}

// resent lists the types whose version changed, short names, sorted.
func resent(before, after map[string]string) []string {
	var out []string
	for typ, v := range after {
		if before[typ] != v {
			out = append(out, generate.ShortType(typ))
		}
	}
	slices.Sort(out)
	return out
}

// TestEnvoyViewsResendOnlyWhatAnEventTouches: Envoy sidecars and a
// gateway, and for each kind of event, which types each proxy is sent
// again (a type is sent when its version changes): a route change sends
// route configs only, to the proxies that see the route; an endpoint change
// sends endpoints only; a PeerAuthentication sends listeners to the
// workloads it selects only; a gateway route change reaches the gateway
// only. Resources an event does not touch are not generated again: they
// are the very same messages, and two sidecars of a namespace share them.
func TestEnvoyViewsResendOnlyWhatAnEventTouches(t *testing.T) {
	p := &Pusher{Log: logr.Discard()}
	p.Views = transport.NewViews(p.Populate, nil)
	live := config.NewLiveStore()
	live.Put(envoyMesh(t, 50)...)
	p.Update(live.Snapshot())
	node := func(kind, pod, ns string) *core.Node {
		return &core.Node{Id: kind + "~10.0.0.1~" + pod + "." + ns + "~" + ns + ".svc.cluster.local"}
	}
	proxies := map[string]*transport.View{
		"ns-0/svc-0-0": p.Views.Ensure(node("sidecar", "svc-0-0", "ns-0")),
		"ns-0/svc-0-1": p.Views.Ensure(node("sidecar", "svc-0-1", "ns-0")),
		"ns-1/svc-1-0": p.Views.Ensure(node("sidecar", "svc-1-0", "ns-1")),
		"gateway":      p.Views.Ensure(node("router", "ingress-0", "ns-0")),
	}
	a, b := proxies["ns-0/svc-0-0"].Resources(), proxies["ns-0/svc-0-1"].Resources()
	for _, typ := range []string{generate.ClusterType, generate.EndpointType, generate.RouteType} {
		if len(a[typ]) == 0 {
			t.Fatalf("the sidecar has no %s", generate.ShortType(typ))
		}
		for name, m := range a[typ] {
			if b[typ][name] != m {
				t.Errorf("%s %s: two sidecars of ns-0 hold two copies", generate.ShortType(typ), name)
			}
		}
	}
	if gw := proxies["gateway"].Resources(); gw[generate.RouteType]["http.80"] == nil {
		t.Fatalf("the gateway has no route config http.80: %v", gw.Names(generate.RouteType))
	}

	steps := []struct {
		name   string
		change []*config.Resource
		want   map[string]string // proxy → types sent again
	}{{
		name:   "VirtualService svc-0 50/50 → 90/10",
		change: changedVS(t),
		want:   map[string]string{"ns-0/svc-0-0": "RouteConfiguration", "ns-0/svc-0-1": "RouteConfiguration", "ns-1/svc-1-0": "RouteConfiguration", "gateway": ""},
	}, {
		name: "EndpointSlice svc-1: one endpoint moves",
		change: parseOne(t, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1-1, namespace: ns-1, labels: {kubernetes.io/service-name: svc-1}}
addressType: IPv4
ports: [{name: grpc, port: 8080}]
endpoints:
- {addresses: [10.100.1.0], conditions: {ready: true}, targetRef: {kind: Pod, name: svc-1-0}}
- {addresses: [10.100.1.9], conditions: {ready: true}, targetRef: {kind: Pod, name: svc-1-1}}
`),
		want: map[string]string{"ns-0/svc-0-0": "ClusterLoadAssignment", "ns-0/svc-0-1": "ClusterLoadAssignment", "ns-1/svc-1-0": "ClusterLoadAssignment", "gateway": "ClusterLoadAssignment"},
	}, {
		name: "PeerAuthentication STRICT for svc-0's pods",
		change: parseOne(t, `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: ns-0}
spec: {selector: {matchLabels: {app: svc-0}}, mtls: {mode: STRICT}}
`),
		want: map[string]string{"ns-0/svc-0-0": "Listener", "ns-0/svc-0-1": "Listener", "ns-1/svc-1-0": "", "gateway": ""},
	}, {
		name:   "gateway VirtualService 50/50 → 80/20",
		change: envoyMesh(t, 80)[len(envoyMesh(t, 80))-1:],
		want:   map[string]string{"ns-0/svc-0-0": "", "ns-0/svc-0-1": "", "ns-1/svc-1-0": "", "gateway": "RouteConfiguration"},
	}}
	for _, step := range steps {
		before := map[string]map[string]string{}
		held := map[string]generate.Resources{}
		for k, v := range proxies {
			before[k], held[k] = versions(v), v.Resources()
		}
		live.Put(step.change...)
		p.Update(live.Snapshot())
		for _, k := range slices.Sorted(maps.Keys(proxies)) {
			v := proxies[k]
			got := strings.Join(resent(before[k], versions(v)), ",")
			if got != step.want[k] {
				t.Errorf("%s: %s was sent %q again, want %q", step.name, k, got, step.want[k])
			}
			// What was not sent again was not generated again either.
			now := v.Resources()
			for _, typ := range generate.Types {
				if strings.Contains(step.want[k], generate.ShortType(typ)) {
					continue
				}
				for name, m := range now[typ] {
					if held[k][typ][name] != m {
						t.Errorf("%s: %s's %s %s was generated again", step.name, k, generate.ShortType(typ), name)
					}
				}
			}
		}
	}
}

// TestEnvoyNodeWithoutPod: an Envoy whose node id does not follow Istio's
// form (no pod, no namespace) is served the outbound config of namespace
// default and no inbound, instead of failing the server.
func TestEnvoyNodeWithoutPod(t *testing.T) {
	p := &Pusher{Log: logr.Discard()}
	p.Views = transport.NewViews(p.Populate, nil)
	live := config.NewLiveStore()
	live.Put(parseOne(t, reviewsYAML(map[string]string{"v1": "10.0.0.1", "v2": "10.0.0.2", "v3": "10.0.0.3"}, 9080))...)
	p.Update(live.Snapshot())
	for _, id := range []string{"plain-envoy", "router"} {
		v := p.Views.Ensure(&core.Node{Id: id})
		res := v.Resources()
		if res[generate.ClusterType]["outbound|9080||reviews.default.svc.cluster.local"] == nil {
			t.Errorf("%s: no reviews cluster: %v", id, res.Names(generate.ClusterType))
		}
		if res[generate.ListenerType][generate.VirtualInboundListener] != nil {
			t.Errorf("%s: an inbound listener for a proxy with no pod", id)
		}
	}
	live.Put(changedVS(t)...)
	p.Update(live.Snapshot()) // and again after an event
}
