package generate

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	origdst "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// Names shared with the proxy's bootstrap and Istio's conventions.
const (
	PassthroughCluster        = "PassthroughCluster"
	BlackHoleCluster          = "BlackHoleCluster"
	InboundPassthroughCluster = "InboundPassthroughCluster"
	VirtualOutboundListener   = "virtualOutbound"
	VirtualInboundListener    = "virtualInbound"
	// SDSCluster is the bootstrap cluster of the agent's SDS socket;
	// SDSWorkloadCert and SDSRootCert are the secrets it serves.
	SDSCluster      = "sds-grpc"
	SDSWorkloadCert = "default"
	SDSRootCert     = "ROOTCA"
	// tlsModeKey is the endpoint metadata auto mTLS matches on.
	tlsModeKey = "envoy.transport_socket_match"
)

// Ports of the sidecar's redirection.
type Ports struct {
	Outbound uint32 // iptables sends outbound connections here (15001)
	Inbound  uint32 // and inbound ones here (15006)
}

// Sidecar generates an Envoy sidecar's config: the virtual outbound listener
// (original destination) with one bind_to_port=false HTTP listener per
// service port routed by the route config named after the port, the
// virtual inbound listener with one filter chain per workload port (mTLS as
// PeerAuthentication says, RBAC from AuthorizationPolicies), and clusters
// with TLS from DestinationRules or auto mTLS to endpoints with sidecars.
//
// It is the composition of the pieces below, which the server generates
// separately so that an event regenerates only what it touches: a host
// part's clusters, endpoints and virtual hosts (SidecarPart), a port's route
// config and listener (SidecarPort), the workload's inbound (SidecarInbound)
// and what every sidecar has (SidecarFixed).
func Sidecar(c *ir.Config, ports Ports) (Resources, []Problem) {
	part := SidecarPart(c.RouteTables, c.Clusters)
	out, problems := part.Resources, part.Problems
	for port, vhosts := range part.VirtualHosts {
		res, ps := SidecarPort(port, vhosts)
		out.Merge(res)
		problems = append(problems, ps...)
	}
	res, ps := SidecarInbound(c.Inbound, ports)
	out.Merge(res)
	problems = append(problems, ps...)
	if c.Inbound != nil {
		for _, p := range c.Inbound.Ports {
			res, ps := InboundCluster(p)
			out.Merge(res)
			problems = append(problems, ps...)
		}
	}
	res, ps = SidecarFixed(ports)
	out.Merge(res)
	return out, append(problems, ps...)
}

// EnvoyPart is what some route tables and clusters (one host part) give an
// Envoy proxy: the clusters and endpoints, and the virtual hosts of the
// route tables by port, for SidecarPort.
type EnvoyPart struct {
	Resources    Resources
	VirtualHosts map[uint32][]*route.VirtualHost
	Problems     []Problem
}

// SidecarPart generates the clusters, endpoints and virtual hosts of route
// tables and clusters.
func SidecarPart(rts []*ir.RouteTable, clusters []*ir.Cluster) EnvoyPart {
	p := EnvoyPart{Resources: newResources(), VirtualHosts: map[uint32][]*route.VirtualHost{}}
	addEnvoyClusters(p.Resources, clusters, &p.Problems)
	for _, rt := range rts {
		if rt.TCPRoutes != nil {
			res, ps := SidecarTCPListener(rt)
			p.Resources.Merge(res)
			p.Problems = append(p.Problems, ps...)
			continue
		}
		p.VirtualHosts[rt.Port] = append(p.VirtualHosts[rt.Port], SidecarVirtualHost(rt))
	}
	return p
}

