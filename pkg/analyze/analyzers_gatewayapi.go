package analyze

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// The Gateway API's analyzers (MSH09xx). Without a cluster they follow the
// file-only rule of helpers.go: a missing Gateway is reported only when the
// input holds Gateway API Gateways, a missing Service backend or parent only
// when the input holds Services of its namespace, a missing ReferenceGrant
// only when it holds ReferenceGrants of the namespace referred to (otherwise
// Info). A missing GatewayClass is at most Info without a cluster, as the
// implementation installed creates its own classes (MSH0907).

var gatewayAPIRouteInputs = k(config.KindHTTPRoute, config.KindGRPCRoute, config.KindKubernetesGateway,
	config.KindService, config.KindServiceEntry, config.KindNamespace, config.KindReferenceGrant)

// route is an HTTPRoute or a GRPCRoute, read through the view both kinds
// share.
type route struct {
	res *config.Resource
	*config.GatewayRoute
}

// gatewayRoutes lists the HTTPRoutes, then the GRPCRoutes.
func (c *Context) gatewayRoutes() []route {
	var out []route
	for _, kind := range []config.Kind{config.KindHTTPRoute, config.KindGRPCRoute} {
		for _, r := range c.Store.List(kind, "") {
			if v := r.GatewayRoute(); v != nil {
				out = append(out, route{r, v})
			}
		}
	}
	return out
}

// backends yields each backendRef of the route, and each RequestMirror's
// backendRef (of a rule's filters or a backendRef's), with its path.
func (rt route) backends(fn func(path string, b gatewayv1.BackendObjectReference)) {
	mirrors := func(p string, fs []config.GatewayRouteFilter) {
		for k, f := range fs {
			if f.RequestMirror != nil {
				fn(field("%s[%d].requestMirror.backendRef", p, k), f.RequestMirror.BackendRef)
			}
		}
	}
	for i, rule := range rt.Rules {
		mirrors(field("spec.rules[%d].filters", i), rule.Filters)
		for j, b := range rule.BackendRefs {
			fn(field("spec.rules[%d].backendRefs[%d]", i, j), b.BackendObjectReference)
			mirrors(field("spec.rules[%d].backendRefs[%d].filters", i, j), b.Filters)
		}
	}
}

// knowsServicesIn reports whether a Service missing from namespace ns is
// really missing: with a cluster, or when the files hold Services there.
func (c *Context) knowsServicesIn(ns string) bool {
	return c.opts.Cluster || c.inputHas(config.KindService, ns)
}

// listenersFor returns the listeners of gw a parentRef selects (by
// sectionName and port; all when it names neither).
func listenersFor(gw *gatewayv1.Gateway, p gatewayv1.ParentReference) []gatewayv1.Listener {
	var out []gatewayv1.Listener
	for _, l := range gw.Spec.Listeners {
		if p.SectionName != nil && *p.SectionName != "" && l.Name != *p.SectionName {
			continue
		}
		if p.Port != nil && *p.Port != 0 && l.Port != *p.Port {
			continue
		}
		out = append(out, l)
	}
	return out
}

// defaultRouteKinds are the route kinds a listener admits when its
// allowedRoutes.kinds is empty, by protocol.
func defaultRouteKinds(p gatewayv1.ProtocolType) []string {
	switch p {
	case gatewayv1.HTTPProtocolType, gatewayv1.HTTPSProtocolType:
		return []string{"HTTPRoute", "GRPCRoute"}
	case gatewayv1.TLSProtocolType:
		return []string{"TLSRoute", "TCPRoute"}
	case gatewayv1.TCPProtocolType:
		return []string{"TCPRoute"}
	case gatewayv1.UDPProtocolType:
		return []string{"UDPRoute"}
	}
	return nil
}

