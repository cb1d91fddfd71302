package config

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

func parseOne(t *testing.T, y string) *Resource {
	t.Helper()
	rs, errs := Parse("event.yaml", []byte(y))
	if len(errs) > 0 || len(rs) != 1 {
		t.Fatalf("%q: %v", y, errs)
	}
	return rs[0]
}

// describeRegistry prints everything a registry answers about its hosts, for
// comparing an updated registry with one built whole.
func describeRegistry(g *Registry, nss []string) string {
	var b strings.Builder
	for _, s := range g.Services() {
		fmt.Fprintf(&b, "%s %s %s %v %v %s\n", s.Host, s.Resource, s.Resolution, s.Ports, s.ExportTo, s.Namespace)
		var eps []string
		for _, e := range s.Endpoints {
			w := ""
			if e.Workload != nil {
				w = e.Workload.String()
			}
			eps = append(eps, fmt.Sprintf("%s %v %v %v %s", e.Address, e.Ready, e.Ports, e.Labels, w))
		}
		sort.Strings(eps)
		fmt.Fprintf(&b, "  %s\n", strings.Join(eps, "\n  "))
		for _, ns := range nss {
			for _, vs := range g.VirtualServices(s.Host, ns, MeshGateway) {
				fmt.Fprintf(&b, "  from %s: %s\n", ns, vs)
			}
			if dr := g.DestinationRule(s.Host, ns); dr != nil {
				fmt.Fprintf(&b, "  from %s: %v\n", ns, dr.Rules)
			}
		}
		for _, l := range g.Lookup(s.Host, "") {
			fmt.Fprintf(&b, "  lookup %s\n", l.Resource)
		}
	}
	return b.String()
}

// TestRegistryUpdateEqualsRebuild applies events one by one to a live
// store and checks after each that the registry updated from the changes
// answers exactly as one built whole from the new snapshot, and that
// services the event did not touch are shared.
func TestRegistryUpdateEqualsRebuild(t *testing.T) {
	base, errs := Parse("base.yaml", []byte(registryYAML+`
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec: {selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: other}
spec: {ports: [{name: grpc, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: bookinfo}
spec:
  hosts: [api.example.com, "*.wild.example.com"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  workloadSelector: {labels: {app: ext}}
`))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	live := NewLiveStore()
	prev := live.Put(base...)
	g := NewRegistry(prev, nil)
	nss := []string{"bookinfo", "other", "default"}
	events := []struct {
		name string
		put  string
		del  *Key
	}{
		{name: "pod relabelled", put: `{apiVersion: v1, kind: Pod, metadata: {name: reviews-v1-a, namespace: bookinfo, labels: {app: reviews, version: v9}}, spec: {containers: [{name: a, image: x}]}, status: {podIP: 10.244.0.1, conditions: [{type: Ready, status: "True"}]}}`},
		{name: "slice added", put: `{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: other-1, namespace: other, labels: {kubernetes.io/service-name: other}}, addressType: IPv4, ports: [{name: grpc, port: 8081}], endpoints: [{addresses: [10.1.1.1]}]}`},
		{name: "workload entry", put: `{apiVersion: networking.istio.io/v1, kind: WorkloadEntry, metadata: {name: vm2, namespace: bookinfo}, spec: {address: 192.0.2.2, labels: {app: ext}}}`},
		{name: "virtual service", put: `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: r, namespace: other}, spec: {hosts: [reviews.bookinfo], http: [{route: [{destination: {host: reviews.bookinfo}}]}]}}`},
		{name: "destination rule", put: `{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: wild, namespace: other}, spec: {host: "*.bookinfo.svc.cluster.local"}}`},
		{name: "service added", put: `{apiVersion: v1, kind: Service, metadata: {name: api, namespace: bookinfo}, spec: {ports: [{name: https, port: 443}]}}`},
		{name: "service deleted", del: &Key{Kind: KindService, Namespace: "bookinfo", Name: "ratings"}},
		{name: "service entry deleted", del: &Key{Kind: KindServiceEntry, Namespace: "bookinfo", Name: "ext"}},
		{name: "new namespace", put: `{apiVersion: v1, kind: Service, metadata: {name: x, namespace: fresh}, spec: {ports: [{port: 80}]}}`},
	}
	for _, ev := range events {
		var next *Snapshot
		if ev.del != nil {
			next = live.Delete(*ev.del)
		} else {
			r := parseOne(t, ev.put)
			next = live.Put(r)
		}
		changes := next.ChangesSince(prev)
		up := g.Update(next, changes)
		whole := NewRegistry(next, nil)
		if a, b := describeRegistry(up, nss), describeRegistry(whole, nss); a != b {
			t.Fatalf("%s: updated registry differs from a rebuild:\n--- updated\n%s\n--- rebuilt\n%s", ev.name, a, b)
		}
		if ev.name == "virtual service" {
			for i, s := range up.Services() {
				if s != g.Services()[i] {
					t.Errorf("%s: service %s rebuilt, want it shared", ev.name, s.Host)
				}
			}
		}
		g, prev = up, next
	}
}
