package config

import (
	"strings"
	"testing"
)

const gatewayAPIDocs = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs:
  - name: web
    namespace: infra
  rules:
  - backendRefs:
    - name: reviews-v1
      port: 9080
      weight: 90
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: default}
spec:
  rules:
  - matches: [{method: {service: echo.Echo}}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-default, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
`

func TestParseGatewayAPIKinds(t *testing.T) {
	rs, errs := Parse("gw.yaml", []byte(gatewayAPIDocs))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	want := []Kind{KindKubernetesGateway, KindHTTPRoute, KindGRPCRoute, KindReferenceGrant, KindGatewayClass}
	if len(rs) != len(want) {
		t.Fatalf("parsed %d objects, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.Kind != want[i] || !r.Known() {
			t.Errorf("object %d: kind %q (known %v), want %q", i, r.Kind, r.Known(), want[i])
		}
	}
	if g := rs[0].KubernetesGateway(); g == nil || g.Spec.Listeners[0].Port != 80 || rs[0].Gateway() != nil {
		t.Errorf("Gateway API Gateway decoded as %#v", rs[0].Spec)
	}
	if got := rs[0].String(); got != "Gateway.gateway.networking.k8s.io infra/web" {
		t.Errorf("a Gateway API Gateway is shown as %q", got)
	}
	hr := rs[1].HTTPRoute()
	if hr == nil || *hr.Spec.Rules[0].BackendRefs[0].Weight != 90 || string(*hr.Spec.ParentRefs[0].Namespace) != "infra" {
		t.Fatalf("v1beta1 HTTPRoute decoded as %#v", rs[1].Spec)
	}
	if l := rs[1].Line("spec.rules[0].backendRefs[0].weight"); l != 22 {
		t.Errorf("weight line %d, want 22", l)
	}
	if rs[2].GRPCRoute() == nil || *rs[2].GRPCRoute().Spec.Rules[0].Matches[0].Method.Service != "echo.Echo" {
		t.Errorf("GRPCRoute decoded as %#v", rs[2].Spec)
	}
	if rg := rs[3].ReferenceGrant(); rg == nil || rg.Spec.To[0].Kind != "Service" {
		t.Errorf("ReferenceGrant decoded as %#v", rs[3].Spec)
	}
	if gc := rs[4].GatewayClass(); gc == nil || gc.Spec.ControllerName != "istio.io/gateway-controller" || rs[4].Namespace != "" {
		t.Errorf("GatewayClass decoded as %#v", rs[4].Spec)
	}
	for name, kind := range map[string]Kind{
		"gateways.gateway.networking.k8s.io": KindKubernetesGateway, "Gateway.gateway.networking.k8s.io": KindKubernetesGateway,
		"Gateway": KindGateway, "httproutes": KindHTTPRoute, "referencegrant": KindReferenceGrant,
	} {
		if k, ok := ResolveKind(name); !ok || k != kind {
			t.Errorf("ResolveKind(%q) = %q, want %q", name, k, kind)
		}
	}
}

// Gateway API objects are read as the API server reads them under strict
// field validation: each unknown field and wrong type is an error with its
// path and line.
func TestParseGatewayAPIStrict(t *testing.T) {
	_, errs := Parse("gw.yaml", []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs:
    - name: reviews
      port: "9080"
    - name: ratings
      prot: 9080
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: Gateway
metadata: {name: g, namespace: default}
spec: {gatewayClassName: istio}
`))
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`gw.yaml:9: HTTPRoute default/r: spec.rules[0].backendRefs[0].port: expected an integer, got string`,
		`gw.yaml:11: HTTPRoute default/r: spec.rules[0].backendRefs[1].prot: unknown field`,
		`gw.yaml:13: Gateway.gateway.networking.k8s.io default/g: gateway.networking.k8s.io/v1alpha2 is not served for Gateway; use apiVersion gateway.networking.k8s.io/v1`,
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}
