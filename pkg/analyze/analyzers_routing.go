package analyze

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// destinations yields every destination of a VirtualService with its path.
func destinations(vs *networking.VirtualService, fn func(path destPath, d *networking.Destination)) {
	for i, h := range vs.Http {
		for j, r := range h.Route {
			if r.Destination != nil {
				fn(destPath{"spec.http[", i, "].route[", j, "].destination"}, r.Destination)
			}
		}
		if h.Mirror != nil {
			fn(destPath{"spec.http[", i, "].mirror", -1, ""}, h.Mirror)
		}
		for j, m := range h.Mirrors {
			if m.Destination != nil {
				fn(destPath{"spec.http[", i, "].mirrors[", j, "].destination"}, m.Destination)
			}
		}
	}
	for i, t := range vs.Tcp {
		for j, r := range t.Route {
			if r.Destination != nil {
				fn(destPath{"spec.tcp[", i, "].route[", j, "].destination"}, r.Destination)
			}
		}
	}
	for i, t := range vs.Tls {
		for j, r := range t.Route {
			if r.Destination != nil {
				fn(destPath{"spec.tls[", i, "].route[", j, "].destination"}, r.Destination)
			}
		}
	}
}

// destPath is the field path of a destination: a + i + b (+ j + c when
// j >= 0). Several analyzers visit every destination of every
// VirtualService; the text is made only for the few they report.
type destPath struct {
	a string
	i int
	b string
	j int
	c string
}

// String is the path ("spec.http[0].route[1].destination").
func (p destPath) String() string { return routePath(p.a, p.i, p.b, p.j, p.c) }

// at is the path of a field of the destination (".host").
func (p destPath) at(field string) string { return p.String() + field }

func routePath(a string, i int, b string, j int, c string) string {
	buf := make([]byte, 0, len(a)+len(b)+len(c)+8)
	buf = strconv.AppendInt(append(buf, a...), int64(i), 10)
	buf = append(buf, b...)
	if j >= 0 {
		buf = strconv.AppendInt(buf, int64(j), 10)
		buf = append(buf, c...)
	}
	return string(buf)
}

var vsInputs = k(config.KindVirtualService, config.KindDestinationRule, config.KindService, config.KindServiceEntry, config.KindNamespace)