// admits says whether listener l of gateway gw takes a route of kind in
// namespace ns with hostnames, and if not why; known is false when it
// cannot be told (a namespace selector without the Namespace object).
func (c *Context) admits(gw *config.Resource, l gatewayv1.Listener, kind, ns string, hostnames []gatewayv1.Hostname) (ok, known bool, why string) {
	from := gatewayv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if ar := l.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		sel = ar.Namespaces.Selector
	}
	switch from {
	case gatewayv1.NamespacesFromSame:
		if ns != gw.Namespace {
			return false, true, fmt.Sprintf("listener %s admits routes of namespace %s only", l.Name, gw.Namespace)
		}
	case gatewayv1.NamespacesFromSelector:
		n := c.Store.Get(config.KindNamespace, "", ns)
		if n == nil || sel == nil {
			return false, false, ""
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false, false, ""
		}
		if !s.Matches(labels.Set(n.Labels)) {
			return false, true, fmt.Sprintf("listener %s admits routes of namespaces labelled %s, and namespace %s is not", l.Name, s, ns)
		}
	}
	var allowed []string
	if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
		for _, rk := range l.AllowedRoutes.Kinds {
			if rk.Group == nil || *rk.Group == gatewayv1.GroupName {
				allowed = append(allowed, string(rk.Kind))
			}
		}
	} else {
		allowed = defaultRouteKinds(l.Protocol)
		if allowed == nil {
			return false, false, "" // an implementation-specific protocol
		}
	}
	if !slices.Contains(allowed, kind) {
		return false, true, fmt.Sprintf("listener %s (%s) admits %s, not %s", l.Name, l.Protocol, strings.Join(allowed, ", "), kind)
	}
	if l.Hostname != nil && *l.Hostname != "" && len(hostnames) > 0 {
		for _, h := range hostnames {
			if config.HostsOverlap(string(h), string(*l.Hostname)) {
				return true, true, ""
			}
		}
		return false, true, fmt.Sprintf("listener %s serves hostname %s, which none of the route's hostnames matches", l.Name, *l.Hostname)
	}
	return true, true, ""
}

// grantAllows reports whether a ReferenceGrant in the namespace of to lets
// objects of fromKind in fromNS refer to it.
func (c *Context) grantAllows(fromKind, fromNS string, to config.ObjectRef) bool {
	for _, g := range c.Store.List(config.KindReferenceGrant, to.Namespace) {
		s := g.ReferenceGrant().Spec
		from := false
		for _, f := range s.From {
			if string(f.Group) == gatewayv1.GroupName && string(f.Kind) == fromKind && string(f.Namespace) == fromNS {
				from = true
			}
		}
		if !from {
			continue
		}
		for _, t := range s.To {
			group := string(t.Group)
			if group == "core" {
				group = ""
			}
			if group == to.Group && string(t.Kind) == to.Kind && (t.Name == nil || *t.Name == "" || string(*t.Name) == to.Name) {
				return true
			}
		}
	}
	return false
}

// httpRouteMatchKey is one (hostname, match) of an HTTPRoute rule, in a canonical
// form: two rules with equal keys compete for the same requests.
func httpRouteMatchKey(m gatewayv1.HTTPRouteMatch) string {
	path := gatewayv1.HTTPPathMatch{Type: ptrTo(gatewayv1.PathMatchPathPrefix), Value: ptrTo("/")}
	if m.Path != nil {
		if m.Path.Type != nil {
			path.Type = m.Path.Type
		}
		if m.Path.Value != nil {
			path.Value = m.Path.Value
		}
	}
	m.Path = &path
	// m is a copy, its lists are not: defaults go into copies of them, as
	// the route is read by other analyzers at the same time.
	m.Headers = slices.Clone(m.Headers)
	m.QueryParams = slices.Clone(m.QueryParams)
	for i := range m.Headers {
		if m.Headers[i].Type == nil {
			m.Headers[i].Type = ptrTo(gatewayv1.HeaderMatchExact)
		}
		m.Headers[i].Name = gatewayv1.HTTPHeaderName(strings.ToLower(string(m.Headers[i].Name)))
	}
	for i := range m.QueryParams {
		if m.QueryParams[i].Type == nil {
			m.QueryParams[i].Type = ptrTo(gatewayv1.QueryParamMatchExact)
		}
	}
	sort.Slice(m.Headers, func(i, j int) bool { return m.Headers[i].Name < m.Headers[j].Name })
	sort.Slice(m.QueryParams, func(i, j int) bool { return m.QueryParams[i].Name < m.QueryParams[j].Name })
	b, _ := json.Marshal(m)
	return string(b)
}

func ptrTo[T any](v T) *T { return &v }

