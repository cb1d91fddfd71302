package config

import (
	"reflect"
	"testing"
)

// An HTTPRoute and a GRPCRoute written alike read alike through the shared
// view: parents, hostnames, rule names, match counts, backendRefs with
// weights, and filters (a RequestMirror's backend among them), at the
// same indexes as in the typed rules. Other kinds have no view.
func TestGatewayRouteView(t *testing.T) {
	const rule = `
  parentRefs: [{name: web, namespace: infra, sectionName: http}]
  hostnames: [shop.example.com]
  rules:
  - name: first
    matches: [{headers: [{name: x, value: "1"}]}, {headers: [{name: y, value: "2"}]}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: a, value: b}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 80}}
    backendRefs:
    - name: v1
      port: 80
      weight: 90
      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow2, port: 81}}}]
    - {name: v2, port: 80, weight: 10}
  - backendRefs: [{name: v3, port: 80}]
`
	rs, errs := Parse("routes.yaml", []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h, namespace: default}\nspec:"+rule+
		"---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: default}\nspec:"+rule+
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"))
	if len(errs) > 0 || len(rs) != 3 {
		t.Fatalf("parse: %d resources, %v", len(rs), errs)
	}
	h, g := rs[0].GatewayRoute(), rs[1].GatewayRoute()
	if h == nil || g == nil {
		t.Fatalf("no view of %s or %s", rs[0], rs[1])
	}
	if !reflect.DeepEqual(h, g) {
		t.Errorf("the two kinds read differently:\nHTTPRoute %+v\nGRPCRoute %+v", h, g)
	}
	if len(h.ParentRefs) != 1 || h.ParentRefs[0].Name != "web" || len(h.Hostnames) != 1 || h.Hostnames[0] != "shop.example.com" {
		t.Errorf("parents %v, hostnames %v", h.ParentRefs, h.Hostnames)
	}
	if len(h.Rules) != 2 {
		t.Fatalf("%d rules, want 2", len(h.Rules))
	}
	r := h.Rules[0]
	if r.Name == nil || *r.Name != "first" || r.Matches != 2 || h.Rules[1].Matches != 0 {
		t.Errorf("rule 0 name %v, %d matches; rule 1 %d matches", r.Name, r.Matches, h.Rules[1].Matches)
	}
	if len(r.Filters) != 2 || r.Filters[0].Type != "RequestHeaderModifier" || r.Filters[0].RequestHeaderModifier == nil ||
		r.Filters[1].RequestMirror == nil || r.Filters[1].RequestMirror.BackendRef.Name != "shadow" {
		t.Errorf("rule filters %+v", r.Filters)
	}
	if len(r.BackendRefs) != 2 || r.BackendRefs[0].Name != "v1" || *r.BackendRefs[0].Weight != 90 || *r.BackendRefs[1].Weight != 10 ||
		len(r.BackendRefs[0].Filters) != 1 || r.BackendRefs[0].Filters[0].RequestMirror.BackendRef.Name != "shadow2" || r.BackendRefs[1].Filters != nil {
		t.Errorf("backendRefs %+v", r.BackendRefs)
	}
	if v := rs[2].GatewayRoute(); v != nil {
		t.Errorf("a Service has a route view: %+v", v)
	}
}
