package generate

import (
	"fmt"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// GRPC generates what proxyless gRPC clients (grpc-go's xds:/// resolver)
// need, with Istio's names so that apps that run on Istio work unchanged:
// a Listener "<host>:<port>" holding an API listener that points at the
// route config "outbound|<port>||<host>", EDS clusters
// "outbound|<port>|<subset>|<host>" and their ClusterLoadAssignments, with
// mTLS where a DestinationRule asks for ISTIO_MUTUAL; and, for xDS-enabled
// gRPC servers, a listener per pod address and port (grpcsecurity.go).
func GRPC(c *ir.Config) (Resources, []Problem) {
	out := newResources()
	var problems []Problem
	clustersOf := map[string][]string{} // host:port → cluster names
	for _, cl := range c.Clusters {
		if cl.Discovery == "EDS" {
			k := fmt.Sprintf("%s:%d", cl.Host, cl.Port)
			clustersOf[k] = append(clustersOf[k], cl.Name)
		}
	}
	for _, rt := range c.RouteTables {
		if rt.TCPRoutes != nil {
			continue // a TCP or TLS port: nothing a gRPC client can dial
		}
		name := fmt.Sprintf("%s:%d", rt.Host, rt.Port)
		rs := routes(rt.Routes, kindGRPC)
		if pw := prewarmRoute(clustersOf[name]); pw != nil {
			rs = append(rs, pw)
		}
		out.add(ListenerType, name, grpcListener(name, rt.Name), &problems)
		out.add(RouteType, rt.Name, &route.RouteConfiguration{
			Name: rt.Name,
			VirtualHosts: []*route.VirtualHost{{
				Name:    name,
				Domains: rt.Domains,
				Routes:  rs,
			}},
		}, &problems)
	}
	for _, cl := range c.Clusters {
		if cl.Discovery != "EDS" || !cl.Protocol.IsHTTP() {
			// grpc-go speaks HTTP/2 to EDS clusters only.
			continue
		}
		out.add(EndpointType, cl.Name, loadAssignment(cl), &problems)
		if p := grpcTLSUnsupported(cl); p != nil {
			problems = append(problems, *p)
			continue
		}
		c := edsCluster(cl, kindGRPC)
		c.TransportSocket = grpcClientTLS(cl.Policy)
		out.add(ClusterType, cl.Name, c, &problems)
	}
	reported := map[string]bool{}
	for _, in := range c.Servers {
		authz, ap := rbacFilters(in.Authorization, kindGRPC)
		for _, p := range ap {
			// Every pod a policy selects has the same problem: say it once.
			if !reported[p.String()] {
				reported[p.String()] = true
				problems = append(problems, p)
			}
		}
		for _, p := range in.Ports {
			if p.Protocol.IsHTTP() {
				out.add(ListenerType, GRPCServerListenerName(in.Address, p.Port), grpcServerListener(in, p, authz), &problems)
			}
		}
	}
	return out, problems
}

// PrewarmRoute names the last route of every gRPC route config. It matches
// no request (gRPC always uses POST) and lists every cluster of the service
// and its subsets: grpc-go subscribes to the clusters its routes name, so
// with it every subset cluster is resolved and connected before a route
// moves to it, and a route switch never meets "unknown cluster selected for
// RPC" (make-before-break on the client side).
const PrewarmRoute = "meshctl-prewarm"

func prewarmRoute(clusters []string) *route.Route {
	if len(clusters) < 2 {
		return nil
	}
	wc := &route.WeightedCluster{}
	for _, c := range clusters {
		wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{Name: c, Weight: wrapperspb.UInt32(1)})
	}
	return &route.Route{
		Name: PrewarmRoute,
		Match: &route.RouteMatch{
			PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"},
			Headers:       []*route.HeaderMatcher{headerMatcher(":method", ir.StringMatch{Exact: "MESHCTL-PREWARM"}, false)},
		},
		Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: wc}}},
	}
}

