package config

import (
	"reflect"
	"testing"
)

func TestHostsResolveEveryForm(t *testing.T) {
	rs, errs := Parse("x.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo}\n"))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	h := NewHosts(NewStoreFrom(rs), "")
	for in, want := range map[string]string{
		"reviews":                            "reviews.default.svc.cluster.local",
		"Reviews.":                           "reviews.default.svc.cluster.local",
		"reviews.bookinfo":                   "reviews.bookinfo.svc.cluster.local",
		"reviews.bookinfo.svc":               "reviews.bookinfo.svc.cluster.local",
		"reviews.bookinfo.svc.cluster.local": "reviews.bookinfo.svc.cluster.local",
		"example.com":                        "example.com", // "com" is no namespace
		"*.example.com":                      "*.example.com",
		"*":                                  "*",
	} {
		if got := h.Resolve(in, "default"); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, want)
		}
	}
	if !HostMatches("a.example.com", "*.example.com") || HostMatches("example.com", "*.example.com") || !HostMatches("x", "*") {
		t.Error("wildcard matching")
	}
	if !HostsOverlap("*.a.example.com", "*.example.com") || HostsOverlap("*.a.com", "*.b.com") {
		t.Error("overlap")
	}
	if PortProtocol("http-web", "") != ProtocolHTTP || PortProtocol("tcp", "grpc") != ProtocolGRPC || PortProtocol("web", "") != "" ||
		PortProtocol("x", "kubernetes.io/h2c") != ProtocolHTTP2 {
		t.Error("port protocol")
	}
}

const registryYAML = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-a, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-a, namespace: bookinfo, labels: {app: reviews, version: v2}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-b, namespace: bookinfo, labels: {app: reviews, version: v2}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.3, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: bookinfo}
spec:
  hosts: ["*.example.com"]
  exportTo: ["."]
  ports: [{name: https, number: 443, protocol: TLS}]
  resolution: NONE
  workloadSelector: {labels: {app: ext}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: bookinfo}
spec: {address: 192.0.2.1, labels: {app: ext}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: bookinfo}
spec:
  hosts: ["*.bookinfo.svc.cluster.local"]
  gateways: [bookinfo-gateway, mesh]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: bookinfo}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets: [{name: v1, labels: {version: none}}, {name: any, labels: {}}]
