package inject

import "strings"

// Names of what injection adds to a pod. analyze and proxy-status recognise
// injected pods by them, so they are never spelled anywhere else.
const (
	InitContainerName  = "mesh-init"
	ProxyContainerName = "mesh-proxy"
	// IstioProxyContainerName is Istio's sidecar container; in an input pod
	// it customizes the injected proxy, as in Istio.
	IstioProxyContainerName = "istio-proxy"

	// Volumes of the workload identity and the proxy's scratch space.
	VolumeSDS      = "mesh-sds"       // Unix socket the agent serves SDS on
	VolumeEnvoy    = "mesh-envoy"     // Envoy bootstrap, written by the agent
	VolumeData     = "mesh-data"      // Envoy's writable data directory
	VolumeToken    = "mesh-token"     // projected token with the mesh audience
	VolumeRootCert = "mesh-root-cert" // the mesh root certificate
	VolumePodInfo  = "mesh-podinfo"   // labels and annotations for the agent

	MountSDS      = "/var/run/secrets/workload-spiffe-uds"
	MountEnvoy    = "/etc/mesh/proxy"
	MountData     = "/var/lib/mesh/data"
	MountToken    = "/var/run/secrets/tokens"
	MountRootCert = "/var/run/secrets/mesh"
	MountPodInfo  = "/etc/mesh/pod"

	// TokenPath is the file name of the token inside MountToken.
	TokenPath = "mesh-token"
	// TokenExpirationSeconds is short enough to limit a stolen token's use and
	// long enough for the kubelet to refresh it well before expiry.
	TokenExpirationSeconds = 43200
)

// Labels and annotations. The Istio names are what the ecosystem (Kiali,
// Prometheus rules, istioctl) reads, so meshctl writes those labels too.
const (
	// AnnotationStatus records exactly what injection added (a Status as JSON).
	AnnotationStatus = "sidecar.meshctl.io/status"
	// IstioAnnotationStatus marks a pod injected by Istio.
	IstioAnnotationStatus = "sidecar.istio.io/status"

	// LabelInject on a pod (label or annotation) opts it in ("true") or out ("false").
	LabelInject      = "sidecar.meshctl.io/inject"
	IstioLabelInject = "sidecar.istio.io/inject"

	// NamespaceLabelInjection=enabled on a namespace makes the webhook inject its pods.
	NamespaceLabelInjection      = "mesh-injection"
	IstioNamespaceLabelInjection = "istio-injection"
	NamespaceInjectionEnabled    = "enabled"

	LabelTLSMode           = "security.istio.io/tlsMode"
	TLSModeIstio           = "istio"
	LabelCanonicalName     = "service.istio.io/canonical-name"
	LabelCanonicalRevision = "service.istio.io/canonical-revision"

	AnnotationDefaultContainer     = "kubectl.kubernetes.io/default-container"
	AnnotationDefaultLogsContainer = "kubectl.kubernetes.io/default-logs-container"

	AnnotationPrometheusScrape = "prometheus.io/scrape"
	AnnotationPrometheusPort   = "prometheus.io/port"
	AnnotationPrometheusPath   = "prometheus.io/path"
	// PrometheusMergedPath is where the agent serves app and proxy metrics together.
	PrometheusMergedPath = "/stats/prometheus"

	// AnnotationProxyConfig is a per-pod ProxyConfig (YAML), as in Istio.
	AnnotationProxyConfig = "proxy.istio.io/config"

	// AnnotationInjectTemplates picks Istio's injection templates;
	// TemplateGRPCAgent (proxyless gRPC) is the one meshctl knows besides
	// the default TemplateSidecar.
	AnnotationInjectTemplates = "inject.istio.io/templates"
	TemplateSidecar           = "sidecar"
	TemplateGRPCAgent         = "grpc-agent"
)

// Proxyless gRPC (the grpc-agent template): the agent writes the xDS
// bootstrap and the certificate files where the app containers read them.
const (
	// EnvGRPCXDSBootstrap is where grpc-go reads its xDS bootstrap.
	EnvGRPCXDSBootstrap = "GRPC_XDS_BOOTSTRAP"
	// GRPCBootstrapPath is in the VolumeEnvoy mount.
	GRPCBootstrapPath = MountEnvoy + "/grpc-bootstrap.json"
	// GRPCCertDir is in the VolumeData mount.
	GRPCCertDir = MountData + "/certs"
)

