package configdiff

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
)

// host is everything one config says about traffic to one host: the routes
// of every VirtualService that lists it, in the order the proxy tries them,
// and the subsets and policies of its DestinationRules.
type host struct {
	fqdn    string
	display string
	hosts   *config.Hosts
	vs, dr  []*config.Resource
	hr      []*config.Resource // HTTPRoutes and GRPCRoutes
	seen    map[string]int     // route keys, to tell repeated ones apart

	gateways, exportTo []string
	routes             []*route

	drFields fields // DestinationRule fields except host and subsets
	subsets  map[string]*subset
	subOrder []string
}

type route struct {
	key   string // identity across OLD and NEW
	label string
	proto string // http, tcp or tls
	dests []dest
	extra fields // everything else: timeouts, retries, rewrites, faults…
	res   *config.Resource
	path  string // field path in res, for lines
	// destField is the field of the route that lists its destinations:
	// "route" in a VirtualService, "backendRefs" in an HTTPRoute.
	destField string
}

type dest struct {
	key, label string
	weight     int32
}

type subset struct {
	labels string
	policy fields
	res    *config.Resource
	path   string
}

// hosts builds the per-host view of a store from config.Registry, which
// resolves hosts as analyze and the proxy do, so "reviews" and
// "reviews.default" written in namespace default are one host.
func hosts(s config.Reader) map[string]*host {
	reg := config.NewRegistry(s, nil)
	out := map[string]*host{}
	for _, h := range reg.RoutedHosts() {
		if h == "" {
			continue
		}
		vss, drs := reg.ConfigFor(h)
		x := &host{fqdn: h, hosts: reg.Hosts, subsets: map[string]*subset{}, vs: vss, dr: drs}
		for _, r := range vss {
			vs := r.VirtualService()
			if x.display == "" {
				x.display = written(reg.Hosts, vs.GetHosts(), r.Namespace, h)
			}
			gws := vs.GetGateways()
			if len(gws) == 0 {
				gws = []string{config.MeshGateway}
			}
			x.gateways = union(x.gateways, gws)
			x.exportTo = union(x.exportTo, vs.GetExportTo())
			x.addRoutes(r, vs)
		}
		for i, r := range drs {
			dr := r.DestinationRule()
			if x.display == "" {
				x.display = dr.GetHost()
			}
			if i == 0 {
				// Like the proxy, the first rule for a host sets its policy;
				// later ones only contribute subsets they do not share.
				x.drFields = flatten(dr).without("host", "subsets")
			}
			for i, ss := range dr.GetSubsets() {
				if _, dup := x.subsets[ss.GetName()]; dup {
					continue
				}
				x.subsets[ss.GetName()] = &subset{
					labels: labelString(ss.GetLabels()),
					policy: flatten(ss.GetTrafficPolicy()),
					res:    r,
					path:   fmt.Sprintf("spec.subsets[%d]", i),
				}
				x.subOrder = append(x.subOrder, ss.GetName())
			}
		}
		out[h] = x
	}
	// Gateway API routes join the hosts they route.
	target := func(r *config.Resource, t routeTarget) *host {
		x := out[t.fqdn]
		if x == nil {
			x = &host{fqdn: t.fqdn, display: t.display, hosts: reg.Hosts, subsets: map[string]*subset{}}
			out[t.fqdn] = x
		}
		x.hr = append(x.hr, r)
		if t.gateway != "" {
			x.gateways = union(x.gateways, strings.Split(t.gateway, ","))
		}
		return x
	}
	for _, kind := range []config.Kind{config.KindHTTPRoute, config.KindGRPCRoute} {
		for _, r := range s.List(kind, "") {
			if rt := r.GatewayRoute(); rt != nil {
				for _, t := range routeTargets(reg.Hosts, r, rt.ParentRefs, rt.Hostnames) {
					target(r, t).addGatewayRoute(r, rt)
				}
			}
		}
	}
	return out
}

// written is the host as the user wrote it in hosts, for display.
func written(hz *config.Hosts, hosts []string, ns, resolved string) string {
	for _, h := range hosts {
		if hz.Resolve(h, ns) == resolved {
			return h
		}
	}
	return resolved
}

// add appends a route; a key seen before gets a number, so that repeated
// routes stay apart.
func (x *host) add(rt *route) {
	if x.seen == nil {
		x.seen = map[string]int{}
	}
	x.seen[rt.key]++
	if n := x.seen[rt.key]; n > 1 {
		rt.key = fmt.Sprintf("%s#%d", rt.key, n)
	}
	x.routes = append(x.routes, rt)
}

func (x *host) addRoutes(r *config.Resource, vs *networking.VirtualService) {
	add := x.add
	for i, h := range vs.GetHttp() {
		desc := httpMatches(h.GetMatch())
		var ds []dest
		for _, d := range h.GetRoute() {
			ds = append(ds, x.dest(d.GetDestination(), d.GetWeight(), r.Namespace))
		}
		extra := proto.Clone(h).(*networking.HTTPRoute)
		extra.Match, extra.Route, extra.Name = nil, nil, ""
		add(&route{
			key: routeKey("http", h.GetName(), desc), label: routeLabel("", h.GetName(), desc, x.display),
			proto: "http", dests: normalize(ds), extra: flatten(extra), res: r, path: fmt.Sprintf("spec.http[%d]", i), destField: "route",
		})
	}
	for i, t := range vs.GetTcp() {
		add(x.l4Route("tcp", i, r, l4Matches(t.GetMatch()), t.GetRoute()))
	}
	for i, t := range vs.GetTls() {
		add(x.l4Route("tls", i, r, l4Matches(t.GetMatch()), t.GetRoute()))
	}
}