var routingAnalyzers = []*Analyzer{
	{
		Code: "MSH0101", Name: "ReferencedHostNotFound", Level: Error,
		Doc:    "A VirtualService routes or mirrors to a host that no Service or ServiceEntry defines.",
		Inputs: vsInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				destinations(r.VirtualService(), func(p destPath, d *networking.Destination) {
					if d.Host == "" || len(c.lookupHost(d.Host, r.Namespace)) > 0 {
						return
					}
					c.Report(r, p.at(".host"), fmt.Sprintf("create a Service or ServiceEntry for %s, or correct the host", d.Host),
						"Referenced host not found: %q", d.Host)
				})
			}
		},
	},
	{
		Code: "MSH0102", Name: "ReferencedSubsetNotFound", Level: Error,
		Doc:    "A VirtualService routes to a subset that no DestinationRule of the host defines (requests fail with 503).",
		Inputs: vsInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				destinations(r.VirtualService(), func(p destPath, d *networking.Destination) {
					if d.Subset == "" || d.Host == "" {
						return
					}
					if len(c.lookupHost(d.Host, r.Namespace)) == 0 {
						return // MSH0101 reports the host; its subsets cannot exist either
					}
					h := c.hosts().Resolve(d.Host, r.Namespace)
					if c.hasSubset(h, r.Namespace, d.Subset) {
						return
					}
					c.Report(r, p.at(".subset"), fmt.Sprintf("define subset %s in a DestinationRule for host %s, or route to an existing subset", d.Subset, d.Host),
						"Referenced subset not found: %q of host %q", d.Subset, d.Host)
				})
			}
		},
	},
	{
		Code: "MSH0103", Name: "ReferencedGatewayNotFound", Level: Error,
		Doc:    "A VirtualService is bound to a Gateway that does not exist.",
		Inputs: k(config.KindVirtualService, config.KindGateway),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				for i, g := range vs.Gateways {
					if g == "mesh" {
						continue
					}
					ns, name := config.GatewayRef(g, r.Namespace)
					if c.Store.Get(config.KindGateway, ns, name) != nil || !c.knows(config.KindGateway) {
						continue // without a cluster and without Gateways in the files: cannot tell
					}
					c.Report(r, field("spec.gateways[%d]", i), fmt.Sprintf("create Gateway %s/%s or reference an existing one as NAMESPACE/NAME", ns, name),
						"Referenced gateway not found: %q", g)
				}
			}
		},
	},
	{
		Code: "MSH0104", Name: "RouteWeightsNotSum100", Level: Warning,
		Doc:    "The weights of a route's destinations do not add up to 100.",
		Inputs: k(config.KindVirtualService),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				check := func(p string, ws []int32) {
					if len(ws) < 2 {
						return
					}
					sum := int32(0)
					for _, w := range ws {
						sum += w
					}
					if sum != 100 {
						c.Report(r, p, "make the weights add up to 100", "route weights add up to %d, not 100", sum)
					}
				}
				for i, h := range vs.Http {
					var ws []int32
					for _, d := range h.Route {
						ws = append(ws, d.Weight)
					}
					check(field("spec.http[%d].route", i), ws)
				}
				for i, t := range vs.Tcp {
					var ws []int32
					for _, d := range t.Route {
						ws = append(ws, d.Weight)
					}
					check(field("spec.tcp[%d].route", i), ws)
				}
			}
		},
	},
	{
		Code: "MSH0105", Name: "UnreachableRoute", Level: Warning,
		Doc:    "An HTTP route can never match: it comes after a catch-all route, or an earlier route has the same match.",
		Inputs: k(config.KindVirtualService),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				catchAll := -1
				for i, h := range vs.Http {
					p := field("spec.http[%d]", i)
					if catchAll >= 0 {
						c.Report(r, p, "move it before the catch-all route or remove it",
							"HTTP route %d can never match: route %d before it matches every request", i, catchAll)
						continue
					}
					if j := shadowedBy(vs.Http[:i], h); j >= 0 {
						c.Report(r, p+".match", "change its match or remove it",
							"HTTP route %d can never match: route %d has the same match", i, j)
					}
					if isCatchAll(h) {
						catchAll = i
					}
				}
			}
		},
	},
	{
		Code: "MSH0106", Name: "ConflictingVirtualServices", Level: Error,
		Doc:    "Several VirtualServices route the same host on the same gateway; only one of them takes effect.",
		Inputs: k(config.KindVirtualService, config.KindNamespace),
		Run: func(c *Context) {
			type key struct{ host, gateway string }
			owners := map[key][]*config.Resource{}
			var keys []key
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				gws := vs.Gateways
				if len(gws) == 0 {
					gws = []string{"mesh"}
				}
				for _, h := range vs.Hosts {
					for _, g := range gws {
						gk := g
						if g != "mesh" {
							ns, name := config.GatewayRef(g, r.Namespace)
							gk = ns + "/" + name
						}
						kk := key{c.hosts().Resolve(h, r.Namespace), gk}
						if len(owners[kk]) == 0 {
							keys = append(keys, kk)
						}
						if l := owners[kk]; len(l) == 0 || l[len(l)-1] != r {
							owners[kk] = append(l, r)
						}
					}
				}
			}
			for _, kk := range keys {
				rs := owners[kk]
				if len(rs) < 2 {
					continue
				}
				for _, r := range rs {
					var others []string
					for _, o := range rs {
						if o != r {
							others = append(others, o.Namespace+"/"+o.Name)
						}
					}
					c.Report(r, "spec.hosts", "merge the routes into one VirtualService per host and gateway",
						"host %q on gateway %q is also routed by VirtualService %s", kk.host, kk.gateway, describe(others))
				}
			}
		},
	},
	{
		Code: "MSH0107", Name: "DestinationPortNotFound", Level: Error,
		Doc:    "A VirtualService destination names a port the Service or ServiceEntry does not have.",
		Inputs: vsInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				destinations(r.VirtualService(), func(p destPath, d *networking.Destination) {
					if d.Port == nil || d.Port.Number == 0 {
						return
					}
					entries := c.lookupHost(d.Host, r.Namespace)
					if len(entries) == 0 {
						return // MSH0101 reports it
					}
					var have []string
					for _, e := range entries {
						if len(e.Ports) == 0 {
							return // a ServiceEntry without ports accepts any
						}
						for _, pi := range e.Ports {
							if pi.Number == d.Port.Number {
								return
							}
							have = append(have, fmt.Sprint(pi.Number))
						}
					}
					c.Report(r, p.at(".port.number"), fmt.Sprintf("use one of the ports of %s: %s", d.Host, strings.Join(have, ", ")),
						"destination port %d is not a port of %q", d.Port.Number, d.Host)
				})
			}
		},
	},
	{
		Code: "MSH0108", Name: "DestinationPortRequired", Level: Error,
		Doc:    "A VirtualService bound to a Gateway routes to a service with several ports without naming one; the gateway cannot tell which to use.",
		Inputs: vsInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				if !boundToGateway(vs.Gateways) {
					continue // a sidecar keeps the port the client called
				}
				destinations(vs, func(p destPath, d *networking.Destination) {
					if d.Host == "" || d.Port != nil && d.Port.Number != 0 {
						return
					}
					ports := map[uint32]bool{}
					for _, e := range c.lookupHost(d.Host, r.Namespace) {
						for _, pi := range e.Ports {
							ports[pi.Number] = true
						}
					}
					if len(ports) < 2 {
						return
					}
					var have []string
					for n := range ports {
						have = append(have, fmt.Sprint(n))
					}
					sort.Strings(have)
					c.Report(r, p.String(), fmt.Sprintf("add port.number to the destination: one of %s", strings.Join(have, ", ")),
						"destination %q has ports %s; a route from a gateway must name one", d.Host, strings.Join(have, ", "))
				})
			}
		},
	},
	{
		Code: "MSH0109", Name: "IneffectiveMatch", Level: Info,
		Doc:    "One match of a route repeats a match of an earlier route, so it never selects this route; the route's other matches still work (an HTTP route that an earlier one shadows entirely is MSH0105).",
		Inputs: k(config.KindVirtualService),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				first := map[string]int{} // match → first route that has it
				for i, h := range vs.Http {
					if len(h.Match) == 0 {
						break // a catch-all: what follows is MSH0105's
					}
					if shadowedBy(vs.Http[:i], h) >= 0 {
						continue // the whole route is unreachable: MSH0105
					}
					for j, m := range h.Match {
						key := matchKey(m)
						if k, ok := first[key]; ok && k < i {
							c.Report(r, field("spec.http[%d].match[%d]", i, j), "remove the repeated match",
								"HTTP route %d match %d is never used: route %d has the same match", i, j, k)
						} else if !ok {
							first[key] = i
						}
					}
					if isCatchAll(h) {
						break
					}
				}
				for i, t := range vs.Tcp {
					for _, d := range repeatedMatches(i, t.Match, first, "tcp") {
						c.Report(r, field("spec.tcp[%d].match[%d]", i, d[0]), "remove the repeated match",
							"TCP route %d match %d is never used: route %d has the same match", i, d[0], d[1])
					}
				}
				for i, t := range vs.Tls {
					for _, d := range repeatedMatches(i, t.Match, first, "tls") {
						c.Report(r, field("spec.tls[%d].match[%d]", i, d[0]), "remove the repeated match",
							"TLS route %d match %d is never used: route %d has the same match", i, d[0], d[1])
					}
				}
			}
		},
	},
	{
		Code: "MSH0110", Name: "VirtualServiceHostNotInGateway", Level: Warning,
		Doc:    "A VirtualService is bound to a Gateway none of whose servers accepts any of its hosts, so the gateway never uses its routes.",
		Inputs: k(config.KindVirtualService, config.KindGateway),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				for i, g := range vs.Gateways {
					if g == config.MeshGateway {
						continue
					}
					ns, name := config.GatewayRef(g, r.Namespace)
					gw := c.Store.Get(config.KindGateway, ns, name)
					if gw == nil {
						continue // MSH0103
					}
					accepted, hosts := gatewayAccepts(c, gw, r.Namespace, vs.Hosts)
					if accepted || len(hosts) == 0 {
						continue
					}
					c.Report(r, field("spec.gateways[%d]", i), fmt.Sprintf("add the host to a server of Gateway %s/%s, or bind the VirtualService to the gateway that serves it", ns, name),
						"no server of Gateway %s/%s accepts %s (its servers accept %s for namespace %s)", ns, name, describeHosts(vs.Hosts), describeHosts(hosts), r.Namespace)
				}
			}
		},
	},
	{
		Code: "MSH0112", Name: "GatewayRouteBypassesSubsets", Level: Warning,
		Doc:    "A VirtualService bound to a Gateway routes to a host without a subset while another VirtualService splits that host's traffic by subsets inside the mesh: those rules apply to sidecars only, so gateway traffic reaches every version.",
		Inputs: vsInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				if !boundToGateway(vs.Gateways) {
					continue
				}
				done := map[string]bool{}
				destinations(vs, func(p destPath, d *networking.Destination) {
					if d.Host == "" || d.Subset != "" || !strings.HasPrefix(p.a, "spec.http") {
						return
					}
					h := c.hosts().Resolve(d.Host, r.Namespace)
					if done[h] || config.IsWildcard(h) {
						return
					}
					done[h] = true
					if v := c.registry().DestinationRule(h, r.Namespace); v == nil || len(v.Subsets) < 2 {
						return // one version at most: nothing to bypass
					}
					for _, m := range c.registry().VirtualServices(h, r.Namespace, config.MeshGateway) {
						if m == r || !routesBySubset(c, m, h) {
							continue
						}
						c.Report(r, p.at(".host"), fmt.Sprintf("route to the subsets here too, or bind VirtualService %s/%s to this gateway as well", m.Namespace, m.Name),
							"traffic from the gateway to %q reaches every version: the subsets VirtualService %s/%s routes by apply only inside the mesh", d.Host, m.Namespace, m.Name)
						return
					}
				})
			}
		},
	},
	{
		Code: "MSH0111", Name: "JWTClaimRouteWithoutRequestAuthentication", Level: Error,
		Doc:    "A VirtualService bound to a Gateway matches on a JWT claim (@request.auth.claims.…), but no RequestAuthentication applies to the gateway's pods: the claims are never extracted, so the match never succeeds.",
		Inputs: kinds(k(config.KindVirtualService, config.KindGateway, config.KindRequestAuthentication), workloadKinds),
		Run: func(c *Context) {
			var ras map[string][]*config.Resource // by namespace, built on first use
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				vs := r.VirtualService()
				claim := jwtClaimKey(vs)
				if claim == "" {
					continue
				}
				if ras == nil {
					ras = map[string][]*config.Resource{}
					for _, ra := range c.Store.List(config.KindRequestAuthentication, "") {
						ras[ra.Namespace] = append(ras[ra.Namespace], ra)
					}
				}
				for i, g := range vs.Gateways {
					if g == config.MeshGateway {
						continue
					}
					ns, name := config.GatewayRef(g, r.Namespace)
					gw := c.Store.Get(config.KindGateway, ns, name)
					if gw == nil || len(gw.Gateway().Selector) == 0 {
						continue
					}
					for _, w := range c.matching("", gw.Gateway().Selector) {
						if requestAuthenticated(ras[c.opts.RootNamespace], w) || w.res.Namespace != c.opts.RootNamespace && requestAuthenticated(ras[w.res.Namespace], w) {
							continue
						}
						level, note := c.current.Level, ""
						if !c.knows(config.KindRequestAuthentication) {
							level, note = Info, " in the files (no cluster was read, and the files hold no RequestAuthentication)"
						}
						c.ReportLevel(level, r, field("spec.gateways[%d]", i),
							fmt.Sprintf("apply a RequestAuthentication selecting the gateway's pods in namespace %s (or mesh-wide in %s)", w.res.Namespace, c.opts.RootNamespace),
							"routes on JWT claim %q through Gateway %s/%s, but no RequestAuthentication applies to its %s %s/%s%s", claim, ns, name, w.res.Kind, w.res.Namespace, w.res.Name, note)
						break
					}
				}
			}
		},
	},
}