// SidecarTCPListener generates the outbound listener of a TCP or TLS port
// of one service, "<vip>_<port>" (the virtual outbound listener hands it
// the connections to the service's address): a filter chain per tls route,
// matched by server name (the TLS inspector reads it), then one for the tcp
// route that takes every other connection, each proxying to its weighted
// clusters.
func SidecarTCPListener(rt *ir.RouteTable) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	name := fmt.Sprintf("%s_%d", rt.Address, rt.Port)
	l := &listener.Listener{
		Name:             name,
		Address:          socketAddress(rt.Address, rt.Port),
		BindToPort:       wrapperspb.Bool(false),
		TrafficDirection: core.TrafficDirection_OUTBOUND,
		FilterChains:     tcpChains("outbound|"+strconv.Itoa(int(rt.Port))+"||"+rt.Host, rt.TCPRoutes),
	}
	if hasSNI(rt.TCPRoutes) {
		l.ListenerFilters = []*listener.ListenerFilter{tlsInspector()}
	}
	out.add(ListenerType, name, l, &problems)
	return out, problems
}

// tcpChains are the filter chains of TCP routes: by server name for tls
// routes, by destination address where a route names subnets.
//
// Envoy does not take the first chain that fits but prunes by the most
// specific match, destination address first: a connection to an address in
// some chain's subnet only ever reaches the chains that name the longest
// such subnet, and never one without subnets. So that the first route that
// fits wins, as the VirtualService says, the chains are built per
// destination bucket (each subnet a route names, and "anywhere"): a bucket
// holds, in route order, every route whose subnets contain it (or that has
// none), each server name (or no name, for a tcp route) taken by the first
// route that has it. Buckets that hold the same as the next wider one are
// left out, and a route's chains gather the buckets where it takes the same
// names. No two chains share a match, which Envoy would reject.
func tcpChains(stat string, routes []*ir.TCPRoute) []*listener.FilterChain {
	type bucket struct {
		prefix netip.Prefix // invalid: anywhere
		taken  []string     // "route/name" in order
	}
	var prefixes [][]netip.Prefix
	anywhere := &bucket{}
	buckets := []*bucket{anywhere}
	for _, r := range routes {
		ps, ok := parsePrefixes(r.DestinationSubnets)
		if !ok {
			ps = nil
		}
		prefixes = append(prefixes, ps)
		for _, p := range ps {
			if !slices.ContainsFunc(buckets, func(b *bucket) bool { return b.prefix == p }) {
				buckets = append(buckets, &bucket{prefix: p})
			}
		}
	}
	names := func(r *ir.TCPRoute) []string {
		if len(r.SNIHosts) == 0 {
			return []string{""} // a tcp route: any server name, or none
		}
		return r.SNIHosts
	}
	for _, b := range buckets {
		seen := map[string]bool{}
		for i, r := range routes {
			if len(r.DestinationSubnets) > 0 && len(prefixes[i]) == 0 {
				continue // translate masks subnets: unreachable; never widen a route
			}
			if !covers(prefixes[i], b.prefix) {
				continue
			}
			for _, n := range names(r) {
				if !seen[n] {
					seen[n] = true
					b.taken = append(b.taken, fmt.Sprintf("%d/%s", i, n))
				}
			}
		}
	}
	// parent is the next wider bucket: the longest other subnet that
	// contains b's, else anywhere.
	parent := func(b *bucket) *bucket {
		best := anywhere
		for _, o := range buckets {
			if o != b && o.prefix.IsValid() && o.prefix.Bits() < b.prefix.Bits() && o.prefix.Contains(b.prefix.Addr()) &&
				(!best.prefix.IsValid() || o.prefix.Bits() > best.prefix.Bits()) {
				best = o
			}
		}
		return best
	}
	kept := []*bucket{anywhere}
	for _, b := range buckets[1:] {
		if !slices.Equal(b.taken, parent(b).taken) {
			kept = append(kept, b)
		}
	}
	var out []*listener.FilterChain
	// A route may need several chains: each gets a name of its own, the
	// route's and a count, as names identify chains in Envoy's stats and
	// config dumps.
	named := map[string]int{}
	add := func(fc *listener.FilterChain) {
		if named[fc.Name]++; named[fc.Name] > 1 {
			fc.Name = fmt.Sprintf("%s #%d", fc.Name, named[fc.Name])
		}
		out = append(out, fc)
	}
	for i, r := range routes {
		// The kept buckets each name is taken in, and the names by the
		// same list of buckets, in the route's order.
		type group struct {
			anywhere bool
			prefixes []netip.Prefix
			names    []string
		}
		var groups []*group
		for _, n := range names(r) {
			g := &group{}
			for _, b := range kept {
				if slices.Contains(b.taken, fmt.Sprintf("%d/%s", i, n)) {
					if b.prefix.IsValid() {
						g.prefixes = append(g.prefixes, b.prefix)
					} else {
						g.anywhere = true
					}
				}
			}
			if !g.anywhere && len(g.prefixes) == 0 {
				continue // every connection it matches is taken before it
			}
			k := slices.IndexFunc(groups, func(o *group) bool { return o.anywhere == g.anywhere && slices.Equal(o.prefixes, g.prefixes) })
			if k < 0 {
				groups = append(groups, g)
				k = len(groups) - 1
			}
			if n != "" && !slices.Contains(groups[k].names, n) {
				groups[k].names = append(groups[k].names, n)
			}
		}
		for _, g := range groups {
			if g.anywhere {
				add(tcpChain(stat, r, g.names, nil))
			}
			if len(g.prefixes) > 0 {
				add(tcpChain(stat, r, g.names, g.prefixes))
			}
		}
	}
	return out
}

