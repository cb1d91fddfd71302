package translate

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/config"
)

func parse(t *testing.T, path string, data []byte) []*config.Resource {
	t.Helper()
	rs, errs := config.Parse(path, data)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", path, errs[0])
	}
	config.DefaultNamespace(rs, "default")
	return rs
}

// TestNextEqualsNewIndex applies events one at a time to a live store of
// the envoy-bookinfo case and checks after each that the index derived
// with Next translates every view exactly as one built whole, and that a
// host no event touched keeps its part (same identity) across Next.
func TestNextEqualsNewIndex(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/server/envoy-bookinfo/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	live := config.NewLiveStore()
	snap := live.Put(parse(t, "in.yaml", data)...)
	views := []View{{Namespace: "default", Servers: true}, {Namespace: "other"}, {Namespace: "default", Workload: "reviews-v1-0"}, {Namespace: "mesh-system", Workload: "ingress-0", Gateway: true}}
	x := NewIndex(Input{Store: snap})
	for _, v := range views {
		x.Build(v) // fill the part caches that Next carries over
	}
	productpage := "productpage.default.svc.cluster.local"
	events := []struct{ name, yaml string }{
		{"route weights", `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: reviews, namespace: default}, spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}, weight: 10}, {destination: {host: reviews, subset: v2}, weight: 90}]}]}}`},
		{"subset removed", `{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: reviews, namespace: default}, spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}}`},
		{"pod relabelled", `{apiVersion: v1, kind: Pod, metadata: {name: reviews-v2-0, namespace: default, labels: {app: reviews, version: v1}}, spec: {containers: [{name: app, image: reviews}]}, status: {podIP: 10.244.0.11}}`},
		{"pod added", `{apiVersion: v1, kind: Pod, metadata: {name: productpage-v1-1, namespace: default, labels: {app: productpage, version: v1}}, spec: {containers: [{name: app, image: productpage}]}, status: {podIP: 10.244.0.21}}`},
		{"endpoint added", `{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: reviews-2, namespace: default, labels: {kubernetes.io/service-name: reviews}}, addressType: IPv4, ports: [{name: http, port: 9080}], endpoints: [{addresses: [10.244.0.12], conditions: {ready: true}}]}`},
		{"route to a service not there yet", `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: pp, namespace: default}, spec: {hosts: [productpage], http: [{route: [{destination: {host: ratings}}]}]}}`},
		{"that service appears", `{apiVersion: v1, kind: Service, metadata: {name: ratings, namespace: default}, spec: {ports: [{name: http, port: 9080}]}}`},
		{"sidecar egress scope", `{apiVersion: networking.istio.io/v1, kind: Sidecar, metadata: {name: default, namespace: default}, spec: {egress: [{hosts: ["./productpage.default.svc.cluster.local"]}]}}`},
		{"wildcard destination rule", `{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: all, namespace: other}, spec: {host: "*.default.svc.cluster.local", trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}}`},
	}
	for _, ev := range events {
		prev := snap
		snap = live.Put(parse(t, ev.name, []byte(ev.yaml))...)
		next := x.Next(Input{Store: snap}, snap.ChangesSince(prev))
		whole := NewIndex(Input{Store: snap})
		for _, v := range views {
			a, _ := yaml.Marshal(next.Build(v))
			b, _ := yaml.Marshal(whole.Build(v))
			if string(a) != string(b) {
				t.Fatalf("%s, view %+v: incremental translation differs from a whole one:\n--- incremental\n%s\n--- whole\n%s", ev.name, v, a, b)
			}
		}
		if ev.name == "endpoint added" || ev.name == "route weights" {
			if partOf(x, "default", productpage) != partOf(next, "default", productpage) {
				t.Errorf("%s: the part of %s was rebuilt, but nothing about it changed", ev.name, productpage)
			}
		}
		x = next
	}
}

func partOf(x *Index, ns, host string) *HostPart {
	for _, p := range x.HostParts(ns) {
		if p.Host == host {
			return p
		}
	}
	return nil
}