func describeMatch(m gatewayv1.HTTPRouteMatch) string {
	var parts []string
	if m.Path == nil {
		parts = append(parts, "path prefix /")
	} else {
		t, v := "PathPrefix", "/"
		if m.Path.Type != nil {
			t = string(*m.Path.Type)
		}
		if m.Path.Value != nil {
			v = *m.Path.Value
		}
		parts = append(parts, fmt.Sprintf("path %s %s", t, v))
	}
	for _, h := range m.Headers {
		parts = append(parts, fmt.Sprintf("header %s=%s", h.Name, h.Value))
	}
	for _, q := range m.QueryParams {
		parts = append(parts, fmt.Sprintf("query %s=%s", q.Name, q.Value))
	}
	if m.Method != nil {
		parts = append(parts, "method "+string(*m.Method))
	}
	return strings.Join(parts, ", ")
}

// grpcRouteMatchKey is httpRouteMatchKey's counterpart for a GRPCRoute
// match: the method match with the API's default type (a method match
// naming neither service nor method matches every method), headers by
// lower-case name with their default type.
func grpcRouteMatchKey(m gatewayv1.GRPCRouteMatch) string {
	if mm := m.Method; mm != nil {
		method := *mm
		if method.Type == nil {
			method.Type = ptrTo(gatewayv1.GRPCMethodMatchExact)
		}
		if method.Service != nil && *method.Service == "" {
			method.Service = nil
		}
		if method.Method != nil && *method.Method == "" {
			method.Method = nil
		}
		m.Method = &method
		if method.Service == nil && method.Method == nil {
			m.Method = nil
		}
	}
	// As in httpRouteMatchKey, defaults go into a copy of the list.
	m.Headers = slices.Clone(m.Headers)
	for i := range m.Headers {
		if m.Headers[i].Type == nil {
			m.Headers[i].Type = ptrTo(gatewayv1.GRPCHeaderMatchExact)
		}
		m.Headers[i].Name = gatewayv1.GRPCHeaderName(strings.ToLower(string(m.Headers[i].Name)))
	}
	sort.Slice(m.Headers, func(i, j int) bool { return m.Headers[i].Name < m.Headers[j].Name })
	b, _ := json.Marshal(m)
	return string(b)
}

func describeGRPCMatch(m gatewayv1.GRPCRouteMatch) string {
	var parts []string
	if mm := m.Method; mm != nil && (mm.Service != nil && *mm.Service != "" || mm.Method != nil && *mm.Method != "") {
		t, svc, method := string(gatewayv1.GRPCMethodMatchExact), "*", "*"
		if mm.Type != nil {
			t = string(*mm.Type)
		}
		if mm.Service != nil && *mm.Service != "" {
			svc = *mm.Service
		}
		if mm.Method != nil && *mm.Method != "" {
			method = *mm.Method
		}
		parts = append(parts, fmt.Sprintf("method %s /%s/%s", t, svc, method))
	} else {
		parts = append(parts, "every method")
	}
	for _, h := range m.Headers {
		parts = append(parts, fmt.Sprintf("header %s=%s", h.Name, h.Value))
	}
	return strings.Join(parts, ", ")
}

