// Package agent is what runs beside the app in every injected pod: it writes
// the proxy's bootstrap, obtains the workload certificate from the mesh CA
// and keeps it current (SDS to Envoy, files for proxyless gRPC), serves the
// pod's health, merged metrics and rewritten app probes, and runs Envoy.
package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// Names Envoy and the agent agree on through the bootstrap.
const (
	// XDSCluster is the control plane (ADS).
	XDSCluster = "xds-grpc"
	// SDSCluster is the agent's SDS server on the pod-local Unix socket.
	SDSCluster = "sds-grpc"
	// SecretWorkload and SecretRoot are the SDS resource names of the
	// workload certificate and the trust bundle, as in Istio.
	SecretWorkload = "default"
	SecretRoot     = "ROOTCA"
	// SDSSocketName is the socket file in the SDS mount.
	SDSSocketName = "socket"

	prometheusStatsCluster = "prometheus_stats"
)

// Identity is what the pod is, from the downward API.
type Identity struct {
	PodName        string
	Namespace      string
	PodIP          string
	ServiceAccount string
	WorkloadName   string
	ClusterID      string
	MeshID         string
	Network        string
	TrustDomain    string
	Revision       string
	Labels         map[string]string
}

// NodeID is the xDS node id in Istio's format, which the server parses:
// sidecar~<podIP>~<pod>.<ns>~<ns>.svc.cluster.local (router~... for a
// gateway). Proxyless gRPC clients use the sidecar form too, as in Istio.
func (id Identity) NodeID() string { return id.nodeID(ModeEnvoy) }

func (id Identity) nodeID(kind Mode) string {
	if kind != ModeRouter {
		kind = ModeEnvoy
	}
	return string(kind) + "~" + id.PodIP + "~" + id.PodName + "." + id.Namespace + "~" + id.Namespace + ".svc.cluster.local"
}

// SPIFFEID is the identity the workload certificate carries.
func (id Identity) SPIFFEID() string {
	return "spiffe://" + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// Metadata is the node metadata Istio's agent sends; generator is "grpc"
// for proxyless clients and empty for Envoy.
func (id Identity) Metadata(generator string) map[string]any {
	m := map[string]any{
		"NAMESPACE":         id.Namespace,
		"NAME":              id.PodName,
		"POD_NAME":          id.PodName,
		"CLUSTER_ID":        id.ClusterID,
		"INSTANCE_IPS":      id.PodIP,
		"SERVICE_ACCOUNT":   id.ServiceAccount,
		"WORKLOAD_NAME":     id.WorkloadName,
		"INTERCEPTION_MODE": "REDIRECT",
	}
	for k, v := range map[string]string{"MESH_ID": id.MeshID, "NETWORK": id.Network, "REVISION": id.Revision, "GENERATOR": generator} {
		if v != "" {
			m[k] = v
		}
	}
	if len(id.Labels) > 0 {
		labels := map[string]any{}
		for k, v := range id.Labels {
			labels[k] = v
		}
		m["LABELS"] = labels
	}
	return m
}

// EnvoyOptions say where Envoy finds the control plane and the agent.
type EnvoyOptions struct {
	// Kind is ModeEnvoy (a sidecar) or ModeRouter (a gateway).
	Kind     Mode
	Identity Identity
	// DiscoveryAddress is host:port of the control plane (xDS over TLS).
	DiscoveryAddress string
	// RootCertFile verifies the control plane's certificate.
	RootCertFile string
	// SDSSocket is the path of the agent's SDS Unix socket.
	SDSSocket string
	// AdminPort is Envoy's admin port, bound to 127.0.0.1.
	AdminPort int
	// PrometheusPort is where Envoy serves its own /stats/prometheus.
	PrometheusPort int
}

// EnvoyBootstrap builds Envoy's bootstrap and checks it with the protos'
// own validation, so a bad address fails here and not inside Envoy.
func EnvoyBootstrap(o EnvoyOptions) (*bootstrapv3.Bootstrap, error) {
	host, portStr, err := net.SplitHostPort(o.DiscoveryAddress)
	if err != nil {
		return nil, fmt.Errorf("discovery address %q is not host:port: %v", o.DiscoveryAddress, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("discovery address %q: bad port", o.DiscoveryAddress)
	}
	md, err := structpb.NewStruct(o.Identity.Metadata(""))
	if err != nil {
		return nil, err
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})
	if err != nil {
		return nil, err
	}
	protocolOptions := map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2}
	sdsConfig := &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:             corev3.ApiConfigSource_GRPC,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSCluster},
			}}},
		}},
	}
	// Envoy talks to the control plane with the workload certificate (from
	// SDS) and checks the server against the mesh root.
	upstreamTLS, err := anypb.New(&tlsv3.UpstreamTlsContext{
		Sni: host,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: SecretWorkload, SdsConfig: sdsConfig}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: o.RootCertFile}},
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	ads := &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: "stats",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			VirtualHosts: []*routev3.VirtualHost{{
				Name: "backend", Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/stats/prometheus"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: prometheusStatsCluster}}},
				}},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	if err != nil {
		return nil, err
	}

	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{
			Id:       o.Identity.nodeID(o.Kind),
			Cluster:  o.Identity.WorkloadName + "." + o.Identity.Namespace,
			Metadata: md,
		},
		Admin: &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", o.AdminPort)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSCluster},
				}}},
			},
			CdsConfig: ads,
			LdsConfig: ads,
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{
				{
					Name:                          XDSCluster,
					ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
					ConnectTimeout:                durationpb.New(time.Second),
					TypedExtensionProtocolOptions: protocolOptions,
					LoadAssignment:                loadAssignment(XDSCluster, socketAddress(host, int(port))),
					TransportSocket:               &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: upstreamTLS}},
				},
				{
					Name:                          SDSCluster,
					ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
					ConnectTimeout:                durationpb.New(time.Second),
					TypedExtensionProtocolOptions: protocolOptions,
					LoadAssignment: loadAssignment(SDSCluster, &corev3.Address{Address: &corev3.Address_Pipe{
						Pipe: &corev3.Pipe{Path: o.SDSSocket},
					}}),
				},
				{
					Name:                 prometheusStatsCluster,
					ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
					ConnectTimeout:       durationpb.New(250 * time.Millisecond),
					LoadAssignment:       loadAssignment(prometheusStatsCluster, socketAddress("127.0.0.1", o.AdminPort)),
				},
			},
			Listeners: []*listenerv3.Listener{{
				Name:    "prometheus",
				Address: socketAddress("0.0.0.0", o.PrometheusPort),
				FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
					Name:       "envoy.filters.network.http_connection_manager",
					ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
				}}}},
			}},
		},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("the Envoy bootstrap is invalid: %w", err)
	}
	return b, nil
}