// tcpChain proxies the connections with one of the server names (any, if
// none) to one of the prefixes (anywhere, if none) to a route's clusters.
func tcpChain(stat string, r *ir.TCPRoute, names []string, prefixes []netip.Prefix) *listener.FilterChain {
	fc := &listener.FilterChain{Name: r.Source, Filters: []*listener.Filter{weightedTCPProxy(stat, r.Destinations)}}
	if len(names) == 0 && len(prefixes) == 0 {
		return fc
	}
	m := &listener.FilterChainMatch{}
	if len(names) > 0 {
		m.ServerNames, m.TransportProtocol = names, "tls"
	}
	for _, p := range prefixes {
		m.PrefixRanges = append(m.PrefixRanges, &core.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	fc.FilterChainMatch = m
	return fc
}

// covers reports whether a route with subnets ps (none: anywhere) matches
// every connection to p (invalid: anywhere).
func covers(ps []netip.Prefix, p netip.Prefix) bool {
	if len(ps) == 0 {
		return true
	}
	if !p.IsValid() {
		return false
	}
	for _, q := range ps {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func parsePrefixes(subnets []string) ([]netip.Prefix, bool) {
	var out []netip.Prefix
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, false
		}
		out = append(out, p.Masked())
	}
	return out, true
}

func hasSNI(routes []*ir.TCPRoute) bool {
	for _, r := range routes {
		if len(r.SNIHosts) > 0 {
			return true
		}
	}
	return false
}

func tlsInspector() *listener.ListenerFilter {
	return &listener.ListenerFilter{Name: "envoy.filters.listener.tls_inspector", ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: anyOf(&tlsinspector.TlsInspector{})}}
}

// weightedTCPProxy proxies a connection to one cluster, or to one of
// several by weight.
func weightedTCPProxy(stat string, dests []*ir.Destination) *listener.Filter {
	if len(dests) == 1 {
		f := tcpProxy(dests[0].Cluster)
		return f
	}
	wc := &tcpproxy.TcpProxy_WeightedCluster{}
	for _, d := range dests {
		wc.Clusters = append(wc.Clusters, &tcpproxy.TcpProxy_WeightedCluster_ClusterWeight{Name: d.Cluster, Weight: d.Weight})
	}
	return &listener.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(&tcpproxy.TcpProxy{
		StatPrefix: stat, ClusterSpecifier: &tcpproxy.TcpProxy_WeightedClusters{WeightedClusters: wc},
	})}}
}

// EnvoyClusters generates the clusters (and endpoints of EDS clusters) of an
// Envoy proxy.
func EnvoyClusters(clusters []*ir.Cluster) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	addEnvoyClusters(out, clusters, &problems)
	return out, problems
}

