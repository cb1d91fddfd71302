package configdiff

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// The Gateway API's HTTPRoute (and GRPCRoute) routes the same traffic a VirtualService does,
// so its rules join the host sections: a rule is a route, its backendRefs
// are the destinations, and a 90/10 → 50/50 move of backendRef weights reads
// as the VirtualService one does. A route whose parent is a Service (mesh
// use, GAMMA) routes that Service's host; one whose parent is a Gateway
// routes its hostnames ("*" when it names none) on that gateway.

// routeTarget is one host an HTTPRoute routes, and on which gateway.
type routeTarget struct {
	fqdn, display, gateway string
}

func routeTargets(hz *config.Hosts, r *config.Resource, parents []gatewayv1.ParentReference, names []gatewayv1.Hostname) []routeTarget {
	var out []routeTarget
	seen := map[string]int{}
	add := func(t routeTarget) {
		if i, ok := seen[t.fqdn]; ok {
			if t.gateway != "" && !strings.Contains(","+out[i].gateway+",", ","+t.gateway+",") {
				out[i].gateway = strings.TrimPrefix(out[i].gateway+","+t.gateway, ",")
			}
			return
		}
		seen[t.fqdn] = len(out)
		out = append(out, t)
	}
	hostnames := func(gateway string) {
		if len(names) == 0 {
			add(routeTarget{fqdn: "*", display: "*", gateway: gateway})
		}
		for _, h := range names {
			add(routeTarget{fqdn: hz.Resolve(string(h), r.Namespace), display: string(h), gateway: gateway})
		}
	}
	if len(parents) == 0 {
		hostnames("")
	}
	for _, p := range parents {
		ns := r.Namespace
		if p.Namespace != nil && *p.Namespace != "" {
			ns = string(*p.Namespace)
		}
		if p.Kind != nil && *p.Kind == "Service" && (p.Group == nil || *p.Group == "" || *p.Group == "core") {
			add(routeTarget{fqdn: hz.ServiceHost(string(p.Name), ns), display: string(p.Name), gateway: config.MeshGateway})
			continue
		}
		hostnames(ns + "/" + string(p.Name))
	}
	return out
}

// addGatewayRoute adds the rules of an HTTPRoute or a GRPCRoute to the
// host's routes, each as one route whose destinations are its backendRefs.
// The rest of a rule (without its name, matches and backendRefs) is
// compared field by field.
func (x *host) addGatewayRoute(r *config.Resource, rt *config.GatewayRoute) {
	for i, rule := range rt.Rules {
		var desc string
		var rest any
		switch s := r.Spec.(type) {
		case *gatewayv1.HTTPRoute:
			desc = describeMatches(s.Spec.Rules[i].Matches, gatewayMatch)
			typed := s.Spec.Rules[i]
			typed.Name, typed.Matches, typed.BackendRefs = nil, nil, nil
			rest = typed
		case *gatewayv1.GRPCRoute:
			desc = describeMatches(s.Spec.Rules[i].Matches, grpcMatch)
			typed := s.Spec.Rules[i]
			typed.Name, typed.Matches, typed.BackendRefs = nil, nil, nil
			rest = typed
		}
		name := ""
		if rule.Name != nil {
			name = string(*rule.Name)
		}
		var ds []dest
		var weights []int32
		for _, b := range rule.BackendRefs {
			ds = append(ds, x.backend(b.BackendObjectReference, r.Namespace))
			w := int32(1) // the API's default
			if b.Weight != nil {
				w = *b.Weight
			}
			weights = append(weights, w)
		}
		shares(ds, weights)
		x.add(&route{
			key: routeKey("http", name, desc), label: routeLabel("", name, desc, x.display),
			proto: "http", dests: normalize(ds), extra: flattenJSON(rest), res: r,
			path: fmt.Sprintf("spec.rules[%d]", i), destField: "backendRefs",
		})
	}
}

func grpcMatch(m gatewayv1.GRPCRouteMatch) string {
	var c []string
	if mm := m.Method; mm != nil {
		svc, method := "*", "*"
		if mm.Service != nil && *mm.Service != "" {
			svc = *mm.Service
		}
		if mm.Method != nil && *mm.Method != "" {
			method = *mm.Method
		}
		op := "="
		if mm.Type != nil && *mm.Type == gatewayv1.GRPCMethodMatchRegularExpression {
			op = "~="
		}
		if svc != "*" || method != "*" {
			c = append(c, "grpc"+op+"/"+svc+"/"+method)
		}
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		n := strings.ToLower(string(h.Name))
		op := "="
		if h.Type != nil && *h.Type == gatewayv1.GRPCHeaderMatchRegularExpression {
			op = "~="
		}
		headers[n] = n + op + h.Value
	}
	for _, k := range sortedKeys(headers) {
		c = append(c, headers[k])
	}
	return strings.Join(c, " ")
}

