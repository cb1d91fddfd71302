// Package vocab owns the mesh's names: labels, annotations (with the Istio
// aliases meshctl accepts), ConfigMap names and keys, ports, the proxy's
// uid/gid, the environment of the sidecar, the default mesh namespace and
// revision. Every role of the binary (install, kube-inject, analyze, the
// server, the agent, proxy-init) spells these through this package, so a
// name can only ever mean one thing.
//
// It imports nothing of meshctl and nothing heavy on purpose: a package that
// needs a label must not pull in kustomize or the injector to get it.
package vocab

// The mesh's namespace and revision defaults.
const (
	// DefaultMeshNamespace holds the control plane, gateways and addons.
	DefaultMeshNamespace = "mesh-system"
	// DefaultRevision is the revision of an install made without --revision.
	DefaultRevision = "default"
	// DefaultTrustDomain is the trust domain of workload identities
	// (spiffe://<trustDomain>/ns/<ns>/sa/<sa>) when the install sets none.
	DefaultTrustDomain = "cluster.local"
	// DefaultDNSDomain is the cluster's DNS domain, under which Service
	// hosts are <name>.<ns>.svc.<domain>. Same default value as the trust
	// domain, but a different thing: one names identities, the other DNS.
	DefaultDNSDomain = "cluster.local"
	// DefaultClusterID names the cluster when the install sets none.
	DefaultClusterID = "Kubernetes"
	// TokenAudience is the audience of the projected service-account token
	// the agent presents to the control plane's CA.
	TokenAudience = "mesh-ca"
)

// IsDefaultRevision reports whether revision means the default one ("" or
// DefaultRevision), which gets unsuffixed object names.
func IsDefaultRevision(revision string) bool {
	return revision == "" || revision == DefaultRevision
}

// RevisionOrDefault returns revision, or DefaultRevision when it is empty.
func RevisionOrDefault(revision string) string {
	if revision == "" {
		return DefaultRevision
	}
	return revision
}

// Labels of what an install created. Other commands (dashboard,
// verify-install, proxy-status, uninstall, analyze) find components by
// them, so they never guess label values.
const (
	// LabelPartOf marks every object meshctl installs.
	LabelPartOf = "app.kubernetes.io/part-of"
	// PartOfValue is the value of LabelPartOf.
	PartOfValue = "meshctl"
	// LabelComponent names the component an object belongs to (Component*).
	LabelComponent = "meshctl.io/component"
	// LabelRevision is the control-plane revision of an installed object.
	LabelRevision = "meshctl.io/revision"
	// LabelInstall is the install name the inventory and prune are keyed by.
	LabelInstall = "meshctl.io/install"
	// LabelApp is the conventional app label pods carry, as upstream addon
	// charts and Istio do (app=grafana, app=prometheus, ...).
	LabelApp = "app"
	// LabelVersion is the conventional version label of a workload's pods.
	LabelVersion = "version"
)

// Component names: the values of LabelComponent.
const (
	ComponentBase           = "base"
	ComponentServer         = "server"
	ComponentIngressGateway = "ingress-gateway"
	ComponentEgressGateway  = "egress-gateway"
	ComponentPrometheus     = "prometheus"
	ComponentGrafana        = "grafana"
	ComponentJaeger         = "jaeger"
	ComponentKiali          = "kiali"
	ComponentZipkin         = "zipkin"
)

// The control plane's Deployment and Service.
const (
	// ServerBaseName is the control plane of the default revision.
	ServerBaseName = "meshctl-server"
	// ServerContainerName is the container of `meshctl server` in it.
	ServerContainerName = "server"
)

// ServerLeaderName is the Lease in the mesh namespace whose holder, one
// replica of a revision's servers, does the server's writes (root
// certificate ConfigMaps, webhook configurations): "meshctl-server-leader",
// or "meshctl-server-<revision>-leader".
func ServerLeaderName(revision string) string { return ServerName(revision) + "-leader" }

// ServerName is the name of the control plane's Deployment and Service:
// "meshctl-server", or "meshctl-server-<revision>" side by side.
func ServerName(revision string) string {
	if IsDefaultRevision(revision) {
		return ServerBaseName
	}
	return ServerBaseName + "-" + revision
}

// Ports of the control plane.
const (
	// ServerXDSPort serves plaintext xDS (grpc-xds).
	ServerXDSPort = 15010
	// ServerSecureXDSPort serves xDS and the CA over TLS (https-xds); the
	// sidecars' discovery address points here.
	ServerSecureXDSPort = 15012
	// ServerMonitoringPort serves /debug, /metrics and /ready.
	ServerMonitoringPort = 15014
	// ServerWebhookPort serves the injection and validation webhooks.
	ServerWebhookPort = 15017
	// ServerControlZPort serves ControlZ.
	ServerControlZPort = 9876
)

