// Package inject knows what a sidecar is: the containers, ports, volumes,
// labels and annotations meshctl adds to a pod so that its traffic goes
// through the mesh. kube-inject, uninject, the admission webhook, analyze and
// proxy-init all ask this package instead of repeating that knowledge.
package inject

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshctl/meshctl/pkg/version"
)

// Traffic redirection: the ports and identity proxy-init programs into
// iptables and the proxy listens on. The server builds its listeners to match.
const (
	// OutboundPort is where every outbound connection of the app is redirected.
	OutboundPort = 15001
	// InboundPort is where every inbound connection to the pod is redirected.
	InboundPort = 15006
	// ProxyUID is the uid the proxy runs as; its own traffic is not redirected,
	// which is what keeps the proxy from looping into itself.
	ProxyUID = 1337
	// ProxyGID is the gid of the proxy, excluded from redirection like the uid.
	ProxyGID = 1337
	// PrometheusPort serves Envoy's own metrics (/stats/prometheus).
	PrometheusPort = 15090
	// HealthPort serves the proxy's readiness (/healthz/ready).
	HealthPort = 15021
	// AgentPort serves merged app+proxy metrics and rewritten app probes.
	AgentPort = 15020
	// AdminPort is Envoy's admin API, bound to localhost inside the pod.
	AdminPort = 15000
	// InterceptionModeRedirect is the iptables mode meshctl uses (nat REDIRECT).
	InterceptionModeRedirect = "REDIRECT"
)

// DefaultExcludeInboundPorts are never redirected inbound: the proxy's own
// metrics, health and agent ports must reach the proxy directly.
const DefaultExcludeInboundPorts = "15090,15021,15020"

// The mesh ConfigMap is where an install publishes what injection needs, so
// that kube-inject (online), the webhook and the server agree with it.
const (
	// MeshConfigMapBaseName is the ConfigMap of the default revision.
	MeshConfigMapBaseName = "mesh"
	// ConfigMapKeyInject holds Config as YAML.
	ConfigMapKeyInject = "inject"
	// ConfigMapKeyMesh holds the mesh config (owned by pkg/profiles).
	ConfigMapKeyMesh = "mesh"
	// DefaultRevision is the revision of an install made without --revision.
	DefaultRevision = "default"
)

// MeshConfigMapName returns the name of the mesh ConfigMap of a revision:
// "mesh" for the default revision, "mesh-<revision>" otherwise.
func MeshConfigMapName(revision string) string {
	if revision == "" || revision == DefaultRevision {
		return MeshConfigMapBaseName
	}
	return MeshConfigMapBaseName + "-" + revision
}