// conflictingRoutes reports each rule match of a route of kind that a route
// of the same kind earlier in the API's order (routeFirst) already has on
// the same parent for the same hostname: matches gives rule i's matches,
// key their canonical form (equal keys match the same requests), describe
// their description. On a Gateway the parent is each listener the route is
// attached to (attachedListeners) with the hostnames it serves there
// (listenerHostnames), however its parentRef selects the listener; a
// Service (a mesh route) has no listeners, and is the parent as the
// parentRef names it, port included. Routes of different kinds are not
// compared: the API does not merge HTTPRoutes and GRPCRoutes (MSH0908).
func conflictingRoutes[M any](c *Context, kind config.Kind, matches func(r *config.Resource, rule int) []M, key, describe func(M) string) {
	type owner struct {
		r    *config.Resource
		path string
	}
	// parent is one place a route is attached: key identifies it, ref is
	// the parentRef's object, listener the listener's name on a Gateway.
	type parent struct {
		key, listener string
		ref           config.ObjectRef
		hosts         []string
	}
	seen := map[string]owner{}
	routes := c.Store.List(kind, "")
	sort.SliceStable(routes, func(i, j int) bool { return routeFirst(routes[i], routes[j]) })
	for _, r := range routes {
		rt := r.GatewayRoute()
		if rt == nil {
			continue
		}
		hosts := []string{"*"}
		if len(rt.Hostnames) > 0 {
			hosts = nil
			for _, h := range rt.Hostnames {
				hosts = append(hosts, string(h))
			}
		}
		var parents []parent
		for _, p := range rt.ParentRefs {
			ref := config.ParentRefOf(p, r.Namespace)
			if ref.IsGateway() {
				if gwr := c.Store.Get(config.KindKubernetesGateway, ref.Namespace, ref.Name); gwr != nil {
					for _, l := range c.attachedListeners(gwr, p, route{r, rt}) {
						lh, _ := listenerHostnames(l, rt.Hostnames)
						parents = append(parents, parent{gwr.Namespace + "/" + gwr.Name + "#" + string(l.Name), string(l.Name), ref, lh})
					}
					continue
				}
				if c.knows(config.KindKubernetesGateway) {
					continue // MSH0901: attached to nothing
				}
				// A Gateway the files do not hold: its listeners are not
				// known, but parentRefs alike select the same ones.
			}
			k := ref.String()
			if p.SectionName != nil {
				k += "#" + string(*p.SectionName)
			}
			if p.Port != nil {
				k += fmt.Sprintf(":%d", *p.Port)
			}
			parents = append(parents, parent{key: k, ref: ref, hosts: hosts})
		}
		reported := map[string]bool{}
		for _, pa := range parents {
			for i := range rt.Rules {
				ms := matches(r, i)
				all := len(ms) == 0
				if all {
					// No matches match every request.
					ms = make([]M, 1)
				}
				for j, m := range ms {
					mk := key(m)
					path := field("spec.rules[%d].matches[%d]", i, j)
					if all {
						path = field("spec.rules[%d]", i)
					}
					for _, h := range pa.hosts {
						k := pa.key + "|" + h + "|" + mk
						o, dup := seen[k]
						if !dup {
							seen[k] = owner{r, path}
							continue
						}
						if o.r == r || reported[path] {
							continue
						}
						reported[path] = true
						on := ""
						if pa.listener != "" {
							on = "on listener " + pa.listener + " "
						}
						outcome := "the Gateway API gives them to one route, the older, then the first by namespace/name, which does not tell these two apart: one of the rules gets none of them"
						if by := decidedBy(o.r, r); by != "" {
							outcome = fmt.Sprintf("the Gateway API gives them to %s (here that one), so this rule gets none of them", by)
						}
						c.Report(r, path, fmt.Sprintf("merge the rule into %s %s/%s or make the matches differ", kind, o.r.Namespace, o.r.Name),
							"%s %s/%s (%s) matches the same requests on %s for hostname %s (%s): %s%s",
							kind, o.r.Namespace, o.r.Name, o.r.OriginAt(o.path), pa.ref, h, describe(m), on, outcome)
					}
				}
			}
		}
	}
}

// listenerHostnames are the hostnames a route with hostnames serves on
// listener l, as the API intersects them: the route's hostnames that match
// the listener's (the others are ignored; a route wildcard that covers the
// listener's hostname gives the listener's), the listener's when the route
// names none, every hostname ("*") when neither names any. at is the index
// of each in hostnames, -1 for the listener's or "*".
func listenerHostnames(l gatewayv1.Listener, hostnames []gatewayv1.Hostname) (hosts []string, at []int) {
	lh := ""
	if l.Hostname != nil {
		lh = string(*l.Hostname)
	}
	if len(hostnames) == 0 {
		if lh == "" {
			lh = "*"
		}
		return []string{lh}, []int{-1}
	}
	for i, h := range hostnames {
		switch {
		case lh == "" || config.HostMatches(string(h), lh):
			hosts, at = append(hosts, string(h)), append(at, i)
		case config.HostMatches(lh, string(h)):
			// A route wildcard covering the listener's hostname serves
			// that hostname there.
			hosts, at = append(hosts, lh), append(at, i)
		}
	}
	return hosts, at
}