// boundToGateway reports whether a VirtualService applies to a Gateway (and
// not only to sidecars).
func boundToGateway(gateways []string) bool {
	for _, g := range gateways {
		if g != config.MeshGateway {
			return true
		}
	}
	return false
}

// isCatchAll reports whether an HTTP route matches every request.
func isCatchAll(h *networking.HTTPRoute) bool {
	if len(h.Match) == 0 {
		return true
	}
	for _, m := range h.Match {
		mm := proto.Clone(m).(*networking.HTTPMatchRequest)
		mm.Name = ""
		if u := mm.Uri; u != nil {
			if p, ok := u.MatchType.(*networking.StringMatch_Prefix); ok && p.Prefix == "/" {
				mm.Uri = nil
			}
		}
		if proto.Size(mm) == 0 {
			return true
		}
	}
	return false
}

// shadowedBy returns the index of an earlier route that has every match of h.
func shadowedBy(earlier []*networking.HTTPRoute, h *networking.HTTPRoute) int {
	if len(h.Match) == 0 {
		return -1
	}
	for j, e := range earlier {
		all := true
		for _, m := range h.Match {
			found := false
			for _, em := range e.Match {
				a := proto.Clone(m).(*networking.HTTPMatchRequest)
				b := proto.Clone(em).(*networking.HTTPMatchRequest)
				a.Name, b.Name = "", ""
				if proto.Equal(a, b) {
					found = true
					break
				}
			}
			if !found {
				all = false
				break
			}
		}
		if all {
			return j
		}
	}
	return -1
}

