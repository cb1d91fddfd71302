// Package ir is the intermediate representation between the mesh config and
// xDS: what each service host and port routes to, and what each cluster of
// endpoints looks like, with every Istio rule already applied (host
// resolution, exportTo, subsets, route order, defaults) and nothing yet
// specific to a kind of client.
//
// The pipeline is two pure stages, each with golden files:
//
//	config snapshot + registry --translate.Build--> ir.Config --generate.{GRPC,Sidecar,Gateway}--> xDS resources
//
// A reviewer reads testdata/server/<case>/ir.yaml to see what a config means
// and the generated files to see what a client receives.
package ir

import "github.com/meshctl/meshctl/pkg/config"

// Config is everything one view of the mesh (the clients of one namespace, or
// one proxy) may be sent.
type Config struct {
	// Namespace is the namespace of the clients this view is for: it decides
	// which objects are visible (exportTo, Sidecar).
	Namespace string `json:"namespace"`
	// RouteTables has one entry per service host and port, sorted by name.
	RouteTables []*RouteTable `json:"routeTables,omitempty"`
	// Clusters has one entry per service host, port and subset, sorted by name.
	Clusters []*Cluster `json:"clusters,omitempty"`
	// Inbound is what a sidecar accepts for its own workload (nil for views
	// that are not one workload).
	Inbound *Inbound `json:"inbound,omitempty"`
	// Servers is what each pod of the namespace serves, for the views of
	// proxyless gRPC apps: an xDS-enabled gRPC server asks for the listener
	// of the address it listens on, and the view is shared by the namespace.
	Servers []*Inbound `json:"servers,omitempty"`
	// Gateways lists the listeners of a gateway proxy (nil for other views).
	Gateways []*GatewayListener `json:"gateways,omitempty"`
	// Problems are config errors met while translating; the config they
	// concern is left out, everything else is translated.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one config error, naming the object it comes from.
type Problem struct {
	Object  string `json:"object"` // "VirtualService default/reviews"
	Message string `json:"message"`
}

// Protocol is pkg/config's protocol of a service port (its one owner).
type Protocol = config.Protocol

// The protocols translation distinguishes.
const (
	ProtocolHTTP  = config.ProtocolHTTP
	ProtocolHTTP2 = config.ProtocolHTTP2
	ProtocolGRPC  = config.ProtocolGRPC
	ProtocolTCP   = config.ProtocolTCP
	ProtocolTLS   = config.ProtocolTLS
	ProtocolHTTPS = config.ProtocolHTTPS
)

// RouteTable is the routing of one service host and port.
type RouteTable struct {
	// Name is Istio's route config name for proxyless clients:
	// outbound|<port>||<fqdn>.
	Name     string   `json:"name"`
	Host     string   `json:"host"`
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol"`
	// Domains are the authorities that select this table (host, host:port
	// and the short forms a client in the view's namespace may use).
	Domains []string `json:"domains"`
	// Source is the VirtualService the routes come from, "" for the default
	// route to the service itself.
	Source string   `json:"source,omitempty"`
	Routes []*Route `json:"routes"`
	// Address is the service's virtual IP of a TCP or TLS port: the
	// sidecar's listener for the port matches connections to it.
	Address string `json:"address,omitempty"`
	// TCPRoutes route a TCP or TLS port (Routes route HTTP ones): the
	// first whose match fits takes the connection.
	TCPRoutes []*TCPRoute `json:"tcpRoutes,omitempty"`
}

// Route is one HTTP route: the first route whose match applies wins.
type Route struct {
	Name string `json:"name,omitempty"`
	// Match is an OR of conditions; empty matches every request.
	Match []*Match `json:"match,omitempty"`

	// Exactly one of Destinations, Redirect and DirectResponse is set.
	Destinations   []*Destination  `json:"destinations,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty"`
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	Rewrite         *Rewrite   `json:"rewrite,omitempty"`
	TimeoutMillis   *int64     `json:"timeoutMillis,omitempty"` // nil: client default; 0: none
	Retry           *Retry     `json:"retry,omitempty"`
	Fault           *Fault     `json:"fault,omitempty"`
	Mirror          *Mirror    `json:"mirror,omitempty"`
	RequestHeaders  *HeaderOps `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderOps `json:"responseHeaders,omitempty"`
}

// Match is one condition: every field set must match.
type Match struct {
	URI            *StringMatch  `json:"uri,omitempty"`
	Method         *StringMatch  `json:"method,omitempty"`
	Authority      *StringMatch  `json:"authority,omitempty"`
	Headers        []*NamedMatch `json:"headers,omitempty"`
	WithoutHeaders []*NamedMatch `json:"withoutHeaders,omitempty"`
	QueryParams    []*NamedMatch `json:"queryParams,omitempty"`
	IgnoreURICase  bool          `json:"ignoreUriCase,omitempty"`
}

// StringMatch is one of exact, prefix or regex (RE2); Present matches any
// value (an empty match in Istio).
type StringMatch struct {
	Exact   string `json:"exact,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present bool   `json:"present,omitempty"`
}

// NamedMatch is a StringMatch on a header or query parameter.
type NamedMatch struct {
	Name  string      `json:"name"`
	Match StringMatch `json:"match"`
}

// Destination is a weighted cluster.
type Destination struct {
	Cluster string `json:"cluster"`
	Weight  uint32 `json:"weight"`
	// Headers applied when this destination is chosen.
	RequestHeaders  *HeaderOps `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderOps `json:"responseHeaders,omitempty"`
}

// Redirect answers with an HTTP redirect.
type Redirect struct {
	URI       string `json:"uri,omitempty"`
	Authority string `json:"authority,omitempty"`
	Scheme    string `json:"scheme,omitempty"`
	Port      uint32 `json:"port,omitempty"`
	Code      uint32 `json:"code"`
}

// DirectResponse answers with a fixed status and body.
type DirectResponse struct {
	Status uint32 `json:"status"`
	Body   string `json:"body,omitempty"`
}

// Rewrite changes the request before it is forwarded.
type Rewrite struct {
	URI       string        `json:"uri,omitempty"` // replaces the matched prefix
	URIRegex  *RegexRewrite `json:"uriRegex,omitempty"`
	Authority string        `json:"authority,omitempty"`
}

// RegexRewrite replaces what Pattern matches by Substitution.
type RegexRewrite struct {
	Pattern      string `json:"pattern"`
	Substitution string `json:"substitution"`
}

// Retry is the retry policy of a route.
type Retry struct {
	Attempts            uint32 `json:"attempts"`
	PerTryTimeoutMillis int64  `json:"perTryTimeoutMillis,omitempty"`
	// RetryOn is Envoy's retry_on list (Istio's retryOn, HTTP and gRPC
	// conditions together).
	RetryOn []string `json:"retryOn"`
}

// Fault injects delays and aborts into a share of requests.
type Fault struct {
	DelayMillis  int64   `json:"delayMillis,omitempty"`
	DelayPercent float64 `json:"delayPercent,omitempty"`
	AbortPercent float64 `json:"abortPercent,omitempty"`
	HTTPStatus   uint32  `json:"httpStatus,omitempty"`
	GRPCStatus   *uint32 `json:"grpcStatus,omitempty"`
}

// Mirror copies a share of requests to another cluster.
type Mirror struct {
	Cluster string  `json:"cluster"`
	Percent float64 `json:"percent"`
}

// HeaderOps changes headers.
type HeaderOps struct {
	Set    []KV     `json:"set,omitempty"`
	Add    []KV     `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// KV is one header.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Cluster is a set of endpoints of one service host and port, optionally
// narrowed to a subset, with its traffic policy.
type Cluster struct {
	// Name is outbound|<port>|<subset>|<fqdn>.
	Name     string   `json:"name"`
	Host     string   `json:"host"`
	Port     uint32   `json:"port"`
	Subset   string   `json:"subset,omitempty"`
	Protocol Protocol `json:"protocol"`
	// Discovery is EDS for service endpoints, DNS for ServiceEntries resolved
	// by DNS, Passthrough for ServiceEntries without resolution.
	Discovery string `json:"discovery"`
	// Policy comes from the DestinationRule of the host (Source), subset
	// policy merged over the top-level one.
	Source    string     `json:"source,omitempty"`
	Policy    *Policy    `json:"policy,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
	// AutoMTLSSubjectAltNames are what auto mTLS (no TLS in the policy,
	// mesh mTLS to the endpoints that have a sidecar) expects of the
	// server: the SPIFFE ids of the service accounts behind the service,
	// as ISTIO_MUTUAL expects by default.
	AutoMTLSSubjectAltNames []string `json:"autoMtlsSubjectAltNames,omitempty"`
}

// Policy is a DestinationRule traffic policy, resolved for one port.
type Policy struct {
	LB                   string   `json:"lb,omitempty"` // ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH, RING_HASH
	HashHeader           string   `json:"hashHeader,omitempty"`
	ConnectTimeoutMillis int64    `json:"connectTimeoutMillis,omitempty"`
	MaxConnections       uint32   `json:"maxConnections,omitempty"`
	MaxPendingRequests   uint32   `json:"maxPendingRequests,omitempty"`
	MaxRequests          uint32   `json:"maxRequests,omitempty"`
	MaxRetries           uint32   `json:"maxRetries,omitempty"`
	MaxRequestsPerConn   uint32   `json:"maxRequestsPerConnection,omitempty"`
	Outlier              *Outlier `json:"outlier,omitempty"`
	TLS                  *TLS     `json:"tls,omitempty"`
}

// Outlier is passive health checking.
type Outlier struct {
	Consecutive5xx           uint32 `json:"consecutive5xx,omitempty"`
	ConsecutiveGatewayErrors uint32 `json:"consecutiveGatewayErrors,omitempty"`
	IntervalMillis           int64  `json:"intervalMillis,omitempty"`
	BaseEjectionMillis       int64  `json:"baseEjectionMillis,omitempty"`
	MaxEjectionPercent       uint32 `json:"maxEjectionPercent,omitempty"`
}

// TLS is how a client connects to the cluster.
type TLS struct {
	Mode string `json:"mode"` // DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
	SNI  string `json:"sni,omitempty"`
	// SubjectAltNames the server certificate must carry.
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// CredentialName is the secret (SDS name) for SIMPLE/MUTUAL; ISTIO_MUTUAL
	// uses the workload certificate and root.
	CredentialName string `json:"credentialName,omitempty"`
	// CACertificates, ClientCertificate and PrivateKey are files in the
	// proxy's filesystem (mounted by the user) for SIMPLE/MUTUAL without a
	// credentialName.
	CACertificates    string `json:"caCertificates,omitempty"`
	ClientCertificate string `json:"clientCertificate,omitempty"`
	PrivateKey        string `json:"privateKey,omitempty"`
	// InsecureSkipVerify turns off the server certificate check that SIMPLE
	// and MUTUAL otherwise make (against the system roots when no CA is named).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Endpoint is one address of a cluster.
type Endpoint struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	Weight  uint32 `json:"weight"`
	// Pod or WorkloadEntry behind the address, for debugging.
	Workload string `json:"workload,omitempty"`
	Locality string `json:"locality,omitempty"`
	// MTLS says the workload has a sidecar that accepts mesh mTLS.
	MTLS bool `json:"mtls,omitempty"`
}

// Inbound is what a sidecar accepts.
type Inbound struct {
	Workload string         `json:"workload"` // "default/reviews-v1-abc"
	Address  string         `json:"address"`
	Ports    []*InboundPort `json:"ports,omitempty"`
	// Policies are the AuthorizationPolicies that select the workload.
	Authorization []*AuthzPolicy `json:"authorization,omitempty"`
}

// InboundPort is one port the workload serves.
type InboundPort struct {
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol"`
	// MTLS is the PeerAuthentication mode for the port: STRICT, PERMISSIVE
	// or DISABLE.
	MTLS string `json:"mtls"`
	// Cluster is the local cluster (inbound|<port>||).
	Cluster string `json:"cluster"`
}

// AuthzPolicy is an AuthorizationPolicy reduced to what RBAC filters need.
type AuthzPolicy struct {
	Name   string       `json:"name"`
	Action string       `json:"action"` // ALLOW, DENY
	Rules  []*AuthzRule `json:"rules"`
}

// AuthzRule is one rule of a policy, with Istio's logic: some From entry
// and some To entry and every When condition must match (an empty list
// matches everything).
type AuthzRule struct {
	From []*AuthzSource    `json:"from,omitempty"`
	To   []*AuthzOperation `json:"to,omitempty"`
	When []*AuthzCondition `json:"when,omitempty"`
}

// AuthzSource is who sends the request: every non-empty list must have a
// matching entry and no Not list one.
type AuthzSource struct {
	// Principals are Istio's principal patterns (cluster.local/ns/a/sa/b,
	// with a leading or trailing *), matched against the SPIFFE id of the
	// peer certificate.
	Principals        []string `json:"principals,omitempty"`
	NotPrincipals     []string `json:"notPrincipals,omitempty"`
	Namespaces        []string `json:"namespaces,omitempty"`
	NotNamespaces     []string `json:"notNamespaces,omitempty"`
	IPBlocks          []string `json:"ipBlocks,omitempty"`
	NotIPBlocks       []string `json:"notIpBlocks,omitempty"`
	RemoteIPBlocks    []string `json:"remoteIpBlocks,omitempty"`
	NotRemoteIPBlocks []string `json:"notRemoteIpBlocks,omitempty"`
	// RequestPrincipals need the JWT of a RequestAuthentication, which no
	// client is sent: a rule naming them cannot be expressed.
	RequestPrincipals    []string `json:"requestPrincipals,omitempty"`
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`
}

// AuthzOperation is what the request asks for: every non-empty list must
// have a matching entry and no Not list one.
type AuthzOperation struct {
	Hosts      []string `json:"hosts,omitempty"`
	NotHosts   []string `json:"notHosts,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	NotMethods []string `json:"notMethods,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	NotPaths   []string `json:"notPaths,omitempty"`
	Ports      []uint32 `json:"ports,omitempty"`
	NotPorts   []uint32 `json:"notPorts,omitempty"`
}

// AuthzCondition is one `when` entry: Key's value must be one of Values
// (if any) and none of NotValues.
type AuthzCondition struct {
	Key       string   `json:"key"`
	Values    []string `json:"values,omitempty"`
	NotValues []string `json:"notValues,omitempty"`
}

// GatewayListener is one port of a gateway proxy.
type GatewayListener struct {
	Name     string   `json:"name"` // 0.0.0.0_<port>
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol"`
	// Servers are the Gateway servers on the port, one filter chain each
	// for TLS (by SNI), merged for plain HTTP.
	Servers []*GatewayServer `json:"servers"`
	// RouteTable is the routing of the port ("http.<port>").
	RouteTable *GatewayRoutes `json:"routes,omitempty"`
	// TCPRoutes route the port's TCP servers and TLS PASSTHROUGH servers
	// (by SNI), from the tcp and tls sections of the bound VirtualServices.
	TCPRoutes []*TCPRoute `json:"tcpRoutes,omitempty"`
}

// GatewayServer is one server block of a Gateway resource.
type GatewayServer struct {
	Source        string   `json:"source"` // "Gateway mesh-system/ingress"
	Hosts         []string `json:"hosts"`
	TLS           *TLS     `json:"tls,omitempty"` // SIMPLE or MUTUAL termination
	HTTPSRedirect bool     `json:"httpsRedirect,omitempty"`
}

// GatewayRoutes is the route table of a gateway port: one virtual host per
// host that some VirtualService bound to the gateway routes.
type GatewayRoutes struct {
	Name         string                `json:"name"`
	VirtualHosts []*GatewayVirtualHost `json:"virtualHosts"`
}

// GatewayVirtualHost routes one host (or wildcard) on a gateway.
type GatewayVirtualHost struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Source  string   `json:"source,omitempty"`
	Routes  []*Route `json:"routes"`
}

// TCPRoute is a route of a VirtualService's tcp or tls section for one port.
type TCPRoute struct {
	// SNIHosts are the server names a tls route matches (the TLS client
	// hello); empty for a tcp route, which matches every connection.
	SNIHosts []string `json:"sniHosts,omitempty"`
	// DestinationSubnets narrow the route to connections to these
	// addresses (masked CIDRs, from the matches' destinationSubnets);
	// empty: any destination. Sidecars only.
	DestinationSubnets []string       `json:"destinationSubnets,omitempty"`
	Source             string         `json:"source,omitempty"` // "VirtualService ns/name tls[0]"
	Destinations       []*Destination `json:"destinations"`
}