// Config is everything the injector takes from the install. An install
// renders it into the mesh ConfigMap (key ConfigMapKeyInject); kube-inject
// reads it from there, from a file, or from a profile. Fields are only ever
// added, never renamed, so older ConfigMaps keep working.
type Config struct {
	// Revision of the control plane the sidecars connect to.
	Revision string `json:"revision,omitempty" yaml:"revision,omitempty"`
	// ProxyImage runs Envoy and `meshctl agent` (the mesh-proxy container).
	ProxyImage string `json:"proxyImage" yaml:"proxyImage"`
	// InitImage runs `meshctl proxy-init` (the mesh-init init container).
	InitImage string `json:"initImage" yaml:"initImage"`
	// ImagePullPolicy of both containers; empty leaves Kubernetes' default.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty" yaml:"imagePullPolicy,omitempty"`
	// ProxyResources of the mesh-proxy container.
	ProxyResources Resources `json:"proxyResources" yaml:"proxyResources"`
	// InitResources of the mesh-init container.
	InitResources Resources `json:"initResources" yaml:"initResources"`
	// LogLevel of the proxy (trace, debug, info, warning, error, critical, off).
	LogLevel string `json:"logLevel" yaml:"logLevel"`
	// ComponentLogLevel is Envoy's per-component log level ("misc:error").
	ComponentLogLevel string `json:"componentLogLevel,omitempty" yaml:"componentLogLevel,omitempty"`
	// DiscoveryAddress is host:port of the control plane's xDS and CA server.
	DiscoveryAddress string `json:"discoveryAddress" yaml:"discoveryAddress"`
	// TrustDomain of workload identities (spiffe://<trustDomain>/ns/...).
	TrustDomain string `json:"trustDomain" yaml:"trustDomain"`
	// ClusterID names this cluster in a multi-cluster mesh.
	ClusterID string `json:"clusterID" yaml:"clusterID"`
	// MeshID names the mesh.
	MeshID string `json:"meshID,omitempty" yaml:"meshID,omitempty"`
	// Network the pods of this cluster are on, for multi-network meshes.
	Network string `json:"network,omitempty" yaml:"network,omitempty"`
	// NativeSidecars injects the proxy as an init container with
	// restartPolicy Always (Kubernetes 1.29+), so Jobs complete.
	NativeSidecars bool `json:"nativeSidecars" yaml:"nativeSidecars"`
	// HoldApplicationUntilProxyStarts starts app containers only after the
	// proxy is ready; a pod annotation overrides it.
	HoldApplicationUntilProxyStarts bool `json:"holdApplicationUntilProxyStarts" yaml:"holdApplicationUntilProxyStarts"`
	// IncludeOutboundIPRanges is a comma list of CIDRs redirected outbound; "*" is all.
	IncludeOutboundIPRanges string `json:"includeOutboundIPRanges" yaml:"includeOutboundIPRanges"`
	// ExcludeOutboundIPRanges is a comma list of CIDRs never redirected outbound.
	ExcludeOutboundIPRanges string `json:"excludeOutboundIPRanges,omitempty" yaml:"excludeOutboundIPRanges,omitempty"`
	// IncludeInboundPorts is a comma list of ports redirected inbound; "*" is all.
	IncludeInboundPorts string `json:"includeInboundPorts" yaml:"includeInboundPorts"`
	// ExcludeInboundPorts is added to DefaultExcludeInboundPorts.
	ExcludeInboundPorts string `json:"excludeInboundPorts,omitempty" yaml:"excludeInboundPorts,omitempty"`
	// ExcludeOutboundPorts is a comma list of ports never redirected outbound.
	ExcludeOutboundPorts string `json:"excludeOutboundPorts,omitempty" yaml:"excludeOutboundPorts,omitempty"`
	// ProxyConcurrency is the number of Envoy worker threads; 0 sizes it from
	// the CPU limit.
	ProxyConcurrency int `json:"proxyConcurrency" yaml:"proxyConcurrency"`
	// RewriteAppProbes sends HTTP/TCP liveness, readiness and startup probes
	// through the agent, which would otherwise fail under strict mTLS.
	RewriteAppProbes bool `json:"rewriteAppProbes" yaml:"rewriteAppProbes"`
	// PrometheusMerge points prometheus scrape annotations at the agent,
	// which serves the app's and the proxy's metrics together.
	PrometheusMerge bool `json:"prometheusMerge" yaml:"prometheusMerge"`
	// TokenAudience of the projected service-account token the agent presents
	// to the control plane's CA.
	TokenAudience string `json:"tokenAudience" yaml:"tokenAudience"`
	// RootCertConfigMap is the ConfigMap, in every namespace, holding the
	// mesh root certificate (key root-cert.pem).
	RootCertConfigMap string `json:"rootCertConfigMap" yaml:"rootCertConfigMap"`
	// ProxyEnv is extra environment for the mesh-proxy container.
	ProxyEnv map[string]string `json:"proxyEnv,omitempty" yaml:"proxyEnv,omitempty"`
}

// Resources are the requests and limits of one injected container, as
// Kubernetes quantities ("100m", "128Mi"); empty values are left out.
type Resources struct {
	Requests ResourceAmounts `json:"requests,omitempty" yaml:"requests,omitempty"`
	Limits   ResourceAmounts `json:"limits,omitempty" yaml:"limits,omitempty"`
}

