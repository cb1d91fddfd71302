package translate

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// gateways builds the listeners of a gateway proxy: the servers of every
// Gateway whose selector matches the proxy's labels, grouped by port, and for
// HTTP ports the routes of the VirtualServices bound to those Gateways.
func (b *builder) gateways(pod *config.Resource) []*ir.GatewayListener {
	byPort := map[uint32]*ir.GatewayListener{}
	hostsByPort := map[uint32]map[string][]string{} // port → gateway → server hosts
	for _, r := range b.x.gw {
		gw := r.Gateway()
		if len(gw.Selector) == 0 || !selects(gw.Selector, pod.Labels) {
			continue
		}
		key := r.Namespace + "/" + r.Name
		for _, s := range gw.Servers {
			if s.Port == nil {
				continue
			}
			port := s.Port.Number
			l := byPort[port]
			if l == nil {
				l = &ir.GatewayListener{Name: fmt.Sprintf("0.0.0.0_%d", port), Port: port, Protocol: config.ParseProtocol(s.Port.Protocol)}
				byPort[port] = l
				hostsByPort[port] = map[string][]string{}
			}
			gs := &ir.GatewayServer{Source: r.String(), Hosts: s.Hosts}
			if t := s.Tls; t != nil {
				gs.HTTPSRedirect = t.HttpsRedirect
				if t.Mode == networking.ServerTLSSettings_SIMPLE || t.Mode == networking.ServerTLSSettings_MUTUAL {
					gs.TLS = &ir.TLS{Mode: t.Mode.String(), CredentialName: t.CredentialName, SubjectAltNames: t.SubjectAltNames}
				}
			}
			l.Servers = append(l.Servers, gs)
			hostsByPort[port][key] = append(hostsByPort[port][key], s.Hosts...)
		}
	}
	var out []*ir.GatewayListener
	for port, l := range byPort {
		if l.Protocol.IsHTTP() || (l.Protocol == ir.ProtocolHTTPS && anyTLS(l)) {
			l.RouteTable = b.gatewayRoutes(port, hostsByPort[port])
		}
		if !l.Protocol.IsHTTP() {
			l.TCPRoutes = b.gatewayTCPRoutes(port, hostsByPort[port])
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

func anyTLS(l *ir.GatewayListener) bool {
	for _, s := range l.Servers {
		if s.TLS != nil {
			return true
		}
	}
	return false
}

// gatewayRoutes makes one virtual host per VirtualService host bound to one
// of the gateways and allowed by the server hosts ("ns/host" forms narrow the
// namespace of the VirtualService).
func (b *builder) gatewayRoutes(port uint32, gateways map[string][]string) *ir.GatewayRoutes {
	rt := &ir.GatewayRoutes{Name: fmt.Sprintf("http.%d", port)}
	seen := map[string]bool{}
	gwKeys := sortedKeys(gateways)
	for _, r := range b.x.vs {
		vs := r.VirtualService()
		for _, gwKey := range gwKeys {
			b.gateway = gwKey
			if !b.inContext(vs.Gateways, r.Namespace) {
				continue
			}
			for _, h := range vs.Hosts {
				if seen[h] || !serverAllows(gateways[gwKey], h, r.Namespace) {
					continue
				}
				seen[h] = true
				vh := &ir.GatewayVirtualHost{
					Name:    fmt.Sprintf("%s:%d", h, port),
					Domains: gatewayDomains(h, port),
					Source:  r.String(),
				}
				for i, hr := range vs.Http {
					if route, ok := b.httpRoute(r, i, hr, port); ok {
						vh.Routes = append(vh.Routes, route)
					}
				}
				rt.VirtualHosts = append(rt.VirtualHosts, vh)
			}
		}
	}
	b.gateway = ""
	sort.Slice(rt.VirtualHosts, func(i, j int) bool { return rt.VirtualHosts[i].Name < rt.VirtualHosts[j].Name })
	return rt
}

// serverAllows reports whether a VirtualService host (of namespace ns) is
// served by a server with the given hosts ("*", "*.example.com",
// "ns/host", "./host").
func serverAllows(serverHosts []string, host, ns string) bool {
	for _, sh := range serverHosts {
		if n, h, ok := strings.Cut(sh, "/"); ok {
			if n != "*" && n != ns {
				continue
			}
			sh = h
		}
		if config.HostsOverlap(sh, host) {
			return true
		}
	}
	return false
}

func gatewayDomains(h string, port uint32) []string {
	if h == "*" {
		return []string{"*"}
	}
	return []string{h, fmt.Sprintf("%s:%d", h, port)}
}

// gatewayTCPRoutes are the tls and tcp routes of the VirtualServices bound
// to the gateways of a TCP, TLS or HTTPS port (TLS PASSTHROUGH servers):
// a tls route only for server names the servers accept.
func (b *builder) gatewayTCPRoutes(port uint32, gateways map[string][]string) []*ir.TCPRoute {
	var out []*ir.TCPRoute
	gwKeys := sortedKeys(gateways)
	for _, r := range b.x.vs {
		vs := r.VirtualService()
		for _, gwKey := range gwKeys {
			b.gateway = gwKey
			if !b.inContext(vs.Gateways, r.Namespace) {
				continue
			}
			hosts := gateways[gwKey]
			if !slices.ContainsFunc(vs.Hosts, func(h string) bool { return serverAllows(hosts, h, r.Namespace) }) {
				continue
			}
			out = append(out, b.tcpRoutes(r, port, func(sni string) bool { return serverAllows(hosts, sni, r.Namespace) })...)
			break // a VirtualService routes a port once
		}
	}
	b.gateway = ""
	return out
}