// Per-workload overrides, each accepted under meshctl's prefix and, for
// compatibility, Istio's; meshctl's wins when both are set.
const (
	sidecarPrefix      = "sidecar.meshctl.io/"
	istioSidecarPrefix = "sidecar.istio.io/"
	trafficPrefix      = "traffic.sidecar.meshctl.io/"
	istioTrafficPrefix = "traffic.sidecar.istio.io/"

	OverrideProxyImage            = "proxyImage"
	OverrideProxyCPU              = "proxyCPU"
	OverrideProxyMemory           = "proxyMemory"
	OverrideProxyCPULimit         = "proxyCPULimit"
	OverrideProxyMemoryLimit      = "proxyMemoryLimit"
	OverrideLogLevel              = "logLevel"
	OverrideComponentLogLevel     = "componentLogLevel"
	OverrideRewriteAppHTTPProbers = "rewriteAppHTTPProbers"
	OverrideNativeSidecar         = "nativeSidecar"
	OverrideHoldApplication       = "holdApplicationUntilProxyStarts"
	OverrideInterceptionMode      = "interceptionMode"

	TrafficIncludeOutboundIPRanges = "includeOutboundIPRanges"
	TrafficExcludeOutboundIPRanges = "excludeOutboundIPRanges"
	TrafficIncludeInboundPorts     = "includeInboundPorts"
	TrafficExcludeInboundPorts     = "excludeInboundPorts"
	TrafficExcludeOutboundPorts    = "excludeOutboundPorts"
	TrafficExcludeInterfaces       = "excludeInterfaces"
	TrafficKubevirtInterfaces      = "kubevirtInterfaces"
)

// Environment of the mesh-proxy container, read by `meshctl agent`.
const (
	EnvPodName           = "POD_NAME"
	EnvPodNamespace      = "POD_NAMESPACE"
	EnvInstanceIP        = "INSTANCE_IP"
	EnvServiceAccount    = "SERVICE_ACCOUNT"
	EnvHostIP            = "HOST_IP"
	EnvNodeName          = "NODE_NAME"
	EnvDiscoveryAddress  = "MESH_DISCOVERY_ADDRESS"
	EnvClusterID         = "MESH_CLUSTER_ID"
	EnvTrustDomain       = "MESH_TRUST_DOMAIN"
	EnvMeshID            = "MESH_ID"
	EnvNetwork           = "MESH_NETWORK"
	EnvRevision          = "MESH_REVISION"
	EnvLogLevel          = "MESH_LOG_LEVEL"
	EnvComponentLogLevel = "MESH_COMPONENT_LOG_LEVEL"
	EnvConcurrency       = "MESH_CONCURRENCY"
	EnvWorkloadName      = "MESH_WORKLOAD_NAME"
	EnvAppContainers     = "MESH_APP_CONTAINERS"
	EnvPodPorts          = "MESH_POD_PORTS"
	EnvAppProbers        = "MESH_APP_PROBERS"
	EnvPrometheusScrape  = "MESH_PROMETHEUS_ANNOTATIONS"
	EnvProxyConfig       = "MESH_PROXY_CONFIG"
	EnvTokenAudience     = "MESH_TOKEN_AUDIENCE"
	EnvHoldApplication   = "MESH_HOLD_APPLICATION"
)

// AppHealthPath is the agent path a rewritten probe of container c uses;
// kind is "livez", "readyz" or "startupz".
func AppHealthPath(container, kind string) string {
	return "/app-health/" + container + "/" + kind
}

// lookupOverride finds a per-workload override in annotations, then labels.
func lookupOverride(annotations, labels map[string]string, prefixes [2]string, name string) (key, value string, ok bool) {
	for _, m := range []map[string]string{annotations, labels} {
		if len(m) == 0 {
			continue
		}
		for _, p := range prefixes {
			if v, found := m[p+name]; found {
				return p + name, strings.TrimSpace(v), true
			}
		}
	}
	return "", "", false
}
