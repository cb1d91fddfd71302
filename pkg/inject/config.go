// Package inject knows what a sidecar is: the containers, ports, volumes,
// labels and annotations meshctl adds to a pod so that its traffic goes
// through the mesh. kube-inject, uninject, the admission webhook, analyze and
// proxy-init all ask this package instead of repeating that knowledge.
package inject

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshctl/meshctl/pkg/version"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// DefaultExcludeInboundPorts are never redirected inbound: the proxy's own
// metrics, health and agent ports must reach the proxy directly.
var DefaultExcludeInboundPorts = strconv.Itoa(vocab.PrometheusPort) + "," + strconv.Itoa(vocab.HealthPort) + "," + strconv.Itoa(vocab.AgentPort)

// Config is everything the injector takes from the install. An install
// renders it into the mesh ConfigMap (key vocab.ConfigMapKeyInject); kube-inject
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
		Revision: vocab.DefaultRevision,
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
		DiscoveryAddress:        DiscoveryAddress(vocab.DefaultRevision, vocab.DefaultMeshNamespace),
		TrustDomain:             vocab.DefaultTrustDomain,
		ClusterID:               vocab.DefaultClusterID,
		IncludeOutboundIPRanges: "*",
		IncludeInboundPorts:     "*",
		ProxyConcurrency:        2,
		RewriteAppProbes:        true,
		PrometheusMerge:         true,
		TokenAudience:           vocab.TokenAudience,
		RootCertConfigMap:       vocab.RootCertConfigMap,
	}
}

// DiscoveryAddress is host:port of the xDS and CA server of a revision
// installed in meshNamespace.
func DiscoveryAddress(revision, meshNamespace string) string {
	return fmt.Sprintf("%s.%s.svc:%d", vocab.ServerName(revision), meshNamespace, vocab.ServerSecureXDSPort)
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