// SidecarVirtualHost is the virtual host of a route table in the route
// config of its port; SidecarPort validates it with the route config.
func SidecarVirtualHost(rt *ir.RouteTable) *route.VirtualHost {
	return &route.VirtualHost{
		Name:    fmt.Sprintf("%s:%d", rt.Host, rt.Port),
		Domains: rt.Domains,
		Routes:  routes(rt.Routes, kindEnvoy),
	}
}

// SidecarPort generates the route config of one outbound port (its virtual
// hosts, sorted, then allow_any) and the listener that uses it.
func SidecarPort(port uint32, vhosts []*route.VirtualHost) (Resources, []Problem) {
	out, problems := SidecarRoute(port, vhosts)
	res, ps := SidecarListener(port)
	out.Merge(res)
	return out, append(problems, ps...)
}

// SidecarRoute generates the route config of one outbound port: its virtual
// hosts, sorted, then allow_any.
func SidecarRoute(port uint32, vhosts []*route.VirtualHost) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	name := RouteName(port)
	rc := &route.RouteConfiguration{Name: name, ValidateClusters: wrapperspb.Bool(false)}
	rc.VirtualHosts = append(rc.VirtualHosts, vhosts...)
	sort.Slice(rc.VirtualHosts, func(i, j int) bool { return rc.VirtualHosts[i].Name < rc.VirtualHosts[j].Name })
	// Hosts the mesh does not know go out unchanged (Istio's ALLOW_ANY).
	rc.VirtualHosts = append(rc.VirtualHosts, &route.VirtualHost{
		Name: "allow_any", Domains: []string{"*"},
		Routes: []*route.Route{{Name: "allow_any", Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: PassthroughCluster}, Timeout: durationpb.New(0)}}}},
	})
	out.add(RouteType, name, rc, &problems)
	return out, problems
}

// RouteName is the name of a sidecar's outbound route config of a port
// (Istio's: the port number).
func RouteName(port uint32) string { return strconv.Itoa(int(port)) }

// SidecarListener generates the outbound listener of one HTTP port, routed
// by the route config of the port.
func SidecarListener(port uint32) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	name := strconv.Itoa(int(port))
	ln := fmt.Sprintf("0.0.0.0_%d", port)
	out.add(ListenerType, ln, &listener.Listener{
		Name:             ln,
		Address:          socketAddress("0.0.0.0", port),
		BindToPort:       wrapperspb.Bool(false),
		FilterChains:     []*listener.FilterChain{{Filters: []*listener.Filter{httpManager("outbound_0.0.0.0_"+name, rdsRoute(name), nil)}}},
		TrafficDirection: core.TrafficDirection_OUTBOUND,
	}, &problems)
	return out, problems
}

// SidecarFixed generates what every sidecar has: the virtual outbound
// listener and the passthrough and black hole clusters.
func SidecarFixed(ports Ports) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	out.add(ListenerType, VirtualOutboundListener, &listener.Listener{
		Name:               VirtualOutboundListener,
		Address:            socketAddress("0.0.0.0", ports.Outbound),
		UseOriginalDst:     wrapperspb.Bool(true),
		TrafficDirection:   core.TrafficDirection_OUTBOUND,
		DefaultFilterChain: &listener.FilterChain{Name: PassthroughCluster, Filters: []*listener.Filter{tcpProxy(PassthroughCluster)}},
	}, &problems)
	addFixedClusters(out, &problems)
	return out, problems
}

// SidecarInbound generates a workload's virtual inbound listener (its
// clusters are InboundCluster's); nothing for a nil inbound.
func SidecarInbound(in *ir.Inbound, ports Ports) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	if in == nil {
		return out, nil
	}
	l := &listener.Listener{
		Name:             VirtualInboundListener,
		Address:          socketAddress("0.0.0.0", ports.Inbound),
		TrafficDirection: core.TrafficDirection_INBOUND,
		ListenerFilters: []*listener.ListenerFilter{
			{Name: "envoy.filters.listener.original_dst", ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: anyOf(&origdst.OriginalDst{})}},
			{Name: "envoy.filters.listener.tls_inspector", ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: anyOf(&tlsinspector.TlsInspector{})}},
		},
		DefaultFilterChain: &listener.FilterChain{Name: InboundPassthroughCluster, Filters: []*listener.Filter{tcpProxy(InboundPassthroughCluster)}},
	}
	authz, ap := rbacFilters(in.Authorization, kindEnvoy)
	problems = append(problems, ap...)
	for _, p := range in.Ports {
		l.FilterChains = append(l.FilterChains, inboundChains(p, authz)...)
	}
	out.add(ListenerType, VirtualInboundListener, l, &problems)
	return out, problems
}