`

func TestRegistry(t *testing.T) {
	rs, errs := Parse("r.yaml", []byte(registryYAML))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	g := NewRegistry(NewSnapshot(rs), nil)
	svcs := g.Lookup("reviews", "bookinfo")
	if len(svcs) != 1 || svcs[0].Host != "reviews.bookinfo.svc.cluster.local" || svcs[0].Ports[0].Protocol != ProtocolHTTP {
		t.Fatalf("lookup reviews: %+v", svcs)
	}
	for _, form := range []string{"reviews.bookinfo", "reviews.bookinfo.svc", "reviews.bookinfo.svc.cluster.local"} {
		if got := g.Lookup(form, "other"); len(got) != 1 || got[0] != svcs[0] {
			t.Errorf("lookup %s from another namespace: %v", form, got)
		}
	}
	dr := g.DestinationRule(svcs[0].Host, "bookinfo")
	if dr == nil || dr.TrafficPolicy.GetLoadBalancer().GetSimple().String() != "RANDOM" || len(dr.Rules) != 2 {
		t.Fatalf("destination rule view: %+v", dr)
	}
	if got := dr.Subset("v1").Labels["version"]; got != "v1" {
		t.Errorf("exact host rule must define v1 first, got version=%s", got)
	}
	if dr.Subset("any") == nil || dr.SubsetOrigin["any"].Name != "all" {
		t.Error("subsets of the wildcard rule are merged")
	}
	addrs := func(eps []EndpointPort) []string {
		var out []string
		for _, e := range eps {
			out = append(out, e.Address)
		}
		return out
	}
	if got := addrs(svcs[0].EndpointsFor(9080, dr.Subset("v2").Labels)); !reflect.DeepEqual(got, []string{"10.244.0.2"}) {
		t.Errorf("v2 endpoints %v (the unready pod must be left out)", got)
	}
	if got := addrs(svcs[0].EndpointsFor(9080, nil)); len(got) != 2 {
		t.Errorf("all ready endpoints %v", got)
	}
	if svcs[0].EndpointsFor(1234, nil) != nil {
		t.Error("unknown port has endpoints")
	}

	ext := g.Lookup("api.example.com", "bookinfo")
	if len(ext) != 1 || ext[0].Endpoints[0].Address != "192.0.2.1" || ext[0].VisibleFrom("other") || !ext[0].VisibleFrom("bookinfo") {
		t.Errorf("wildcard ServiceEntry: %+v", ext)
	}

	names := func(rs []*Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	if got := names(g.VirtualServices(svcs[0].Host, "bookinfo", MeshGateway)); !reflect.DeepEqual(got, []string{"reviews", "edge"}) {
		t.Errorf("mesh routes %v, want exact host before wildcard", got)
	}
	if got := names(g.VirtualServices(svcs[0].Host, "bookinfo", "bookinfo/bookinfo-gateway")); !reflect.DeepEqual(got, []string{"edge"}) {
		t.Errorf("gateway routes %v", got)
	}
}

func TestGatewayAPIGatewayKeepsItsOwnIdentity(t *testing.T) {
	rs, errs := Parse("gw.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec: {selector: {istio: ingressgateway}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec: {gatewayClassName: mesh}
---
apiVersion: example.com/v1
kind: Gateway
metadata: {name: web, namespace: default}
`))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	s := NewStoreFrom(rs)
	if s.Len() != 3 || len(s.Duplicates()) != 0 {
		t.Fatalf("two different kinds named Gateway collided: %d objects, %d duplicates", s.Len(), len(s.Duplicates()))
	}
	if g := s.Get(KindGateway, "default", "web"); g == nil || g.Gateway() == nil {
		t.Error("the Istio Gateway is not the modelled one")
	}
	if g := s.Get(Kind("Gateway.gateway.networking.k8s.io"), "default", "web"); g == nil || g.KubernetesGateway() == nil || g.KubernetesGateway().Spec.GatewayClassName != "mesh" {
		t.Error("the Gateway API Gateway should be modelled under its qualified kind")
	}
	if g := s.Get(Kind("Gateway.example.com"), "default", "web"); g == nil || g.Known() {
		t.Error("a Gateway of an unmodelled group should be kept, unmodelled, under its qualified kind")
	}
}

func TestConfigForAHost(t *testing.T) {
	rs, errs := Parse("r.yaml", []byte(registryYAML))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	g := NewRegistry(NewSnapshot(rs), nil)
	vs, dr := g.ConfigFor("reviews.bookinfo.svc.cluster.local")
	if len(vs) != 1 || vs[0].Name != "reviews" || len(dr) != 1 || dr[0].Name != "reviews" {
		t.Errorf("exact host config: %v %v", vs, dr)
	}
	vs, dr = g.ConfigFor("*.svc.cluster.local")
	if len(vs) != 0 || len(dr) != 1 || dr[0].Name != "all" {
		t.Errorf("wildcard host config: %v %v", vs, dr)
	}
	want := []string{"*.bookinfo.svc.cluster.local", "*.svc.cluster.local", "reviews.bookinfo.svc.cluster.local"}
	if got := g.RoutedHosts(); !reflect.DeepEqual(got, want) {
		t.Errorf("routed hosts %v", got)
	}
}

// After the proxy's namespace, a DestinationRule of the service's own
// namespace wins over an older one elsewhere (as the mesh looks them up).
func TestDestinationRuleOfTheServiceNamespaceBeforeOthers(t *testing.T) {
	rs, errs := Parse("x.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: elsewhere, namespace: aaa, creationTimestamp: "2020-01-01T00:00:00Z"}
spec: {host: reviews.bookinfo.svc.cluster.local, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: own, namespace: bookinfo, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}
`))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	g := NewRegistry(NewStoreFrom(rs), nil)
	v := g.DestinationRule("reviews.bookinfo.svc.cluster.local", "default")
	if v == nil || len(v.Rules) != 2 || v.Rules[0].Name != "own" || v.TrafficPolicy.GetLoadBalancer().GetSimple().String() != "LEAST_REQUEST" {
		t.Fatalf("want the rule of bookinfo first, got %+v", v)
	}
	if v := g.DestinationRule("reviews.bookinfo.svc.cluster.local", "aaa"); v.Rules[0].Name != "elsewhere" {
		t.Errorf("from aaa its own rule comes first, got %s", v.Rules[0].Name)
	}
}
