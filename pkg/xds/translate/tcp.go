package translate

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// tcpTable is the route table of a TCP or TLS port of a service: its
// VirtualService's tls and tcp routes for the port, or the service itself.
// A service without a virtual IP (headless, a ServiceEntry without
// addresses) has none: its connections cannot be told from others on the
// port, so they pass through the virtual outbound listener unchanged.
func (b *builder) tcpTable(svc *config.Service, port uint32, proto ir.Protocol) *ir.RouteTable {
	vip := serviceAddress(svc)
	if vip == "" {
		return nil
	}
	rt := &ir.RouteTable{Name: ClusterName(port, "", svc.Host), Host: svc.Host, Port: port, Protocol: proto, Address: vip}
	if r := b.virtualService(svc.Host); r != nil {
		if routes := b.tcpRoutes(r, port, nil); len(routes) > 0 {
			rt.Source, rt.TCPRoutes = r.String(), routes
		}
	}
	// Connections no route takes go to the service itself: all of them
	// without a VirtualService, and, as in Istio, those outside the subnets
	// of tcp routes that all name some.
	narrowed, catchAll := false, false
	for _, t := range rt.TCPRoutes {
		if len(t.SNIHosts) == 0 {
			narrowed = narrowed || len(t.DestinationSubnets) > 0
			catchAll = catchAll || len(t.DestinationSubnets) == 0
		}
	}
	if rt.Source == "" || (narrowed && !catchAll) {
		rt.TCPRoutes = append(rt.TCPRoutes, &ir.TCPRoute{Destinations: []*ir.Destination{{Cluster: ClusterName(port, "", svc.Host), Weight: 100}}})
	}
	return rt
}

// serviceAddress is the virtual IP of a Service or the first address of a
// ServiceEntry, "" if it has none.
func serviceAddress(svc *config.Service) string {
	r := svc.Resource
	if r == nil || !r.Known() {
		return ""
	}
	var addr string
	switch r.Kind {
	case config.KindService:
		addr = r.Service().Spec.ClusterIP
	case config.KindServiceEntry:
		if as := r.ServiceEntry().Addresses; len(as) > 0 {
			addr = as[0]
		}
	}
	if net.ParseIP(addr) == nil {
		return "" // "None", empty, or a CIDR
	}
	return addr
}

// tcpRoutes translates the tls routes, then the tcp routes, of a
// VirtualService for one port, in the context being built (the mesh, or
// b.gateway). allowSNI, if set, narrows the server names a tls route may
// match (a gateway server's hosts).
//
// For sidecars a match's destinationSubnets narrow it to connections to
// those addresses, which the proxy decides (a filter chain per set of
// subnets, as in Istio); gateways ignore them, as Istio's do. A tcp route
// with a match that has no subnets takes every connection.
func (b *builder) tcpRoutes(r *config.Resource, port uint32, allowSNI func(string) bool) []*ir.TCPRoute {
	vs := r.VirtualService()
	var out []*ir.TCPRoute
	for i, t := range vs.Tls {
		// Matches with the same subnets share a filter chain; one per set.
		var groups []*ir.TCPRoute
		for j, m := range t.Match {
			if !b.l4Applies(r, m.Port, m.Gateways, m.SourceLabels, m.SourceNamespace, port) {
				continue
			}
			subnets, ok := b.destinationSubnets(r, fmt.Sprintf("tls[%d].match[%d]", i, j), m.DestinationSubnets)
			if !ok {
				continue
			}
			var sni []string
			for _, h := range m.SniHosts {
				if allowSNI == nil || allowSNI(h) {
					sni = append(sni, h)
				}
			}
			if len(sni) == 0 {
				continue // a tls route matches only by server name
			}
			k := slices.IndexFunc(groups, func(g *ir.TCPRoute) bool { return slices.Equal(g.DestinationSubnets, subnets) })
			if k < 0 {
				groups = append(groups, &ir.TCPRoute{DestinationSubnets: subnets, Source: fmt.Sprintf("%s tls[%d]", r, i)})
				k = len(groups) - 1
			}
			groups[k].SNIHosts = append(groups[k].SNIHosts, sni...)
		}
		if len(groups) == 0 {
			continue
		}
		if dests := b.l4Destinations(r, t.Route, port); len(dests) > 0 {
			for _, g := range groups {
				g.Destinations = dests
				out = append(out, g)
			}
		}
	}
	for i, t := range vs.Tcp {
		applies, anyDestination := len(t.Match) == 0, len(t.Match) == 0
		var subnets []string
		for j, m := range t.Match {
			if !b.l4Applies(r, m.Port, m.Gateways, m.SourceLabels, m.SourceNamespace, port) {
				continue
			}
			sn, ok := b.destinationSubnets(r, fmt.Sprintf("tcp[%d].match[%d]", i, j), m.DestinationSubnets)
			if !ok {
				continue
			}
			applies = true
			anyDestination = anyDestination || len(sn) == 0
			for _, s := range sn {
				if !slices.Contains(subnets, s) {
					subnets = append(subnets, s)
				}
			}
		}
		if !applies {
			continue
		}
		if anyDestination {
			subnets = nil
		}
		if dests := b.l4Destinations(r, t.Route, port); len(dests) > 0 {
			out = append(out, &ir.TCPRoute{DestinationSubnets: subnets, Source: fmt.Sprintf("%s tcp[%d]", r, i), Destinations: dests})
		}
	}
	return out
}

// destinationSubnets are a match's destinationSubnets for the context being
// built, each as a masked CIDR (an address is its own /32 or /128): none
// for gateways, which do not match on them. ok is false, and the problem
// reported, when one is not an address or CIDR: the match is left out
// rather than widened to every destination.
func (b *builder) destinationSubnets(r *config.Resource, where string, subnets []string) ([]string, bool) {
	if b.gateway != "" || len(subnets) == 0 {
		return nil, true
	}
	out := make([]string, 0, len(subnets))
	for k, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				b.problem(r, "%s.destinationSubnets[%d]: %q is not an IP address or CIDR (e.g. 10.0.0.0/16); match left out", where, k, s)
				return nil, false
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p = p.Masked(); !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out, true
}

// l4Applies reports whether a tls or tcp match applies to port in the
// context being built; client-dependent matches as httpRoute decides them.
func (b *builder) l4Applies(r *config.Resource, mport uint32, gateways []string, sourceLabels map[string]string, sourceNamespace string, port uint32) bool {
	if mport != 0 && mport != port {
		return false
	}
	if len(gateways) > 0 && !b.inContext(gateways, r.Namespace) {
		return false
	}
	if len(sourceLabels) > 0 || sourceNamespace != "" {
		b.sourceDependent = true
		if b.source == nil || !selects(sourceLabels, b.source) || (sourceNamespace != "" && sourceNamespace != b.view.Namespace) {
			return false
		}
	}
	return true
}

// l4Destinations resolves the weighted destinations of a tls or tcp route;
// one that does not resolve is reported and the route left out.
func (b *builder) l4Destinations(r *config.Resource, routes []*networking.RouteDestination, port uint32) []*ir.Destination {
	var out []*ir.Destination
	for _, rd := range routes {
		cluster, ok := b.destinationCluster(r, rd.Destination, r.Namespace, port)
		if !ok {
			return nil
		}
		w := uint32(rd.Weight)
		if w == 0 && len(routes) == 1 {
			w = 100
		}
		if w == 0 {
			continue // weight 0: no share
		}
		out = append(out, &ir.Destination{Cluster: cluster, Weight: w})
	}
	return out
}
