package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// meshOf returns the objects of a mesh of services services with
// podsPerService ready pods each (one EndpointSlice per service), a
// VirtualService and a DestinationRule with two subsets per service, in 20
// namespaces.
func meshOf(tb testing.TB, services, podsPerService int) []*Resource {
	tb.Helper()
	var out []*Resource
	add := func(o runtime.Object) {
		r, err := FromObject(o)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	ready := true
	port := int32(8080)
	pname := "http"
	for i := 0; i < services; i++ {
		ns := "ns" + strconv.Itoa(i%20)
		name := "svc" + strconv.Itoa(i)
		add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-abc", Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port}}}
		for j := 0; j < podsPerService; j++ {
			pod := fmt.Sprintf("%s-%d", name, j)
			ip := fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j)
			add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: map[string]string{"app": name, "version": "v" + strconv.Itoa(j%2)}},
				Status: corev1.PodStatus{PodIP: ip}})
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: ns}})
		}
		add(es)
		vs := &networkingclient.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		vs.Spec.Hosts = []string{name}
		vs.Spec.Http = []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{
			{Destination: &networking.Destination{Host: name, Subset: "v0"}, Weight: 90},
			{Destination: &networking.Destination{Host: name, Subset: "v1"}, Weight: 10}}}}
		add(vs)
		dr := &networkingclient.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		dr.Spec.Host = name
		dr.Spec.Subsets = []*networking.Subset{{Name: "v0", Labels: map[string]string{"version": "v0"}}, {Name: "v1", Labels: map[string]string{"version": "v1"}}}
		add(dr)
	}
	return out
}

// BenchmarkRegistry1kServices10kEndpoints builds the registry of a snapshot
// and, for every service, the per-host view the translation reads: its
// VirtualServices, merged DestinationRule and the endpoints of each subset.
func BenchmarkRegistry1kServices10kEndpoints(b *testing.B) {
	snap := NewSnapshot(meshOf(b, 1000, 10))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		g := NewRegistry(snap, nil)
		n := 0
		for _, s := range g.Services() {
			if len(g.VirtualServices(s.Host, s.Namespace, MeshGateway)) != 1 {
				b.Fatal("routes missing")
			}
			dr := g.DestinationRule(s.Host, s.Namespace)
			for _, ss := range dr.Subsets {
				n += len(s.EndpointsFor(80, ss.Labels))
			}
		}
		if n != 10000 {
			b.Fatalf("%d endpoints in subsets", n)
		}
	}
}

// BenchmarkLiveStoreOneEvent applies one pod update to a live store holding
// 1,000 services, 10,000 pods and their slices, routes and rules (14,000
// objects; 500 pods in the namespace of the changed one).
func BenchmarkLiveStoreOneEvent(b *testing.B) {
	l := NewLiveStore()
	l.Put(meshOf(b, 1000, 10)...)
	pod := l.Snapshot().Get(KindPod, "ns7", "svc7-3")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := *pod
		r.ResourceVersion = strconv.Itoa(i)
		l.Put(&r)
	}
	if l.Snapshot().Len() != 14000 {
		b.Fatal(l.Snapshot().Len())
	}
}

// configMapWithKeys is one ConfigMap document with n data keys.
func configMapWithKeys(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  key%d: value%d\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkParseConfigMap100kKeys reads one document of 100,000 keys, as
// validate, analyze and kube-inject do: a cost linear in the document's size
// (it was quadratic past 65,536 values: 80,000 keys took two minutes).
func BenchmarkParseConfigMap100kKeys(b *testing.B) {
	data := configMapWithKeys(100000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rs, errs := Parse("big.yaml", data)
		if len(rs) != 1 || len(errs) != 0 {
			b.Fatalf("%d resources, %v", len(rs), errs)
		}
	}
}

// BenchmarkRegistryOneEvent is the server's path for a lone change in a
// mesh of 1,000 services and 10,000 endpoints: the event goes into the live
// store, the registry of the new snapshot is derived from the previous one
// (Registry.Update over Snapshot.ChangesSince), and the per-host view of the
// changed service (its routes, merged DestinationRule and the endpoints of
// each subset) is read again. BenchmarkRegistry1kServices10kEndpoints is
// the full rebuild it avoids.
func BenchmarkRegistryOneEvent(b *testing.B) {
	for _, kind := range []Kind{KindEndpointSlice, KindVirtualService, KindPod} {
		b.Run(string(kind), func(b *testing.B) {
			l := NewLiveStore()
			snap := l.Put(meshOf(b, 1000, 10)...)
			g := NewRegistry(snap, nil)
			var obj *Resource
			switch kind {
			case KindEndpointSlice:
				obj = snap.Get(kind, "ns7", "svc7-abc")
			case KindPod:
				obj = snap.Get(kind, "ns7", "svc7-3")
			default:
				obj = snap.Get(kind, "ns7", "svc7")
			}
			host := g.Hosts.Resolve("svc7", "ns7")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := *obj
				r.ResourceVersion = strconv.Itoa(i)
				next := l.Put(&r)
				g = g.Update(next, next.ChangesSince(snap))
				snap = next
				svcs := g.Service(host)
				if len(svcs) != 1 || len(g.VirtualServices(host, "ns7", MeshGateway)) != 1 {
					b.Fatal("view of the changed service missing")
				}
				n := 0
				for _, ss := range g.DestinationRule(host, "ns7").Subsets {
					n += len(svcs[0].EndpointsFor(80, ss.Labels))
				}
				if n != 10 {
					b.Fatalf("%d endpoints in subsets", n)
				}
			}
		})
	}
}