// InboundCluster generates the cluster an inbound port forwards to (the app
// on localhost).
func InboundCluster(p *ir.InboundPort) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	out.add(ClusterType, p.Cluster, staticCluster(p.Cluster, "127.0.0.1", p.Port), &problems)
	return out, problems
}

// Gateway generates an Envoy gateway's config: one listener per Gateway
// port, TLS terminated per server (SNI) with the credential served over SDS,
// and the route config of the port from the VirtualServices bound to it.
// The server generates its pieces separately: the clusters (SidecarPart,
// without route tables), GatewayListeners and GatewayFixed.
func Gateway(c *ir.Config) (Resources, []Problem) {
	part := SidecarPart(nil, c.Clusters)
	out, problems := part.Resources, part.Problems
	res, ps := GatewayListeners(c.Gateways)
	out.Merge(res)
	problems = append(problems, ps...)
	res, ps = GatewayFixed()
	out.Merge(res)
	return out, append(problems, ps...)
}

// GatewayFixed generates what every gateway has: the passthrough and black
// hole clusters.
func GatewayFixed() (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	addFixedClusters(out, &problems)
	return out, problems
}

// GatewayListeners generates a gateway's listeners and their route configs.
func GatewayListeners(gls []*ir.GatewayListener) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	for _, gl := range gls {
		for _, gen := range []func() (Resources, []Problem){
			func() (Resources, []Problem) { return GatewayRoute(gl.RouteTable) },
			func() (Resources, []Problem) { return GatewayListener(gl) },
		} {
			res, ps := gen()
			out.Merge(res)
			problems = append(problems, ps...)
		}
	}
	return out, problems
}

// GatewayRoute generates the route config of a gateway port; nothing for
// nil.
func GatewayRoute(rt *ir.GatewayRoutes) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	if rt == nil {
		return out, nil
	}
	rc := &route.RouteConfiguration{Name: rt.Name, ValidateClusters: wrapperspb.Bool(false)}
	for _, vh := range rt.VirtualHosts {
		rc.VirtualHosts = append(rc.VirtualHosts, &route.VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: routes(vh.Routes, kindEnvoy)})
	}
	out.add(RouteType, rt.Name, rc, &problems)
	return out, problems
}

// GatewayListener generates the listener of a gateway port; of its route
// table only the name is read (the route config is GatewayRoute's).
func GatewayListener(gl *ir.GatewayListener) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	l := &listener.Listener{Name: gl.Name, Address: socketAddress("0.0.0.0", gl.Port), TrafficDirection: core.TrafficDirection_OUTBOUND}
	rdsName := ""
	if gl.RouteTable != nil {
		rdsName = gl.RouteTable.Name
	}
	tls := false
	for _, s := range gl.Servers {
		if s.TLS == nil {
			continue
		}
		tls = true
		fc := &listener.FilterChain{
			FilterChainMatch: &listener.FilterChainMatch{ServerNames: nonWildcard(s.Hosts)},
			TransportSocket:  downstreamTLS(sdsSecret("kubernetes://"+s.TLS.CredentialName), s.TLS.Mode == "MUTUAL", sdsSecret("kubernetes://"+s.TLS.CredentialName+"-cacert")),
		}
		if rdsName != "" {
			fc.Filters = []*listener.Filter{httpManager("outbound_"+gl.Name, rdsRoute(rdsName), nil)}
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	if !tls && rdsName != "" {
		l.FilterChains = []*listener.FilterChain{{Filters: []*listener.Filter{httpManager("outbound_"+gl.Name, rdsRoute(rdsName), nil)}}}
	}
	// TCP servers and TLS PASSTHROUGH servers: proxied as they come, told
	// apart by server name where a tls route names one.
	l.FilterChains = append(l.FilterChains, tcpChains("outbound_"+gl.Name, gl.TCPRoutes)...)
	if tls || hasSNI(gl.TCPRoutes) {
		l.ListenerFilters = []*listener.ListenerFilter{tlsInspector()}
	}
	if len(l.FilterChains) == 0 {
		return out, nil
	}
	out.add(ListenerType, gl.Name, l, &problems)
	return out, problems
}

func nonWildcard(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if _, after, ok := cutNS(h); ok {
			h = after
		}
		if h != "*" {
			out = append(out, h)
		}
	}
	return out
}