// Traffic redirection and the proxy's ports: what proxy-init programs into
// iptables, what the proxy listens on, and what the server builds its
// listeners to match.
const (
	// OutboundPort is where every outbound connection of the app is redirected.
	OutboundPort = 15001
	// InboundPort is where every inbound connection to the pod is redirected.
	InboundPort = 15006
	// ProxyUID is the uid the proxy runs as; its own traffic is not
	// redirected, which is what keeps the proxy from looping into itself.
	ProxyUID = 1337
	// ProxyGID is the gid of the proxy, excluded from redirection like the uid.
	ProxyGID = 1337
	// ProxyAdminPort is Envoy's admin API, bound to localhost inside the pod.
	ProxyAdminPort = 15000
	// AgentPort serves merged app+proxy metrics and rewritten app probes.
	AgentPort = 15020
	// HealthPort serves the proxy's readiness (HealthPath).
	HealthPort = 15021
	// PrometheusPort serves Envoy's own metrics (PrometheusMergedPath).
	PrometheusPort = 15090
	// InterceptionModeRedirect is the iptables mode meshctl uses (nat REDIRECT).
	InterceptionModeRedirect = "REDIRECT"
	// HealthPath is the proxy's readiness path on HealthPort.
	HealthPath = "/healthz/ready"
	// PrometheusMergedPath is where the agent serves app and proxy metrics
	// together (on AgentPort) and Envoy its own (on PrometheusPort).
	PrometheusMergedPath = "/stats/prometheus"
)

// AppHealthPath is the agent path a rewritten probe of a container uses;
// kind is "livez", "readyz" or "startupz".
func AppHealthPath(container, kind string) string {
	return "/app-health/" + container + "/" + kind
}

// The mesh ConfigMap is where an install publishes the mesh config and what
// injection needs, so that kube-inject, the webhook, the server and the
// agent read the same values.
const (
	// MeshConfigMapBaseName is the mesh ConfigMap of the default revision.
	MeshConfigMapBaseName = "mesh"
	// ConfigMapKeyMesh holds the MeshConfig (Istio's mesh/v1alpha1 schema).
	ConfigMapKeyMesh = "mesh"
	// ConfigMapKeyInject holds the injector's config.
	ConfigMapKeyInject = "inject"
	// ConfigMapKeyValues holds an install's free-form values (and Istio's
	// Helm values in a sidecar-injector ConfigMap).
	ConfigMapKeyValues = "values"
	// RootCertConfigMap is the ConfigMap, in every namespace, that holds the
	// mesh root certificate under RootCertKey.
	RootCertConfigMap = "mesh-ca-root-cert"
	// RootCertKey is the key of the root certificate in RootCertConfigMap.
	RootCertKey = "root-cert.pem"
	// LabelCARootConfigMap marks the root ConfigMaps the server publishes.
	LabelCARootConfigMap = "ca.meshctl.io/root"
	// AnnotationCAPreviousRootsUntil (RFC 3339), on the CA Secret, ends the
	// period in which roots replaced by a rotation stay trusted.
	AnnotationCAPreviousRootsUntil = "ca.meshctl.io/previous-roots-trusted-until"
	// CASecretName holds the root the server generates on first start.
	CASecretName = "meshctl-ca"
	// CAPluggedSecretName holds a user-supplied intermediate (Istio's
	// cacerts); it takes precedence over CASecretName whenever it exists.
	CAPluggedSecretName = "cacerts"
)

// What an install keeps in its mesh namespace besides the components.
const (
	// InventoryBaseName is the ConfigMap that records what the install of
	// the default revision applied (InventoryName).
	InventoryBaseName = "meshctl-install"
	// InstallLockName is the Lease that serializes installs and uninstalls
	// in a mesh namespace.
	InstallLockName = "meshctl-install-lock"
	// AnnotationLockHost and AnnotationLockPID on the Lease let a meshctl on
	// the same host recognise the lock of a process that no longer exists.
	AnnotationLockHost = "meshctl.io/lock-host"
	AnnotationLockPID  = "meshctl.io/lock-pid"
)

// InventoryName is the inventory ConfigMap of a revision's install:
// "meshctl-install", or "meshctl-install-<revision>".
func InventoryName(revision string) string {
	if IsDefaultRevision(revision) {
		return InventoryBaseName
	}
	return InventoryBaseName + "-" + revision
}

// The gateways the profiles install.
const (
	DefaultIngressGatewayName = "mesh-ingressgateway"
	DefaultEgressGatewayName  = "mesh-egressgateway"
)