// routeFirst orders routes as the Gateway API settles which of two
// conflicting routes is accepted: the oldest by creation timestamp, then
// the first by "{namespace}/{name}". A route read from a file without a
// creationTimestamp would be created when applied, so it counts as newer
// than every route that has one.
func routeFirst(a, b *config.Resource) bool {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if ta.IsZero() != tb.IsZero() {
		return tb.IsZero()
	}
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// decidedBy says which criterion of routeFirst puts first before second, as
// a findings' message says it: "the older", "the first by namespace/name
// when neither is older", or "" when the API's order does not tell the two
// apart (an HTTPRoute and a GRPCRoute of the same age, namespace and name).
func decidedBy(first, second *config.Resource) string {
	switch {
	case !first.CreationTimestamp.Equal(&second.CreationTimestamp):
		return "the older"
	case first.Namespace != second.Namespace || first.Name != second.Name:
		return "the first by namespace/name when neither is older"
	}
	return ""
}

// attachedListeners are the listeners of Gateway gwr that parentRef p of
// rt attaches it to: those p selects (listenersFor) that admit it. A
// listener that may or may not admit it (admits cannot tell) is left out:
// MSH0902 says nothing of it either.
func (c *Context) attachedListeners(gwr *config.Resource, p gatewayv1.ParentReference, rt route) []gatewayv1.Listener {
	var out []gatewayv1.Listener
	for _, l := range listenersFor(gwr.KubernetesGateway(), p) {
		if ok, _, _ := c.admits(gwr, l, string(rt.res.Kind), rt.res.Namespace, rt.Hostnames); ok {
			out = append(out, l)
		}
	}
	return out
}

// httpGRPCConflicts reports each HTTPRoute or GRPCRoute that a Gateway
// listener does not accept because a route of the other kind attached to it
// claims a hostname in common. The API accepts exactly one of two such
// routes; taking the routes in its order and keeping each one no kept route
// of the other kind conflicts with settles every pair as it does, a route
// already refused claiming nothing. An HTTPRoute and a GRPCRoute of the same
// age, namespace and name are not ordered by the API; the finding, on the
// GRPCRoute, says so.
func httpGRPCConflicts(c *Context) {
	type attached struct {
		rt     route
		parent int      // the parentRef that attaches the route
		hosts  []string // what it serves on the listener
		at     []int    // index of each host in spec.hostnames, -1 for none
	}
	type listener struct {
		gw     *config.Resource
		name   string
		routes []attached
	}
	var listeners []*listener
	byKey := map[string]*listener{}
	routes := c.gatewayRoutes()
	sort.SliceStable(routes, func(i, j int) bool { return routeFirst(routes[i].res, routes[j].res) })
	for _, rt := range routes {
		r := rt.res
		seen := map[*listener]bool{}
		for i, p := range rt.ParentRefs {
			ref := config.ParentRefOf(p, r.Namespace)
			if !ref.IsGateway() {
				continue // a mesh route (GAMMA): the API's rule is about listeners
			}
			gwr := c.Store.Get(config.KindKubernetesGateway, ref.Namespace, ref.Name)
			if gwr == nil {
				continue // MSH0901
			}
			for _, l := range c.attachedListeners(gwr, p, rt) {
				k := gwr.Namespace + "/" + gwr.Name + "#" + string(l.Name)
				ls := byKey[k]
				if ls == nil {
					ls = &listener{gw: gwr, name: string(l.Name)}
					byKey[k] = ls
					listeners = append(listeners, ls)
				}
				if seen[ls] {
					continue
				}
				seen[ls] = true
				hosts, at := listenerHostnames(l, rt.Hostnames)
				ls.routes = append(ls.routes, attached{rt, i, hosts, at})
			}
		}
	}
	path := func(a attached, h int) string {
		if a.at[h] < 0 {
			return field("spec.parentRefs[%d]", a.parent)
		}
		return field("spec.hostnames[%d]", a.at[h])
	}
	for _, ls := range listeners {
		var kept []attached
		for _, a := range ls.routes {
			refused := false
			for _, w := range kept {
				if w.rt.res.Kind == a.rt.res.Kind {
					continue
				}
				wi, ai, ok := commonHostname(w.hosts, a.hosts)
				if !ok {
					continue
				}
				refused = true
				common := w.hosts[wi]
				if config.HostMatches(a.hosts[ai], common) {
					common = a.hosts[ai]
				}
				r, o := a.rt.res, w.rt.res
				outcome := "the older, then the first by namespace/name, which does not tell these two apart: one of them is not accepted on the listener (Accepted False) and routes nothing there"
				if by := decidedBy(o, r); by != "" {
					outcome = fmt.Sprintf("%s (here that one), so this %s is not accepted on the listener (Accepted False) and routes nothing there", by, r.Kind)
				}
				c.Report(r, path(a, ai), fmt.Sprintf("give the two routes hostnames they do not share, or attach them to different listeners of Gateway %s/%s", ls.gw.Namespace, ls.gw.Name),
					"%s %s/%s (%s) also claims hostname %s on listener %s of Gateway %s/%s; the Gateway API accepts only one of an HTTPRoute and a GRPCRoute sharing a hostname on a listener, %s",
					o.Kind, o.Namespace, o.Name, o.OriginAt(path(w, wi)), common, ls.name, ls.gw.Namespace, ls.gw.Name, outcome)
			}
			if !refused {
				kept = append(kept, a)
			}
		}
	}
}

// commonHostname finds a hostname of a and one of b that can name the same
// host (exact names, wildcards or "*"), by index.
func commonHostname(a, b []string) (i, j int, ok bool) {
	for i := range a {
		for j := range b {
			if config.HostsOverlap(a[i], b[j]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

var gatewayAPIAnalyzers = []*Analyzer{
	{
		Code: "MSH0901", Name: "GatewayAPIParentNotFound", Level: Error,
		Doc:    "A Gateway API route's parentRef names a Gateway, a listener (sectionName, port) or a Service (mesh route) that does not exist: the route is attached to nothing there.",
		Inputs: gatewayAPIRouteInputs,
		Run: func(c *Context) {
			for _, rt := range c.gatewayRoutes() {
				r := rt.res
				for i, p := range rt.ParentRefs {
					ref := config.ParentRefOf(p, r.Namespace)
					pf := field("spec.parentRefs[%d]", i)
					switch {
					case ref.IsGateway():
						gwr := c.Store.Get(config.KindKubernetesGateway, ref.Namespace, ref.Name)
						if gwr == nil {
							if c.knows(config.KindKubernetesGateway) {
								c.Report(r, pf+".name", fmt.Sprintf("create Gateway %s/%s, or name an existing one (with namespace: when it is in another namespace)", ref.Namespace, ref.Name),
									"parent Gateway %s/%s not found", ref.Namespace, ref.Name)
							}
							continue
						}
						if len(listenersFor(gwr.KubernetesGateway(), p)) == 0 {
							var names []string
							for _, l := range gwr.KubernetesGateway().Spec.Listeners {
								names = append(names, fmt.Sprintf("%s (port %d)", l.Name, l.Port))
							}
							what, at := "", pf
							if p.SectionName != nil && *p.SectionName != "" {
								what, at = fmt.Sprintf("sectionName %s", *p.SectionName), pf+".sectionName"
							}
							if p.Port != nil && *p.Port != 0 {
								if what != "" {
									what += " and "
								} else {
									at = pf + ".port"
								}
								what += fmt.Sprintf("port %d", *p.Port)
							}
							c.Report(r, at, "name a listener of the Gateway by its name or port",
								"Gateway %s/%s has no listener with %s; its listeners are %s", ref.Namespace, ref.Name, what, strings.Join(names, ", "))
						}
					case ref.IsService():
						svc := c.Store.Get(config.KindService, ref.Namespace, ref.Name)
						if svc == nil {
							if c.knowsServicesIn(ref.Namespace) {
								c.Report(r, pf+".name", fmt.Sprintf("create Service %s/%s, or name an existing one", ref.Namespace, ref.Name),
									"parent Service %s/%s not found: the mesh route applies to no service", ref.Namespace, ref.Name)
							}
							continue
						}
						if p.Port != nil && *p.Port != 0 && !servicePort(svc, int32(*p.Port)) {
							c.Report(r, pf+".port", fmt.Sprintf("use one of the ports of Service %s/%s", ref.Namespace, ref.Name),
								"parent Service %s/%s has no port %d", ref.Namespace, ref.Name, *p.Port)
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0902", Name: "GatewayAPIRouteNotAllowed", Level: Error,
		Doc:    "No listener a route's parentRef selects admits the route: allowedRoutes excludes its namespace or kind, or the listener's hostname matches none of the route's hostnames.",
		Inputs: gatewayAPIRouteInputs,
		Run: func(c *Context) {
			for _, rt := range c.gatewayRoutes() {
				r := rt.res
				for i, p := range rt.ParentRefs {
					ref := config.ParentRefOf(p, r.Namespace)
					if !ref.IsGateway() {
						continue
					}
					gwr := c.Store.Get(config.KindKubernetesGateway, ref.Namespace, ref.Name)
					if gwr == nil {
						continue // MSH0901
					}
					var whys []string
					admitted := false
					for _, l := range listenersFor(gwr.KubernetesGateway(), p) {
						ok, known, why := c.admits(gwr, l, string(r.Kind), r.Namespace, rt.Hostnames)
						if ok || !known {
							admitted = true
							break
						}
						whys = append(whys, why)
					}
					if admitted || len(whys) == 0 {
						continue
					}
					c.Report(r, field("spec.parentRefs[%d]", i), fmt.Sprintf("change the listener's allowedRoutes or hostname on Gateway %s/%s, or attach the route to a listener that admits it", ref.Namespace, ref.Name),
						"Gateway %s/%s does not admit %s %s/%s: %s", ref.Namespace, ref.Name, r.Kind, r.Namespace, r.Name, strings.Join(whys, "; "))
				}
			}
		},
	},
	{
		Code: "MSH0903", Name: "GatewayAPIBackendNotFound", Level: Error,
		Doc:    "A Gateway API route's backendRef names a Service that does not exist or a port it does not have, or a ServiceEntry host (kind Hostname) that nothing defines: its share of requests fails.",
		Inputs: gatewayAPIRouteInputs,
		Run: func(c *Context) {
			for _, rt := range c.gatewayRoutes() {
				r := rt.res
				rt.backends(func(p string, b gatewayv1.BackendObjectReference) {
					ref := config.BackendRefOf(b, r.Namespace)
					switch {
					case ref.IsService():
						svc := c.Store.Get(config.KindService, ref.Namespace, ref.Name)
						if svc == nil {
							if c.knowsServicesIn(ref.Namespace) {
								c.Report(r, p+".name", fmt.Sprintf("create Service %s/%s, or correct the name (and namespace)", ref.Namespace, ref.Name),
									"backend Service %s/%s not found", ref.Namespace, ref.Name)
							}
							return
						}
						if b.Port != nil && !servicePort(svc, int32(*b.Port)) {
							var ports []string
							for _, sp := range svc.Service().Spec.Ports {
								ports = append(ports, fmt.Sprint(sp.Port))
							}
							c.Report(r, p+".port", fmt.Sprintf("use a port of Service %s/%s (%s)", ref.Namespace, ref.Name, strings.Join(ports, ", ")),
								"backend Service %s/%s has no port %d", ref.Namespace, ref.Name, *b.Port)
						}
					case ref.Group == config.GroupNetworking && ref.Kind == "Hostname":
						if len(c.lookupHost(ref.Name, r.Namespace)) == 0 {
							c.Report(r, p+".name", fmt.Sprintf("create a ServiceEntry for %s, or correct the host", ref.Name),
								"backend host %q not found: no ServiceEntry or Service defines it", ref.Name)
						}
					}
				})
			}
		},
	},
	{
		Code: "MSH0904", Name: "GatewayAPIReferenceNotPermitted", Level: Error,
		Doc:    "A route's backendRef or a Gateway listener's certificateRef points into another namespace that has no ReferenceGrant allowing it: the reference is refused.",
		Inputs: k(config.KindHTTPRoute, config.KindGRPCRoute, config.KindKubernetesGateway, config.KindReferenceGrant),
		Run: func(c *Context) {
			check := func(r *config.Resource, path, fromKind string, to config.ObjectRef) {
				if to.Namespace == r.Namespace || c.grantAllows(fromKind, r.Namespace, to) {
					return
				}
				fix := fmt.Sprintf("create a ReferenceGrant in namespace %s from %s of namespace %s to %s", to.Namespace, fromKind, r.Namespace, to.Kind)
				if !c.opts.Cluster && !c.inputHas(config.KindReferenceGrant, to.Namespace) {
					c.ReportLevel(Info, r, path, fix, "%s refers to %s in another namespace; no ReferenceGrant of namespace %s is in the files, so whether it is permitted is not known", r.Kind, to, to.Namespace)
					return
				}
				c.Report(r, path, fix, "reference to %s not permitted: no ReferenceGrant in namespace %s allows %s of namespace %s to refer to it", to, to.Namespace, fromKind, r.Namespace)
			}
			for _, rt := range c.gatewayRoutes() {
				rt.backends(func(p string, b gatewayv1.BackendObjectReference) {
					ref := config.BackendRefOf(b, rt.res.Namespace)
					check(rt.res, p+".namespace", string(rt.res.Kind), ref)
				})
			}
			for _, r := range c.Store.List(config.KindKubernetesGateway, "") {
				for i, l := range r.KubernetesGateway().Spec.Listeners {
					if l.TLS == nil {
						continue
					}
					for j, cr := range l.TLS.CertificateRefs {
						check(r, field("spec.listeners[%d].tls.certificateRefs[%d]", i, j), "Gateway", config.SecretRefOf(cr, r.Namespace))
					}
				}
			}
		},
	},
	{
		Code: "MSH0905", Name: "GatewayAPIConflictingRoutes", Level: Warning,
		Doc:    "Two routes of one kind attached to the same parent match the same hostname and the same request (HTTPRoute: path, headers, query, method; GRPCRoute: service and method, headers): only one of them is used.",
		Inputs: k(config.KindHTTPRoute, config.KindGRPCRoute, config.KindKubernetesGateway, config.KindNamespace),
		Run: func(c *Context) {
			conflictingRoutes(c, config.KindHTTPRoute, func(r *config.Resource, i int) []gatewayv1.HTTPRouteMatch {
				return r.HTTPRoute().Spec.Rules[i].Matches
			}, httpRouteMatchKey, describeMatch)
			conflictingRoutes(c, config.KindGRPCRoute, func(r *config.Resource, i int) []gatewayv1.GRPCRouteMatch {
				return r.GRPCRoute().Spec.Rules[i].Matches
			}, grpcRouteMatchKey, describeGRPCMatch)
		},
	},
	{
		Code: "MSH0906", Name: "GatewayAPIWeightsAllZero", Level: Warning,
		Doc:    "Every backendRef of a route rule has weight 0: the rule answers every request with HTTP 500 (gRPC UNAVAILABLE).",
		Inputs: k(config.KindHTTPRoute, config.KindGRPCRoute),
		Run: func(c *Context) {
			check := func(r *config.Resource, path string, ws []*int32) {
				if len(ws) == 0 {
					return
				}
				for _, w := range ws {
					if w == nil || *w != 0 {
						return
					}
				}
				c.Report(r, path, "give at least one backendRef a weight above 0, or remove the rule",
					"all %d backendRefs have weight 0: requests matched by this rule get no backend", len(ws))
			}
			for _, rt := range c.gatewayRoutes() {
				for i, rule := range rt.Rules {
					var ws []*int32
					for _, b := range rule.BackendRefs {
						ws = append(ws, b.Weight)
					}
					check(rt.res, field("spec.rules[%d].backendRefs", i), ws)
				}
			}
		},
	},
	{
		Code: "MSH0907", Name: "GatewayAPIGatewayClassNotFound", Level: Error,
		Doc:    "A Gateway API Gateway's gatewayClassName names a GatewayClass that does not exist: no controller takes the Gateway, so nothing serves its listeners. Without a cluster it is said at Info, and only when the files hold GatewayClasses: implementations create their own classes (Istio's istiod creates istio), which files do not hold.",
		Inputs: k(config.KindKubernetesGateway, config.KindGatewayClass),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindKubernetesGateway, "") {
				class := string(r.KubernetesGateway().Spec.GatewayClassName)
				if class == "" || c.Store.Get(config.KindGatewayClass, "", class) != nil {
					continue // an empty one is MSH0002
				}
				fix := fmt.Sprintf("create GatewayClass %s, or name the class of the controller that should serve the Gateway", class)
				if !c.opts.Cluster {
					if c.inputHas(config.KindGatewayClass, "") {
						c.ReportLevel(Info, r, "spec.gatewayClassName", fix,
							"GatewayClass %s is not in the files; the Gateway API implementation installed may create it (Istio's istiod creates istio), so whether it exists is not known without a cluster", class)
					}
					continue
				}
				var names []string
				for _, gc := range c.Store.List(config.KindGatewayClass, "") {
					names = append(names, gc.Name)
				}
				have := "the cluster has no GatewayClass"
				if len(names) > 0 {
					have = "the GatewayClasses are " + strings.Join(names, ", ")
				}
				c.Report(r, "spec.gatewayClassName", fix,
					"GatewayClass %s not found (%s): no controller serves this Gateway", class, have)
			}
		},
	},
	{
		Code: "MSH0908", Name: "GatewayAPIHTTPGRPCRouteConflict", Level: Error,
		Doc:    "An HTTPRoute and a GRPCRoute attached to the same Gateway listener claim a hostname in common: the Gateway API accepts only one of the two (the older, or the first by namespace/name), and the other is not accepted on that listener.",
		Inputs: k(config.KindHTTPRoute, config.KindGRPCRoute, config.KindKubernetesGateway, config.KindNamespace),
		Run:    httpGRPCConflicts,
	},
}

func servicePort(svc *config.Resource, port int32) bool {
	for _, sp := range svc.Service().Spec.Ports {
		if sp.Port == port {
			return true
		}
	}
	return false
}