func grpcListener(name, routeName string) *listener.Listener {
	m := &hcm.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			RouteConfigName: routeName,
			ConfigSource:    adsSource(),
		}},
		HttpFilters: []*hcm.HttpFilter{
			// An empty fault filter: the faults are per route
			// (TypedPerFilterConfig), grpc-go ignores HTTPFault.headers.
			{Name: FaultFilterName, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&fault.HTTPFault{})}},
			{Name: "envoy.filters.http.router", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&router.Router{})}},
		},
	}
	return &listener.Listener{
		Name:        name,
		ApiListener: &listener.ApiListener{ApiListener: anyOf(m)},
	}
}

func adsSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

func edsCluster(c *ir.Cluster, kind clientKind) *cluster.Cluster {
	out := &cluster.Cluster{
		Name:                 c.Name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
	applyPolicy(out, c.Policy, kind)
	return out
}

func applyPolicy(out *cluster.Cluster, p *ir.Policy, kind clientKind) {
	if p == nil {
		return
	}
	switch p.LB {
	case "LEAST_REQUEST", "LEAST_CONN":
		out.LbPolicy = cluster.Cluster_LEAST_REQUEST
	case "RANDOM":
		if kind == kindEnvoy {
			out.LbPolicy = cluster.Cluster_RANDOM
		}
	case "RING_HASH":
		out.LbPolicy = cluster.Cluster_RING_HASH
	}
	if p.ConnectTimeoutMillis > 0 {
		out.ConnectTimeout = durationpb.New(time.Duration(p.ConnectTimeoutMillis) * time.Millisecond)
	}
	if p.MaxConnections+p.MaxPendingRequests+p.MaxRequests+p.MaxRetries > 0 {
		t := &cluster.CircuitBreakers_Thresholds{}
		if p.MaxConnections > 0 {
			t.MaxConnections = wrapperspb.UInt32(p.MaxConnections)
		}
		if p.MaxPendingRequests > 0 {
			t.MaxPendingRequests = wrapperspb.UInt32(p.MaxPendingRequests)
		}
		if p.MaxRequests > 0 {
			t.MaxRequests = wrapperspb.UInt32(p.MaxRequests)
		}
		if p.MaxRetries > 0 {
			t.MaxRetries = wrapperspb.UInt32(p.MaxRetries)
		}
		out.CircuitBreakers = &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{t}}
	}
	if o := p.Outlier; o != nil {
		od := &cluster.OutlierDetection{}
		if o.Consecutive5xx > 0 {
			od.Consecutive_5Xx = wrapperspb.UInt32(o.Consecutive5xx)
		}
		if o.ConsecutiveGatewayErrors > 0 {
			od.ConsecutiveGatewayFailure = wrapperspb.UInt32(o.ConsecutiveGatewayErrors)
		}
		if o.IntervalMillis > 0 {
			od.Interval = durationpb.New(time.Duration(o.IntervalMillis) * time.Millisecond)
		}
		if o.BaseEjectionMillis > 0 {
			od.BaseEjectionTime = durationpb.New(time.Duration(o.BaseEjectionMillis) * time.Millisecond)
		}
		if o.MaxEjectionPercent > 0 {
			od.MaxEjectionPercent = wrapperspb.UInt32(o.MaxEjectionPercent)
		}
		out.OutlierDetection = od
	}
}

// loadAssignment puts all endpoints in one locality. LoadBalancingWeight
// must be set on the locality: without it grpc-go picks no endpoint.
func loadAssignment(c *ir.Cluster) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: c.Name}
	if len(c.Endpoints) == 0 {
		return cla
	}
	// grpc-go NACKs a locality without an ID; an empty one is fine.
	loc := &endpoint.LocalityLbEndpoints{Locality: &core.Locality{}, LoadBalancingWeight: wrapperspb.UInt32(1)}
	for _, e := range c.Endpoints {
		w := e.Weight
		if w == 0 {
			w = 1
		}
		loc.LbEndpoints = append(loc.LbEndpoints, &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
				Address: socketAddress(e.Address, e.Port),
			}},
			HealthStatus:        core.HealthStatus_HEALTHY,
			LoadBalancingWeight: wrapperspb.UInt32(w),
		})
	}
	cla.Endpoints = []*endpoint.LocalityLbEndpoints{loc}
	return cla
}

func socketAddress(addr string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address:       addr,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}