func routeKey(proto, name, desc string) string {
	if name != "" {
		return proto + " name:" + name
	}
	return proto + " match:" + desc
}

// routeLabel names a route for people: its match ("end-user=jason"), its
// name, or for the catch-all route the host itself.
func routeLabel(proto, name, desc, hostName string) string {
	var l string
	switch {
	case name != "" && desc != "":
		l = fmt.Sprintf("%q (%s)", name, desc)
	case name != "":
		l = strconv.Quote(name)
	case desc != "":
		l = desc
	default:
		l = hostName
	}
	if proto != "" {
		return proto + " " + l
	}
	return l
}

// dest names a destination relative to the host being routed: "v1" for a
// subset of the same host, "ratings:v2" for another host.
// l4Route describes a TCP or TLS route, which differ only in their match type.
func (x *host) l4Route(proto string, i int, r *config.Resource, desc string, rds []*networking.RouteDestination) *route {
	var ds []dest
	for _, d := range rds {
		ds = append(ds, x.dest(d.GetDestination(), d.GetWeight(), r.Namespace))
	}
	return &route{
		key: routeKey(proto, "", desc), label: routeLabel(proto, "", desc, x.display),
		proto: proto, dests: normalize(ds), extra: fields{}, res: r, path: fmt.Sprintf("spec.%s[%d]", proto, i), destField: "route",
	}
}

// l4Matches describes TCP or TLS match blocks, which are ORed.
func l4Matches[M proto.Message](matches []M) string {
	var ms []string
	for _, m := range matches {
		ms = append(ms, strings.Join(flatten(m).pairs(), " "))
	}
	return strings.Join(ms, " or ")
}

func (x *host) dest(d *networking.Destination, weight int32, ns string) dest {
	h := d.GetHost()
	full := x.hosts.Resolve(h, ns)
	key := full + "|" + d.GetSubset()
	var label string
	switch {
	case full == x.fqdn && d.GetSubset() != "":
		label = d.GetSubset()
	case d.GetSubset() != "":
		label = h + ":" + d.GetSubset()
	default:
		label = h
	}
	if p := d.GetPort().GetNumber(); p != 0 {
		key += "|" + strconv.Itoa(int(p))
		label += " port " + strconv.Itoa(int(p))
	}
	return dest{key: key, label: label, weight: weight}
}

// normalize applies the API's rule that a lone destination without a weight
// takes all the traffic, and merges repeated destinations.
func normalize(ds []dest) []dest {
	if len(ds) == 1 && ds[0].weight == 0 {
		ds[0].weight = 100
	}
	var out []dest
	idx := map[string]int{}
	for _, d := range ds {
		if i, ok := idx[d.key]; ok {
			out[i].weight += d.weight
			continue
		}
		idx[d.key] = len(out)
		out = append(out, d)
	}
	return out
}

// httpMatches describes the conditions of a route: conditions of one match
// all apply ("uri^=/api method=GET"), and any match may apply ("… or …").
func httpMatches(ms []*networking.HTTPMatchRequest) string {
	var parts []string
	for _, m := range ms {
		if d := httpMatch(m); d != "" {
			parts = append(parts, d)
		} else {
			// An empty match matches everything, so the route is a catch-all.
			return ""
		}
	}
	return strings.Join(parts, " or ")
}

func httpMatch(m *networking.HTTPMatchRequest) string {
	var c []string
	add := func(name string, sm *networking.StringMatch) {
		if s := stringMatch(name, sm); s != "" {
			c = append(c, s)
		}
	}
	add("uri", m.GetUri())
	add("scheme", m.GetScheme())
	add("method", m.GetMethod())
	add("authority", m.GetAuthority())
	for _, k := range sortedKeys(m.GetHeaders()) {
		add(k, m.GetHeaders()[k])
	}
	for _, k := range sortedKeys(m.GetQueryParams()) {
		add("?"+k, m.GetQueryParams()[k])
	}
	for _, k := range sortedKeys(m.GetWithoutHeaders()) {
		if s := stringMatch(k, m.GetWithoutHeaders()[k]); s != "" {
			c = append(c, "!("+s+")")
		} else {
			c = append(c, "!"+k)
		}
	}
	if p := m.GetPort(); p != 0 {
		c = append(c, "port="+strconv.Itoa(int(p)))
	}
	// Everything else is rarer; show it as written in YAML.
	rest := proto.Clone(m).(*networking.HTTPMatchRequest)
	rest.Name, rest.Uri, rest.Scheme, rest.Method, rest.Authority = "", nil, nil, nil, nil
	rest.Headers, rest.QueryParams, rest.WithoutHeaders, rest.Port = nil, nil, nil, 0
	c = append(c, flatten(rest).pairs()...)
	return strings.Join(c, " ")
}

// stringMatch is "name=v" (exact), "name^=v" (prefix) or "name~=v" (regex).
func stringMatch(name string, sm *networking.StringMatch) string {
	switch {
	case sm == nil:
		return ""
	case sm.GetExact() != "":
		return name + "=" + sm.GetExact()
	case sm.GetPrefix() != "":
		return name + "^=" + sm.GetPrefix()
	case sm.GetRegex() != "":
		return name + "~=" + sm.GetRegex()
	}
	return name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func labelString(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func union(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		if !set[s] {
			a = append(a, s)
			set[s] = true
		}
	}
	sort.Strings(a)
	return a
}

func list(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return "[" + strings.Join(l, ", ") + "]"
}
