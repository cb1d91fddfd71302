package config

import gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

// GatewayRoute is an HTTPRoute or a GRPCRoute as far as the two kinds
// agree: parents, hostnames, and rules whose backendRefs and filters have the
// same types (GRPCRouteFilter's fields are a subset of HTTPRouteFilter's).
// Code that checks or compares routes walks it, so that each rule shared by
// the kinds is written once; what only one kind has (its matches, HTTP's
// redirects, rewrites and timeouts) stays with the typed rule of the same
// index.
type GatewayRoute struct {
	ParentRefs []gatewayv1.ParentReference
	Hostnames  []gatewayv1.Hostname
	Rules      []GatewayRouteRule
}

// GatewayRouteRule is one rule of a GatewayRoute.
type GatewayRouteRule struct {
	Name *gatewayv1.SectionName
	// Matches is how many matches the rule has; their types differ by kind.
	Matches     int
	Filters     []GatewayRouteFilter
	BackendRefs []GatewayBackendRef
}

// GatewayBackendRef is a backendRef with its own filters.
type GatewayBackendRef struct {
	gatewayv1.BackendRef
	Filters []GatewayRouteFilter
}

// GatewayRouteFilter holds the fields of a filter both kinds have; Type is
// the kind's filter type as written.
type GatewayRouteFilter struct {
	Type                                          string
	RequestHeaderModifier, ResponseHeaderModifier *gatewayv1.HTTPHeaderFilter
	RequestMirror                                 *gatewayv1.HTTPRequestMirrorFilter
	ExtensionRef                                  *gatewayv1.LocalObjectReference
}

// GatewayRoute returns the shared view of an HTTPRoute or a GRPCRoute, nil
// for other kinds.
func (r *Resource) GatewayRoute() *GatewayRoute {
	switch s := r.Spec.(type) {
	case *gatewayv1.HTTPRoute:
		return gatewayRouteOf(s.Spec.CommonRouteSpec, s.Spec.Hostnames, s.Spec.Rules, httpRuleParts, httpFilter)
	case *gatewayv1.GRPCRoute:
		return gatewayRouteOf(s.Spec.CommonRouteSpec, s.Spec.Hostnames, s.Spec.Rules, grpcRuleParts, grpcFilter)
	}
	return nil
}

// ruleParts is what a kind's rule holds of the shared view: B is the
// kind's backendRef type, F its filter type.
type ruleParts[F, B any] struct {
	name     *gatewayv1.SectionName
	matches  int
	filters  []F
	backends []B
	backend  func(B) (gatewayv1.BackendRef, []F)
}

func httpRuleParts(r gatewayv1.HTTPRouteRule) ruleParts[gatewayv1.HTTPRouteFilter, gatewayv1.HTTPBackendRef] {
	return ruleParts[gatewayv1.HTTPRouteFilter, gatewayv1.HTTPBackendRef]{r.Name, len(r.Matches), r.Filters, r.BackendRefs,
		func(b gatewayv1.HTTPBackendRef) (gatewayv1.BackendRef, []gatewayv1.HTTPRouteFilter) {
			return b.BackendRef, b.Filters
		}}
}

func grpcRuleParts(r gatewayv1.GRPCRouteRule) ruleParts[gatewayv1.GRPCRouteFilter, gatewayv1.GRPCBackendRef] {
	return ruleParts[gatewayv1.GRPCRouteFilter, gatewayv1.GRPCBackendRef]{r.Name, len(r.Matches), r.Filters, r.BackendRefs,
		func(b gatewayv1.GRPCBackendRef) (gatewayv1.BackendRef, []gatewayv1.GRPCRouteFilter) {
			return b.BackendRef, b.Filters
		}}
}

func httpFilter(f gatewayv1.HTTPRouteFilter) GatewayRouteFilter {
	return GatewayRouteFilter{Type: string(f.Type), RequestHeaderModifier: f.RequestHeaderModifier,
		ResponseHeaderModifier: f.ResponseHeaderModifier, RequestMirror: f.RequestMirror, ExtensionRef: f.ExtensionRef}
}

func grpcFilter(f gatewayv1.GRPCRouteFilter) GatewayRouteFilter {
	return GatewayRouteFilter{Type: string(f.Type), RequestHeaderModifier: f.RequestHeaderModifier,
		ResponseHeaderModifier: f.ResponseHeaderModifier, RequestMirror: f.RequestMirror, ExtensionRef: f.ExtensionRef}
}

func gatewayRouteOf[R, F, B any](c gatewayv1.CommonRouteSpec, hostnames []gatewayv1.Hostname, rules []R,
	parts func(R) ruleParts[F, B], filter func(F) GatewayRouteFilter) *GatewayRoute {
	filters := func(fs []F) []GatewayRouteFilter {
		if len(fs) == 0 {
			return nil
		}
		out := make([]GatewayRouteFilter, len(fs))
		for i, f := range fs {
			out[i] = filter(f)
		}
		return out
	}
	out := &GatewayRoute{ParentRefs: c.ParentRefs, Hostnames: hostnames, Rules: make([]GatewayRouteRule, len(rules))}
	for i, r := range rules {
		p := parts(r)
		rule := GatewayRouteRule{Name: p.name, Matches: p.matches, Filters: filters(p.filters)}
		if len(p.backends) > 0 {
			rule.BackendRefs = make([]GatewayBackendRef, len(p.backends))
		}
		for j, b := range p.backends {
			ref, fs := p.backend(b)
			rule.BackendRefs[j] = GatewayBackendRef{BackendRef: ref, Filters: filters(fs)}
		}
		out.Rules[i] = rule
	}
	return out
}