func socketAddress(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func loadAssignment(name string, addr *corev3.Address) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}},
	}}}
}

// MarshalBootstrap is the bootstrap as Envoy reads it (JSON).
func MarshalBootstrap(b proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

// CertFiles are where the certificate is written for proxyless gRPC.
type CertFiles struct {
	Dir string
}

// Paths of the files inside Dir, named as Istio's agent names them.
func (c CertFiles) Chain() string { return filepath.Join(c.Dir, "cert-chain.pem") }
func (c CertFiles) Key() string   { return filepath.Join(c.Dir, "key.pem") }
func (c CertFiles) Root() string  { return filepath.Join(c.Dir, "root-cert.pem") }

// GRPCBootstrap is the xDS bootstrap of a proxyless gRPC app
// (GRPC_XDS_BOOTSTRAP): the control plane, the node, and a file_watcher
// certificate provider reading the files the agent keeps current.
func GRPCBootstrap(id Identity, discoveryAddress string, files CertFiles) ([]byte, error) {
	if _, _, err := net.SplitHostPort(discoveryAddress); err != nil {
		return nil, fmt.Errorf("discovery address %q is not host:port: %v", discoveryAddress, err)
	}
	md := id.Metadata("grpc")
	fileConfig := map[string]any{
		"certificate_file":    files.Chain(),
		"private_key_file":    files.Key(),
		"ca_certificate_file": files.Root(),
		"refresh_interval":    "60s",
	}
	b := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri": discoveryAddress,
			"channel_creds": []any{map[string]any{
				"type": "tls",
				"config": map[string]any{
					"ca_certificate_file": files.Root(),
					"certificate_file":    files.Chain(),
					"private_key_file":    files.Key(),
				},
			}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{
			"id":       id.NodeID(),
			"cluster":  id.WorkloadName + "." + id.Namespace,
			"metadata": md,
			"locality": map[string]any{},
		},
		"certificate_providers": map[string]any{
			generate.CertProviderInstance: map[string]any{"plugin_name": "file_watcher", "config": fileConfig},
		},
		"server_listener_resource_name_template": generate.GRPCServerListenerTemplate,
	}
	return json.MarshalIndent(b, "", "  ")
}