// matchKey is an HTTP match without its name, for comparing matches.
func matchKey(m *networking.HTTPMatchRequest) string {
	mm := proto.Clone(m).(*networking.HTTPMatchRequest)
	mm.Name = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(mm)
	return string(b)
}

// gatewayAccepts reports whether a server of gw accepts one of the hosts of
// a VirtualService of namespace ns, and the hosts its servers accept there.
// A server host "ns/host" applies only to VirtualServices of ns ("." is the
// Gateway's own namespace, "*" any).
func gatewayAccepts(c *Context, gw *config.Resource, ns string, vsHosts []string) (bool, []string) {
	var hosts []string
	for _, s := range gw.Gateway().Servers {
		for _, h := range s.Hosts {
			hns, host, ok := strings.Cut(h, "/")
			if !ok {
				hns, host = "*", h
			}
			if hns == "." {
				hns = gw.Namespace
			}
			if hns != "*" && hns != ns {
				continue
			}
			hosts = append(hosts, host)
			gh := c.hosts().Resolve(host, gw.Namespace)
			for _, vh := range vsHosts {
				if config.HostsOverlap(gh, c.hosts().Resolve(vh, ns)) {
					return true, nil
				}
			}
		}
	}
	return false, hosts
}

// jwtClaimPrefix starts the header names that match on a validated JWT's
// claims rather than on a request header.
const jwtClaimPrefix = "@request.auth.claims."