func cutNS(h string) (string, string, bool) {
	for i := 0; i < len(h); i++ {
		if h[i] == '/' {
			return h[:i], h[i+1:], true
		}
	}
	return "", h, false
}

func addEnvoyClusters(out Resources, clusters []*ir.Cluster, problems *[]Problem) {
	for _, cl := range clusters {
		switch cl.Discovery {
		case "EDS":
			c := edsCluster(cl, kindEnvoy)
			upstreamTLS(c, cl)
			out.add(ClusterType, cl.Name, c, problems)
			out.add(EndpointType, cl.Name, envoyLoadAssignment(cl), problems)
		case "DNS":
			c := &cluster.Cluster{
				Name:                 cl.Name,
				ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STRICT_DNS},
				ConnectTimeout:       durationpb.New(10 * time.Second),
				LoadAssignment:       envoyLoadAssignment(cl),
			}
			applyPolicy(c, cl.Policy, kindEnvoy)
			upstreamTLS(c, cl)
			out.add(ClusterType, cl.Name, c, problems)
		default:
			out.add(ClusterType, cl.Name, originalDstCluster(cl.Name), problems)
		}
	}
}

func addFixedClusters(out Resources, problems *[]Problem) {
	out.add(ClusterType, PassthroughCluster, originalDstCluster(PassthroughCluster), problems)
	out.add(ClusterType, InboundPassthroughCluster, originalDstCluster(InboundPassthroughCluster), problems)
	out.add(ClusterType, BlackHoleCluster, &cluster.Cluster{
		Name:                 BlackHoleCluster,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}, problems)
}

func originalDstCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST},
		LbPolicy:             cluster.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
}

func staticCluster(name, addr string, port uint32) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(10 * time.Second),
		LoadAssignment: &endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{
			LbEndpoints: []*endpoint.LbEndpoint{{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: socketAddress(addr, port)}}}},
		}}},
	}
}

// envoyLoadAssignment marks endpoints with sidecars (tlsMode istio) so
// that auto mTLS can pick the mTLS transport socket for them.
func envoyLoadAssignment(c *ir.Cluster) *endpoint.ClusterLoadAssignment {
	cla := loadAssignment(c)
	if len(cla.Endpoints) == 0 {
		return cla
	}
	for i, e := range c.Endpoints {
		if e.MTLS {
			md, _ := structpb.NewStruct(map[string]any{"tlsMode": "istio"})
			cla.Endpoints[0].LbEndpoints[i].Metadata = &core.Metadata{FilterMetadata: map[string]*structpb.Struct{tlsModeKey: md}}
		}
	}
	return cla
}