// backend names a backendRef relative to the route: "reviews-v1" for a
// Service of the route's namespace, "ns/name" for one of another, and
// "Kind ns/name" for other kinds.
func (x *host) backend(b gatewayv1.BackendObjectReference, ns string) dest {
	bns := ns
	if b.Namespace != nil && *b.Namespace != "" {
		bns = string(*b.Namespace)
	}
	kind := "Service"
	if b.Kind != nil && *b.Kind != "" {
		kind = string(*b.Kind)
	}
	var key, label string
	if kind == "Service" && (b.Group == nil || *b.Group == "" || *b.Group == "core") {
		key = x.hosts.ServiceHost(string(b.Name), bns)
		label = string(b.Name)
		if bns != ns {
			label = bns + "/" + label
		}
	} else {
		key = kind + "/" + bns + "/" + string(b.Name)
		label = kind + " " + bns + "/" + string(b.Name)
	}
	// The key is a VirtualService destination's (host|subset|port), so that
	// the same split written either way is no difference.
	key += "|"
	if b.Port != nil {
		key += "|" + strconv.Itoa(int(*b.Port))
	}
	return dest{key: key, label: label}
}

// shares turns backendRef weights, which are relative, into the percentages
// VirtualService weights are, so that both read alike. All weights zero is
// no traffic at all.
func shares(ds []dest, weights []int32) {
	var sum int64
	for _, w := range weights {
		sum += int64(w)
	}
	for i := range ds {
		if sum > 0 {
			ds[i].weight = int32(math.Round(float64(weights[i]) * 100 / float64(sum)))
		}
	}
	// Two backends of one name on different ports need their ports shown.
	byLabel := map[string]int{}
	for _, d := range ds {
		byLabel[d.label]++
	}
	for i, d := range ds {
		if byLabel[d.label] > 1 {
			if j := strings.LastIndex(d.key, "|"); j >= 0 && d.key[j+1:] != "" {
				ds[i].label += " port " + d.key[j+1:]
			}
		}
	}
}

// describeMatches describes a rule's matches as VirtualService matches are
// described: conditions of one match all apply, any match may apply, and a
// rule without matches (or with one that matches all, such as the path
// prefix "/" alone) matches all. A GRPCRoute's method match reads as a path
// ("grpc=/pkg.Service/Method"): gRPC is HTTP/2.
func describeMatches[M any](ms []M, describe func(M) string) string {
	var parts []string
	for _, m := range ms {
		d := describe(m)
		if d == "" {
			return ""
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, " or ")
}

func gatewayMatch(m gatewayv1.HTTPRouteMatch) string {
	var c []string
	if p := m.Path; p != nil {
		typ, val := gatewayv1.PathMatchPathPrefix, "/"
		if p.Type != nil {
			typ = *p.Type
		}
		if p.Value != nil {
			val = *p.Value
		}
		switch typ {
		case gatewayv1.PathMatchExact:
			c = append(c, "uri="+val)
		case gatewayv1.PathMatchRegularExpression:
			c = append(c, "uri~="+val)
		default:
			if val != "/" {
				c = append(c, "uri^="+val)
			}
		}
	}
	if m.Method != nil {
		c = append(c, "method="+string(*m.Method))
	}
	valueMatch := func(name string, regex bool, v string) string {
		if regex {
			return name + "~=" + v
		}
		return name + "=" + v
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[strings.ToLower(string(h.Name))] = valueMatch(strings.ToLower(string(h.Name)), h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression, h.Value)
	}
	for _, k := range sortedKeys(headers) {
		c = append(c, headers[k])
	}
	params := map[string]string{}
	for _, q := range m.QueryParams {
		params[string(q.Name)] = valueMatch("?"+string(q.Name), q.Type != nil && *q.Type == gatewayv1.QueryParamMatchRegularExpression, q.Value)
	}
	for _, k := range sortedKeys(params) {
		c = append(c, params[k])
	}
	return strings.Join(c, " ")
}

// flattenJSON is flatten for the Gateway API's Go types, which are not
// protobuf messages: the same field names, as written in YAML.
func flattenJSON(v any) fields {
	out := fields{}
	b, err := json.Marshal(v)
	if err != nil {
		out["(unprintable)"] = value{v: err.Error()}
		return out
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		out["(unprintable)"] = value{v: err.Error()}
		return out
	}
	if mm, ok := m.(map[string]any); ok && len(mm) == 0 {
		return out
	}
	walk("", "", m, out)
	return out
}