// jwtClaimKey returns the first JWT claim an HTTP route matches on, "" if none.
func jwtClaimKey(vs *networking.VirtualService) string {
	for _, h := range vs.Http {
		for _, m := range h.Match {
			for _, hs := range []map[string]*networking.StringMatch{m.Headers, m.WithoutHeaders} {
				for _, key := range sortedKeys(hs) {
					if strings.HasPrefix(key, jwtClaimPrefix) {
						return key
					}
				}
			}
		}
	}
	return ""
}

// requestAuthenticated reports whether one of ras (of one namespace)
// applies to the workload: no selector, or one its pods match.
func requestAuthenticated(ras []*config.Resource, w workload) bool {
	for _, ra := range ras {
		sel := ra.RequestAuthentication().GetSelector().GetMatchLabels()
		if len(sel) == 0 || selectorMatches(sel, w.tmpl.Labels) {
			return true
		}
	}
	return false
}

// routesBySubset reports whether a VirtualService sends traffic for host
// (resolved) to a subset of it.
func routesBySubset(c *Context, r *config.Resource, host string) bool {
	found := false
	destinations(r.VirtualService(), func(_ destPath, d *networking.Destination) {
		if d.Subset != "" && c.hosts().Resolve(d.Host, r.Namespace) == host {
			found = true
		}
	})
	return found
}

// repeatedMatches returns, for route i of a TCP or TLS list, each match
// that an earlier route of the list already has, with that route's index;
// seen (keyed with the list's kind) remembers the matches of the routes so far.
func repeatedMatches[M proto.Message](i int, ms []M, seen map[string]int, kind string) [][2]int {
	var out [][2]int
	for j, m := range ms {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		key := kind + "\x00" + string(b)
		if k, ok := seen[key]; ok && k < i {
			out = append(out, [2]int{j, k})
		} else if !ok {
			seen[key] = i
		}
	}
	return out
}