// AnnotationExportTo on a Kubernetes Service limits the namespaces it is
// visible to, as a ServiceEntry's exportTo does (Istio's annotation).
const AnnotationExportTo = "networking.istio.io/exportTo"

// MeshConfigMapName returns the name of the mesh ConfigMap of a revision:
// "mesh" for the default revision, "mesh-<revision>" otherwise.
func MeshConfigMapName(revision string) string {
	if IsDefaultRevision(revision) {
		return MeshConfigMapBaseName
	}
	return MeshConfigMapBaseName + "-" + revision
}

// Injection: which namespaces and pods get a sidecar.
const (
	// NamespaceLabelInjection=enabled on a namespace makes the webhook
	// inject its pods; "disabled" turns it off.
	NamespaceLabelInjection      = "mesh-injection"
	IstioNamespaceLabelInjection = "istio-injection"
	NamespaceInjectionEnabled    = "enabled"
	NamespaceInjectionDisabled   = "disabled"

	// LabelInject on a pod (label or annotation) opts it in ("true") or out ("false").
	LabelInject      = "sidecar.meshctl.io/inject"
	IstioLabelInject = "sidecar.istio.io/inject"

	// AnnotationStatus records exactly what injection added.
	AnnotationStatus = "sidecar.meshctl.io/status"
	// IstioAnnotationStatus marks a pod injected by Istio.
	IstioAnnotationStatus = "sidecar.istio.io/status"
)

// NamespaceInjectionLabels are the namespace labels that switch injection,
// meshctl's first.
var NamespaceInjectionLabels = []string{NamespaceLabelInjection, IstioNamespaceLabelInjection}

// NamespaceLabelRevision on a namespace (or a pod) names the revision whose
// injector serves it, unless an injection label says otherwise.
const (
	NamespaceLabelRevision      = "meshctl.io/rev"
	IstioNamespaceLabelRevision = "istio.io/rev"
)

// NamespaceRevisionLabels name the revision whose injector serves a
// namespace, meshctl's first.
var NamespaceRevisionLabels = []string{NamespaceLabelRevision, IstioNamespaceLabelRevision}

// InjectLabels are the pod labels (or annotations) that opt a pod in or out.
var InjectLabels = []string{LabelInject, IstioLabelInject}

// StatusAnnotations mark an injected pod, meshctl's first.
var StatusAnnotations = []string{AnnotationStatus, IstioAnnotationStatus}

// Labels and annotations meshctl writes on injected pods. The Istio names
// are what the ecosystem (Kiali, Prometheus rules, istioctl) reads, so
// meshctl writes those.
const (
	LabelTLSMode           = "security.istio.io/tlsMode"
	TLSModeIstio           = "istio"
	LabelCanonicalName     = "service.istio.io/canonical-name"
	LabelCanonicalRevision = "service.istio.io/canonical-revision"

	AnnotationDefaultContainer     = "kubectl.kubernetes.io/default-container"
	AnnotationDefaultLogsContainer = "kubectl.kubernetes.io/default-logs-container"

	AnnotationPrometheusScrape = "prometheus.io/scrape"
	AnnotationPrometheusPort   = "prometheus.io/port"
	AnnotationPrometheusPath   = "prometheus.io/path"
)

// Annotations of analyze.
const (
	// AnnotationAnalyzeSuppress lists finding codes to silence on an object.
	AnnotationAnalyzeSuppress = "meshctl.io/analyze-suppress"
	// IstioAnnotationAnalyzeSuppress is Istio's spelling of it.
	IstioAnnotationAnalyzeSuppress = "galley.istio.io/analyze-suppress"
)

// Containers and volumes injection adds to a pod; analyze, proxy-status and
// the agent recognise them by these names.
const (
	InitContainerName  = "mesh-init"
	ProxyContainerName = "mesh-proxy"
	// IstioProxyContainerName is Istio's sidecar container; in an input pod
	// it customizes the injected proxy, as in Istio.
	IstioProxyContainerName = "istio-proxy"

	VolumeSDS      = "mesh-sds"       // Unix socket the agent serves SDS on
	VolumeEnvoy    = "mesh-envoy"     // Envoy bootstrap, written by the agent
	VolumeData     = "mesh-data"      // Envoy's writable data directory
	VolumeToken    = "mesh-token"     // projected token with TokenAudience
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
)

// AnnotationInjectTemplates picks Istio's injection templates;
// TemplateGRPCAgent (proxyless gRPC) is the one meshctl knows besides the
// default TemplateSidecar.
const (
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

// Environment of the mesh-proxy container: written by the injector, read by
// `meshctl agent`.
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