// upstreamTLS sets how the sidecar connects to a cluster: as the
// DestinationRule says, or, without a TLS setting, mesh mTLS to endpoints
// that have a sidecar and plaintext to the others (Istio's auto mTLS),
// which checks the server's identity as ISTIO_MUTUAL does.
func upstreamTLS(c *cluster.Cluster, cl *ir.Cluster) {
	var t *ir.TLS
	if cl.Policy != nil {
		t = cl.Policy.TLS
	}
	switch {
	case t == nil:
		auto := false
		for _, e := range cl.Endpoints {
			auto = auto || e.MTLS
		}
		if !auto {
			return
		}
		md, _ := structpb.NewStruct(map[string]any{"tlsMode": "istio"})
		c.TransportSocketMatches = []*cluster.Cluster_TransportSocketMatch{
			{Name: "tlsMode-istio", Match: md, TransportSocket: istioMutual(cl.Name, cl.AutoMTLSSubjectAltNames)},
			{Name: "tlsMode-disabled", Match: &structpb.Struct{}, TransportSocket: rawBuffer()},
		}
	case t.Mode == "DISABLE":
	case t.Mode == "ISTIO_MUTUAL":
		c.TransportSocket = istioMutual(t.SNI, t.SubjectAltNames)
	default: // SIMPLE, MUTUAL: the proxy originates TLS to a server outside the mesh's identity
		c.TransportSocket = &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(originateTLS(t))}}
	}
}

// SystemRootCerts is the trust bundle of the proxy image's operating system:
// what SIMPLE and MUTUAL verify the server against when the DestinationRule
// names no CA, as Istio does (a DestinationRule that wants no check says
// insecureSkipVerify).
const SystemRootCerts = "/etc/ssl/certs/ca-certificates.crt"

// originateTLS is the client side of SIMPLE and MUTUAL. The server's
// certificate is always checked unless insecureSkipVerify says otherwise:
// against the credentialName's CA, else caCertificates, else the system roots;
// subjectAltNames, when given, narrow which certificate is accepted.
func originateTLS(t *ir.TLS) *tlsv3.UpstreamTlsContext {
	common := &tlsv3.CommonTlsContext{}
	if !t.InsecureSkipVerify {
		static := &tlsv3.CertificateValidationContext{}
		for _, san := range t.SubjectAltNames {
			// The SAN may be a DNS name or a URI (SPIFFE id); a matcher per
			// type accepts either, as the DestinationRule does not say which.
			for _, typ := range []tlsv3.SubjectAltNameMatcher_SanType{tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI} {
				static.MatchTypedSubjectAltNames = append(static.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
					SanType: typ, Matcher: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: san}},
				})
			}
		}
		switch {
		case t.CredentialName != "":
			common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         static,
				ValidationContextSdsSecretConfig: sdsSecret("kubernetes://" + t.CredentialName + "-cacert"),
			}}
		default:
			ca := t.CACertificates
			if ca == "" {
				ca = SystemRootCerts
			}
			static.TrustedCa = &core.DataSource{Specifier: &core.DataSource_Filename{Filename: ca}}
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: static}
		}
	}
	if t.Mode == "MUTUAL" {
		switch {
		case t.CredentialName != "":
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret("kubernetes://" + t.CredentialName)}
		case t.ClientCertificate != "":
			common.TlsCertificates = []*tlsv3.TlsCertificate{{
				CertificateChain: &core.DataSource{Specifier: &core.DataSource_Filename{Filename: t.ClientCertificate}},
				PrivateKey:       &core.DataSource{Specifier: &core.DataSource_Filename{Filename: t.PrivateKey}},
			}}
		}
	}
	return &tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common}
}

// istioMutual is the mesh's mTLS from the workload certificate. With sans
// (the rule's subjectAltNames, or by default the SPIFFE ids of the service
// accounts behind the service) only a server holding one of those identities
// is accepted, not any workload of the mesh.
func istioMutual(sni string, sans []string) *core.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsSecret(SDSWorkloadCert)},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsSecret(SDSRootCert)},
			AlpnProtocols:                  []string{"istio-peer-exchange", "istio"},
		},
	}
	if len(sans) > 0 {
		static := &tlsv3.CertificateValidationContext{}
		for _, san := range sans {
			static.MatchTypedSubjectAltNames = append(static.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
				SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: san}},
			})
		}
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         static,
			ValidationContextSdsSecretConfig: sdsSecret(SDSRootCert),
		}}
	}
	return &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(ctx)}}
}

