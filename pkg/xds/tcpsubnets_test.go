package xds_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// TestTCPRoutesByDestinationSubnet: a sidecar's TCP/TLS listener, after
// Validate(), sends every connection where the VirtualService's first
// fitting route says, by server name and destinationSubnets, although
// Envoy picks a filter chain by the most specific match (destination
// address, then server name, then transport) and not the first. Envoy's
// choice is replayed here as its FilterChainMatch documentation states it.
func TestTCPRoutesByDestinationSubnet(t *testing.T) {
	route := func(cluster string, sni []string, subnets ...string) *ir.TCPRoute {
		return &ir.TCPRoute{SNIHosts: sni, DestinationSubnets: subnets, Source: cluster, Destinations: []*ir.Destination{{Cluster: cluster, Weight: 100}}}
	}
	rt := &ir.RouteTable{Name: "outbound|636||ldap.default.svc.cluster.local", Host: "ldap.default.svc.cluster.local", Port: 636, Protocol: ir.ProtocolTLS, Address: "10.96.1.70",
		TCPRoutes: []*ir.TCPRoute{
			route("tls-a-24", []string{"a.example"}, "10.96.1.0/24"),
			route("tls-b", []string{"b.example"}),
			route("tls-ac-25", []string{"a.example", "c.example"}, "10.96.1.0/25"),
			route("tls-b-26", []string{"b.example"}, "10.96.1.64/26"), // b.example is tls-b's everywhere
			route("tcp-16", nil, "10.96.0.0/16", "192.168.0.0/16", "fd00::/64"),
			route("tcp-inside-16", nil, "10.96.1.128/25"), // inside tcp-16's
			route("tcp-host", nil, "172.16.0.5/32"),
			route("tcp-any", nil),
			route("tcp-any-again", nil),
		}}
	res, problems := generate.SidecarTCPListener(rt)
	for _, p := range problems {
		t.Fatalf("listener fails validation: %v", p)
	}
	l, ok := res[generate.ListenerType]["10.96.1.70_636"].(*listener.Listener)
	if !ok {
		t.Fatalf("no listener 10.96.1.70_636: %v", res)
	}
	// The VirtualService's meaning: the first route whose server names (a
	// tls route) and subnets fit.
	firstFit := func(dst netip.Addr, sni string) string {
		for _, r := range rt.TCPRoutes {
			if len(r.SNIHosts) > 0 && !slices.Contains(r.SNIHosts, sni) {
				continue
			}
			if len(r.DestinationSubnets) > 0 && !slices.ContainsFunc(r.DestinationSubnets, func(s string) bool { return netip.MustParsePrefix(s).Contains(dst) }) {
				continue
			}
			return r.Destinations[0].Cluster
		}
		return ""
	}
	reached := map[string]bool{}
	for _, dst := range []string{"10.96.1.70", "10.96.1.10", "10.96.1.100", "10.96.1.200", "10.96.2.1", "192.168.1.1", "172.16.0.5", "172.16.0.6", "8.8.8.8", "fd00::1", "fd01::1"} {
		for _, sni := range []string{"", "a.example", "b.example", "c.example", "d.example"} {
			want := firstFit(netip.MustParseAddr(dst), sni)
			got, err := envoyChoice(l, netip.MustParseAddr(dst), sni)
			if err != nil {
				t.Errorf("to %s, server name %q: %v", dst, sni, err)
				continue
			}
			reached[got] = true
			if got != want {
				t.Errorf("to %s, server name %q: Envoy proxies to %q, the VirtualService says %q", dst, sni, got, want)
			}
		}
	}
	for _, never := range []string{"tls-b-26", "tcp-inside-16", "tcp-any-again"} {
		if reached[never] {
			t.Errorf("%s is reached though an earlier route takes all its connections", never)
		}
	}
	names := map[string]bool{}
	for _, c := range l.FilterChains {
		if n := c.Name; n == "tls-b-26" || n == "tcp-inside-16" || n == "tcp-any-again" {
			t.Errorf("a chain for %s, which no connection reaches", n)
		}
		if names[c.Name] {
			t.Errorf("two chains are named %q", c.Name)
		}
		names[c.Name] = true
	}
}

// envoyChoice is the filter chain Envoy takes for a connection to dst with
// server name sni ("" for a connection that is not TLS): among the chains
// whose criteria all fit, the most specific destination prefix (chains
// without prefix ranges only if none fits), then an exact server name
// (chains without server names only if none fits), then the transport
// protocol ("tls" for TLS, chains without one otherwise). It returns the
// cluster of the chain's tcp_proxy, "" for none, and an error when more
// than one chain is left (Envoy rejects such listeners).
func envoyChoice(l *listener.Listener, dst netip.Addr, sni string) (string, error) {
	best := -1
	for _, c := range l.FilterChains {
		for _, r := range c.GetFilterChainMatch().GetPrefixRanges() {
			p := netip.PrefixFrom(netip.MustParseAddr(r.AddressPrefix), int(r.GetPrefixLen().GetValue()))
			if p.Contains(dst) && p.Bits() > best {
				best = p.Bits()
			}
		}
	}
	var left []*listener.FilterChain
	for _, c := range l.FilterChains {
		rs := c.GetFilterChainMatch().GetPrefixRanges()
		if best < 0 && len(rs) == 0 || slices.ContainsFunc(rs, func(r *core.CidrRange) bool {
			p := netip.PrefixFrom(netip.MustParseAddr(r.AddressPrefix), int(r.GetPrefixLen().GetValue()))
			return p.Bits() == best && p.Contains(dst)
		}) {
			left = append(left, c)
		}
	}
	named := slices.DeleteFunc(slices.Clone(left), func(c *listener.FilterChain) bool {
		return sni == "" || !slices.Contains(c.GetFilterChainMatch().GetServerNames(), sni)
	})
	if len(named) == 0 {
		named = slices.DeleteFunc(left, func(c *listener.FilterChain) bool { return len(c.GetFilterChainMatch().GetServerNames()) > 0 })
	}
	transport := "raw_buffer"
	if sni != "" {
		transport = "tls"
	}
	left = slices.DeleteFunc(slices.Clone(named), func(c *listener.FilterChain) bool {
		return c.GetFilterChainMatch().GetTransportProtocol() != transport
	})
	if len(left) == 0 {
		left = slices.DeleteFunc(named, func(c *listener.FilterChain) bool { return c.GetFilterChainMatch().GetTransportProtocol() != "" })
	}
	switch len(left) {
	case 0:
		return "", nil
	case 1:
		tp := &tcpproxy.TcpProxy{}
		if err := left[0].Filters[0].GetTypedConfig().UnmarshalTo(tp); err != nil {
			return "", err
		}
		return tp.GetCluster(), nil
	}
	var names []string
	for _, c := range left {
		names = append(names, c.Name)
	}
	return "", fmt.Errorf("several filter chains match (Envoy rejects the listener): %s", strings.Join(names, ", "))
}