// ResourceAmounts are the CPU and memory of a request or a limit.
type ResourceAmounts struct {
	CPU    string `json:"cpu,omitempty" yaml:"cpu,omitempty"`
	Memory string `json:"memory,omitempty" yaml:"memory,omitempty"`
}

// DefaultConfig is the configuration of a default install in mesh-system; an
// install spec changes it through pkg/profiles.
func DefaultConfig() Config {
	return Config{
		Revision: DefaultRevision,
		// The images built with this meshctl; never :latest.
		ProxyImage: "ghcr.io/meshctl/proxy:" + version.Get().Version,
		InitImage:  "ghcr.io/meshctl/meshctl:" + version.Get().Version,
		ProxyResources: Resources{
			Requests: ResourceAmounts{CPU: "100m", Memory: "128Mi"},
			Limits:   ResourceAmounts{CPU: "2000m", Memory: "1024Mi"},
		},
		InitResources: Resources{
			Requests: ResourceAmounts{CPU: "10m", Memory: "40Mi"},
			Limits:   ResourceAmounts{CPU: "2000m", Memory: "1024Mi"},
		},
		LogLevel:                "warning",
		DiscoveryAddress:        "meshctl-server.mesh-system.svc:15012",
		TrustDomain:             "cluster.local",
		ClusterID:               "Kubernetes",
		IncludeOutboundIPRanges: "*",
		IncludeInboundPorts:     "*",
		ProxyConcurrency:        2,
		RewriteAppProbes:        true,
		PrometheusMerge:         true,
		TokenAudience:           "mesh-ca",
		RootCertConfigMap:       "mesh-ca-root-cert",
	}
}

// Validate checks the values an install or a file put in Config, so that a
// bad config fails before any workload is injected.
func (c Config) Validate() error {
	var errs []string
	if c.ProxyImage == "" {
		errs = append(errs, "proxyImage is empty")
	}
	if c.InitImage == "" {
		errs = append(errs, "initImage is empty")
	}
	if c.DiscoveryAddress == "" {
		errs = append(errs, "discoveryAddress is empty")
	}
	if c.LogLevel != "" && !logLevels[c.LogLevel] {
		errs = append(errs, fmt.Sprintf("logLevel %q is not one of trace, debug, info, warning, error, critical, off", c.LogLevel))
	}
	for name, r := range map[string]Resources{"proxyResources": c.ProxyResources, "initResources": c.InitResources} {
		for _, q := range []struct{ path, v string }{
			{".requests.cpu", r.Requests.CPU}, {".requests.memory", r.Requests.Memory},
			{".limits.cpu", r.Limits.CPU}, {".limits.memory", r.Limits.Memory},
		} {
			if q.v == "" {
				continue
			}
			if _, err := resource.ParseQuantity(q.v); err != nil {
				errs = append(errs, fmt.Sprintf("%s%s: %q is not a quantity such as 100m or 128Mi", name, q.path, q.v))
			}
		}
	}
	if !validCIDRs(true)(c.IncludeOutboundIPRanges) {
		errs = append(errs, fmt.Sprintf("includeOutboundIPRanges %q is not a list of CIDRs or *", c.IncludeOutboundIPRanges))
	}
	if !validCIDRs(false)(c.ExcludeOutboundIPRanges) {
		errs = append(errs, fmt.Sprintf("excludeOutboundIPRanges %q is not a list of CIDRs", c.ExcludeOutboundIPRanges))
	}
	if !validPorts(true)(c.IncludeInboundPorts) {
		errs = append(errs, fmt.Sprintf("includeInboundPorts %q is not a list of ports or *", c.IncludeInboundPorts))
	}
	for name, v := range map[string]string{"excludeInboundPorts": c.ExcludeInboundPorts, "excludeOutboundPorts": c.ExcludeOutboundPorts} {
		if !validPorts(false)(v) {
			errs = append(errs, fmt.Sprintf("%s %q is not a list of ports", name, v))
		}
	}
	if c.ProxyConcurrency < 0 {
		errs = append(errs, "proxyConcurrency must not be negative")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("invalid injection config: %s", strings.Join(errs, "; "))
	}
	return nil
}