func rawBuffer() *core.TransportSocket {
	return &core.TransportSocket{Name: "envoy.transport_sockets.raw_buffer"}
}

// sdsSecret references a secret served by the agent's SDS socket.
func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &core.ConfigSource{
		ResourceApiVersion: core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_ApiConfigSource{ApiConfigSource: &core.ApiConfigSource{
			ApiType:             core.ApiConfigSource_GRPC,
			TransportApiVersion: core.ApiVersion_V3,
			GrpcServices:        []*core.GrpcService{{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: SDSCluster}}}},
		}},
	}}
}

func downstreamTLS(cert *tlsv3.SdsSecretConfig, requireClient bool, validation *tlsv3.SdsSecretConfig) *core.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{cert}}}
	if requireClient {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: validation}
	}
	return &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(ctx)}}
}

// inboundChains accepts one workload port: mTLS only (STRICT), plaintext
// only (DISABLE), or both told apart by the TLS inspector (PERMISSIVE).
func inboundChains(p *ir.InboundPort, authz []*hcm.HttpFilter) []*listener.FilterChain {
	filters := func() []*listener.Filter {
		if !p.Protocol.IsHTTP() {
			return []*listener.Filter{tcpProxy(p.Cluster)}
		}
		rc := &route.RouteConfiguration{Name: p.Cluster, VirtualHosts: []*route.VirtualHost{{
			Name: "inbound|http|" + strconv.Itoa(int(p.Port)), Domains: []string{"*"},
			Routes: []*route.Route{{Name: "default", Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: p.Cluster}, Timeout: durationpb.New(0)}}}},
		}}}
		return []*listener.Filter{httpManager("inbound_0.0.0.0_"+strconv.Itoa(int(p.Port)), inlineRoutes(rc), authz)}
	}
	match := func(transport string) *listener.FilterChainMatch {
		return &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(p.Port), TransportProtocol: transport}
	}
	mtls := func() *listener.FilterChain {
		return &listener.FilterChain{Name: p.Cluster + "-mtls", FilterChainMatch: match("tls"), Filters: filters(),
			TransportSocket: downstreamTLS(sdsSecret(SDSWorkloadCert), true, sdsSecret(SDSRootCert))}
	}
	plain := func(transport string) *listener.FilterChain {
		return &listener.FilterChain{Name: p.Cluster + "-plaintext", FilterChainMatch: match(transport), Filters: filters()}
	}
	switch p.MTLS {
	case "STRICT":
		return []*listener.FilterChain{mtls()}
	case "DISABLE":
		return []*listener.FilterChain{plain("")}
	}
	return []*listener.FilterChain{mtls(), plain("raw_buffer")}
}

// hcmRoutes sets where an HTTP connection manager gets its routes.
type hcmRoutes func(*hcm.HttpConnectionManager)

func rdsRoute(name string) hcmRoutes {
	return func(m *hcm.HttpConnectionManager) {
		m.RouteSpecifier = &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: name, ConfigSource: adsSource()}}
	}
}

func inlineRoutes(rc *route.RouteConfiguration) hcmRoutes {
	return func(m *hcm.HttpConnectionManager) {
		m.RouteSpecifier = &hcm.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	}
}

func tcpProxy(cluster string) *listener.Filter {
	return &listener.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(&tcpproxy.TcpProxy{
		StatPrefix: cluster, ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: cluster},
	})}}
}

// httpManager is the HTTP connection manager of every Envoy listener: the
// given filters (RBAC inbound), an empty fault filter for per-route faults,
// then the router.
func httpManager(stat string, routes hcmRoutes, filters []*hcm.HttpFilter) *listener.Filter {
	m := &hcm.HttpConnectionManager{StatPrefix: stat, CodecType: hcm.HttpConnectionManager_AUTO}
	routes(m)
	m.HttpFilters = append(append(append([]*hcm.HttpFilter{}, filters...),
		&hcm.HttpFilter{Name: FaultFilterName, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&fault.HTTPFault{})}}),
		&hcm.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&router.Router{})}})
	return &listener.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(m)}}
}
