package translate

import (
	"fmt"
	"net"

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
	if rt.Source == "" {
		rt.TCPRoutes = []*ir.TCPRoute{{Destinations: []*ir.Destination{{Cluster: ClusterName(port, "", svc.Host), Weight: 100}}}}
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
func (b *builder) tcpRoutes(r *config.Resource, port uint32, allowSNI func(string) bool) []*ir.TCPRoute {
	vs := r.VirtualService()
	var out []*ir.TCPRoute
	for i, t := range vs.Tls {
		var sni []string
		for _, m := range t.Match {
			if !b.l4Applies(r, m.Port, m.Gateways, m.SourceLabels, m.SourceNamespace, port) {
				continue
			}
			for _, h := range m.SniHosts {
				if allowSNI == nil || allowSNI(h) {
					sni = append(sni, h)
				}
			}
		}
		if len(sni) == 0 {
			continue // a tls route matches only by server name
		}
		if dests := b.l4Destinations(r, t.Route, port); len(dests) > 0 {
			out = append(out, &ir.TCPRoute{SNIHosts: sni, Source: fmt.Sprintf("%s tls[%d]", r, i), Destinations: dests})
		}
	}
	for i, t := range vs.Tcp {
		applies := len(t.Match) == 0
		for _, m := range t.Match {
			applies = applies || b.l4Applies(r, m.Port, m.Gateways, m.SourceLabels, m.SourceNamespace, port)
		}
		if !applies {
			continue
		}
		if dests := b.l4Destinations(r, t.Route, port); len(dests) > 0 {
			out = append(out, &ir.TCPRoute{Source: fmt.Sprintf("%s tcp[%d]", r, i), Destinations: dests})
		}
	}
	return out
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
