package generate

import (
	"fmt"
	"net"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// What proxyless gRPC apps and the agent's gRPC bootstrap agree on.
const (
	// GRPCServerListenerTemplate names the listener an xDS-enabled gRPC
	// server asks for (%s is its listening host:port): Istio's, so apps
	// written for Istio work unchanged.
	GRPCServerListenerTemplate = "grpc/server?xds.resource.listening_address=%s"
	// CertProviderInstance is the bootstrap's certificate provider that holds
	// the workload certificate and the mesh roots (the agent's files).
	CertProviderInstance = "default"
)

// GRPCServerListenerName is the listener of a gRPC server listening on
// addr:port.
func GRPCServerListenerName(addr string, port uint32) string {
	return fmt.Sprintf(GRPCServerListenerTemplate, net.JoinHostPort(addr, strconv.FormatUint(uint64(port), 10)))
}

// grpcCommonTLS presents the workload certificate and verifies the peer
// against the mesh roots, both from the bootstrap's certificate provider
// (grpc-go has no SDS).
func grpcCommonTLS(sans []string) *tlsv3.CommonTlsContext {
	vc := &tlsv3.CertificateValidationContext{
		CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: CertProviderInstance, CertificateName: SDSRootCert},
	}
	for _, s := range sans {
		vc.MatchSubjectAltNames = append(vc.MatchSubjectAltNames, &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s}})
	}
	return &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: CertProviderInstance, CertificateName: SDSWorkloadCert},
		ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc},
	}
}

// grpcTLSUnsupported reports a cluster whose DestinationRule asks for TLS
// that proxyless clients cannot originate: SIMPLE and MUTUAL. grpc-go takes
// certificates and roots only from its bootstrap's certificate providers,
// which hold the mesh identity and roots (no SDS, no credentialName, no
// files named by the DestinationRule). Sending the cluster without TLS would
// downgrade the connection to plaintext, so it is withheld: its clients keep
// the version they have, and it is reported under the cluster's name.
func grpcTLSUnsupported(cl *ir.Cluster) *Problem {
	if cl.Policy == nil || cl.Policy.TLS == nil || (cl.Policy.TLS.Mode != "SIMPLE" && cl.Policy.TLS.Mode != "MUTUAL") {
		return nil
	}
	source := cl.Source
	if source == "" {
		source = "its DestinationRule"
	}
	return &Problem{
		Type: ClusterType, Name: cl.Name, Object: "Cluster " + cl.Name, Withheld: true,
		Message: fmt.Sprintf("%s asks for TLS mode %s, which proxyless gRPC clients cannot originate (grpc-go reads certificates only from its bootstrap's certificate providers); not sent rather than sent as plaintext: clients keep the version they have",
			source, cl.Policy.TLS.Mode),
	}
}

// grpcClientTLS is the transport socket of a cluster whose DestinationRule
// asks for ISTIO_MUTUAL. Proxyless clients get no auto mTLS (as in Istio):
// without the DestinationRule they speak plaintext. The server's certificate
// must carry one of the policy's subjectAltNames (by default the SPIFFE ids
// of the destination's service accounts, as in Istio).
func grpcClientTLS(p *ir.Policy) *core.TransportSocket {
	if p == nil || p.TLS == nil || p.TLS.Mode != "ISTIO_MUTUAL" {
		return nil
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: p.TLS.SNI, CommonTlsContext: grpcCommonTLS(p.TLS.SubjectAltNames)}
	return &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(ctx)}}
}

// grpcServerListener is the listener of one port of a pod for an
// xDS-enabled gRPC server: every RPC is served by the app (non-forwarding
// route), over mTLS when PeerAuthentication is STRICT, and checked by the
// RBAC filters of the AuthorizationPolicies that select the pod (grpc-go
// runs them on the server side only). grpc-go cannot tell TLS from plaintext
// on one port, so PERMISSIVE serves plaintext, as Istio does for proxyless
// servers; a plaintext peer has no principal, so a policy that names
// principals or namespaces refuses it.
func grpcServerListener(in *ir.Inbound, p *ir.InboundPort, authz []*hcm.HttpFilter) *listener.Listener {
	name := GRPCServerListenerName(in.Address, p.Port)
	m := &hcm.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcm.HttpConnectionManager_RouteConfig{RouteConfig: &route.RouteConfiguration{
			Name: name,
			VirtualHosts: []*route.VirtualHost{{
				Name:    "inbound|" + strconv.FormatUint(uint64(p.Port), 10),
				Domains: []string{"*"},
				Routes: []*route.Route{{
					Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
					Action: &route.Route_NonForwardingAction{NonForwardingAction: &route.NonForwardingAction{}},
				}},
			}},
		}},
		HttpFilters: append(append([]*hcm.HttpFilter{}, authz...), &hcm.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&router.Router{})}}),
	}
	fc := &listener.FilterChain{
		Name:    "inbound|" + strconv.FormatUint(uint64(p.Port), 10) + "|" + p.MTLS,
		Filters: []*listener.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listener.Filter_TypedConfig{TypedConfig: anyOf(m)}}},
	}
	if p.MTLS == "STRICT" {
		ctx := &tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true), CommonTlsContext: grpcCommonTLS(nil)}
		fc.TransportSocket = &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(ctx)}}
	}
	return &listener.Listener{
		Name:         name,
		Address:      socketAddress(in.Address, p.Port),
		FilterChains: []*listener.FilterChain{fc},
	}
}
