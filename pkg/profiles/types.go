// Package profiles is the install API of meshctl: the MeshInstall spec, the
// built-in profiles and the overlays (-f files, --set paths) that turn a
// command line into one resolved spec. Install, manifest, kube-inject and the
// server all read the spec through this package.
package profiles

import (
	"cmp"
	"fmt"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// APIVersion and Kind identify a MeshInstall document.
const (
	APIVersion = "install.meshctl.io/v1alpha1"
	Kind       = "MeshInstall"
)

// MeshInstall is the whole description of one install. Profiles, -f files and
// --set all write this one document; fields not set keep the profile's value.
type MeshInstall struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       Spec   `json:"spec"`
}

// Spec is what gets installed and how it is configured.
type Spec struct {
	// Profile the spec starts from: default, demo, minimal or empty.
	Profile string `json:"profile,omitempty"`
	// Hub is the registry prefix of meshctl's own images (<hub>/meshctl, <hub>/proxy).
	Hub string `json:"hub"`
	// Tag of meshctl's own images.
	Tag string `json:"tag"`
	// Revision installs a control plane side by side with others; empty or
	// "default" is the default revision.
	Revision string `json:"revision,omitempty"`
	// MeshNamespace holds the control plane, the gateways and the addons.
	MeshNamespace string `json:"meshNamespace"`
	// MeshConfig is the mesh-wide behaviour the server and proxies follow.
	MeshConfig MeshSettings `json:"meshConfig"`
	// Proxy configures the injected sidecars.
	Proxy Proxy `json:"proxy"`
	// Components are the parts of the mesh itself.
	Components Components `json:"components"`
	// Addons are the observability tools installed next to the mesh.
	Addons Addons `json:"addons"`
	// Values are free-form settings stored in the mesh ConfigMap under
	// vocab.ConfigMapKeyValues unchanged; meshctl does not interpret them.
	Values map[string]any `json:"values,omitempty"`
}

// MeshSettings are the mesh-wide settings of an install spec (its
// meshConfig section). They are not the mesh config itself: install renders
// them onto Istio's MeshConfig (RenderedMeshConfig), which pkg/meshconfig
// writes into the mesh ConfigMap and every reader parses back.
type MeshSettings struct {
	MTLS MTLS `json:"mtls"`
	// AccessLog makes every proxy log each request.
	AccessLog AccessLog `json:"accessLog"`
	// TrustDomain of workload identities (spiffe://<trustDomain>/ns/<ns>/sa/<sa>).
	TrustDomain string `json:"trustDomain"`
	// Tracing of requests through the proxies.
	Tracing Tracing `json:"tracing"`
	// OutboundTrafficPolicy is ALLOW_ANY (unknown destinations pass through)
	// or REGISTRY_ONLY (only services the mesh knows).
	OutboundTrafficPolicy string `json:"outboundTrafficPolicy"`
}

// MTLS is the mesh-wide default of PeerAuthentication.
type MTLS struct {
	// Mode is PERMISSIVE (plaintext and mTLS accepted), STRICT or DISABLE.
	// Install renders STRICT and DISABLE as the PeerAuthentication
	// `default` (`default-<revision>`) in the mesh namespace, Istio's root
	// namespace for mesh-wide policy; PERMISSIVE needs none.
	Mode string `json:"mode"`
}

// MTLSPermissive is the mTLS mode that needs no policy.
const MTLSPermissive = "PERMISSIVE"

// AccessLog configures proxy access logs.
type AccessLog struct {
	Enabled bool `json:"enabled"`
	// File the proxy writes to; /dev/stdout lands in `kubectl logs`.
	File string `json:"file,omitempty"`
	// Encoding is TEXT or JSON.
	Encoding string `json:"encoding,omitempty"`
}

// Tracing configures span reporting.
type Tracing struct {
	// Sampling is the percentage of requests traced, 0 to 100.
	Sampling float64 `json:"sampling"`
	// Address is host:port of a Zipkin-compatible collector; empty means the
	// installed zipkin or jaeger addon, if any.
	Address string `json:"address,omitempty"`
}

// Proxy configures the injected sidecars (see inject.Config).
type Proxy struct {
	LogLevel                        string           `json:"logLevel,omitempty"`
	Resources                       inject.Resources `json:"resources,omitzero"`
	HoldApplicationUntilProxyStarts bool             `json:"holdApplicationUntilProxyStarts"`
	NativeSidecars                  bool             `json:"nativeSidecars"`
}

// Components are the parts of the mesh.
type Components struct {
	// Base are the CRDs of the mesh API.
	Base Base `json:"base"`
	// Server is the control plane (`meshctl server`).
	Server Server `json:"server"`
	// IngressGateways receive traffic from outside the cluster.
	IngressGateways []Gateway `json:"ingressGateways,omitempty"`
	// EgressGateways send traffic leaving the mesh through one place.
	EgressGateways []Gateway `json:"egressGateways,omitempty"`
}

// Base holds the CRDs.
type Base struct {
	Enabled bool `json:"enabled"`
}

// Server is the control-plane component.
type Server struct {
	Enabled   bool              `json:"enabled"`
	Replicas  int               `json:"replicas,omitempty"`
	Resources inject.Resources  `json:"resources,omitzero"`
	Env       map[string]string `json:"env,omitempty"`
	K8s       K8s               `json:"k8s,omitzero"`
	Autoscale Autoscale         `json:"autoscale"`
}

// Autoscale adds a HorizontalPodAutoscaler.
type Autoscale struct {
	Enabled bool `json:"enabled"`
	Min     int  `json:"min,omitempty"`
	Max     int  `json:"max,omitempty"`
}

// Gateway is one ingress or egress gateway.
type Gateway struct {
	// Name of the Deployment and Service; also their app label.
	Name      string            `json:"name"`
	Enabled   bool              `json:"enabled"`
	Replicas  int               `json:"replicas,omitempty"`
	Resources inject.Resources  `json:"resources,omitzero"`
	Env       map[string]string `json:"env,omitempty"`
	K8s       K8s               `json:"k8s,omitzero"`
}

// K8s are Kubernetes settings of a component's pods and Service.
type K8s struct {
	NodeSelector       map[string]string `json:"nodeSelector,omitempty"`
	PodAnnotations     map[string]string `json:"podAnnotations,omitempty"`
	ServiceAnnotations map[string]string `json:"serviceAnnotations,omitempty"`
	// ServiceType of a gateway's Service (LoadBalancer, NodePort, ClusterIP).
	ServiceType string `json:"serviceType,omitempty"`
}

// Addons are the observability tools.
type Addons struct {
	Prometheus Addon `json:"prometheus"`
	Grafana    Addon `json:"grafana"`
	Jaeger     Addon `json:"jaeger"`
	Kiali      Addon `json:"kiali"`
	Zipkin     Addon `json:"zipkin"`
}

// Addon is one observability tool, run from its upstream image.
type Addon struct {
	Enabled bool `json:"enabled"`
	// Image overrides the upstream image.
	Image     string           `json:"image,omitempty"`
	Resources inject.Resources `json:"resources,omitzero"`
}

// ByName returns the addons keyed by their component name.
func (a *Addons) ByName() map[string]*Addon {
	return map[string]*Addon{
		"prometheus": &a.Prometheus,
		"grafana":    &a.Grafana,
		"jaeger":     &a.Jaeger,
		"kiali":      &a.Kiali,
		"zipkin":     &a.Zipkin,
	}
}

// RevisionName is the revision with "" meaning vocab.DefaultRevision.
func (s *Spec) RevisionName() string { return vocab.RevisionOrDefault(s.Revision) }

// TracingAddress is where proxies send spans: the configured address, or the
// installed collector.
func (s *Spec) TracingAddress() string {
	switch {
	case s.MeshConfig.Tracing.Address != "":
		return s.MeshConfig.Tracing.Address
	case s.Addons.Zipkin.Enabled:
		return fmt.Sprintf("zipkin.%s.svc:9411", s.MeshNamespace)
	case s.Addons.Jaeger.Enabled:
		return fmt.Sprintf("jaeger-collector.%s.svc:9411", s.MeshNamespace)
	}
	return ""
}

// InjectConfig is what the injector needs from this install; it is stored in
// the mesh ConfigMap under vocab.ConfigMapKeyInject.
func (m *MeshInstall) InjectConfig() inject.Config {
	s := &m.Spec
	c := inject.DefaultConfig()
	c.Revision = s.RevisionName()
	c.ProxyImage = image(s.Hub, "proxy", s.Tag)
	c.InitImage = image(s.Hub, "meshctl", s.Tag)
	c.DiscoveryAddress = inject.DiscoveryAddress(s.Revision, s.MeshNamespace)
	if s.MeshConfig.TrustDomain != "" {
		c.TrustDomain = s.MeshConfig.TrustDomain
	}
	if s.Proxy.LogLevel != "" {
		c.LogLevel = s.Proxy.LogLevel
	}
	mergeResources(&c.ProxyResources, s.Proxy.Resources)
	c.HoldApplicationUntilProxyStarts = s.Proxy.HoldApplicationUntilProxyStarts
	c.NativeSidecars = s.Proxy.NativeSidecars
	return c
}

// RenderedMeshConfig is the mesh config this install writes into its mesh
// ConfigMap: meshconfig.Default with the spec's meshConfig settings and the
// mesh namespace (as the root namespace of mesh-wide policy) on it.
//
// meshConfig.mtls.mode has no MeshConfig field (Istio sets mesh-wide mTLS
// with a PeerAuthentication in the root namespace), so it is not part of
// it: install renders that policy (see MTLS).
func (m *MeshInstall) RenderedMeshConfig() (*meshconfig.MeshConfig, error) {
	s := &m.Spec
	ms := s.MeshConfig
	mc := meshconfig.Default()
	mc.RootNamespace = s.MeshNamespace
	if ms.TrustDomain != "" {
		mc.TrustDomain = ms.TrustDomain
	}
	if ms.AccessLog.Enabled {
		mc.AccessLogFile = cmp.Or(ms.AccessLog.File, "/dev/stdout")
	}
	if ms.AccessLog.Encoding != "" {
		enc, ok := meshv1alpha1.MeshConfig_AccessLogEncoding_value[ms.AccessLog.Encoding]
		if !ok {
			return nil, fmt.Errorf("meshConfig.accessLog.encoding: %q is not TEXT or JSON", ms.AccessLog.Encoding)
		}
		mc.AccessLogEncoding = meshv1alpha1.MeshConfig_AccessLogEncoding(enc)
	}
	if ms.OutboundTrafficPolicy != "" {
		mode, ok := meshv1alpha1.MeshConfig_OutboundTrafficPolicy_Mode_value[ms.OutboundTrafficPolicy]
		if !ok {
			return nil, fmt.Errorf("meshConfig.outboundTrafficPolicy: %q is not ALLOW_ANY or REGISTRY_ONLY", ms.OutboundTrafficPolicy)
		}
		mc.OutboundTrafficPolicy.Mode = meshv1alpha1.MeshConfig_OutboundTrafficPolicy_Mode(mode)
	}
	mc.EnableTracing = ms.Tracing.Sampling > 0
	tracing := &meshv1alpha1.Tracing{Sampling: ms.Tracing.Sampling}
	if addr := s.TracingAddress(); addr != "" {
		tracing.Tracer = &meshv1alpha1.Tracing_Zipkin_{Zipkin: &meshv1alpha1.Tracing_Zipkin{Address: addr}}
	}
	mc.DefaultConfig = &meshv1alpha1.ProxyConfig{Tracing: tracing}
	if err := meshconfig.Validate(mc); err != nil {
		return nil, err
	}
	return mc, nil
}

// Image returns <hub>/<name>:<tag>.
func image(hub, name, tag string) string {
	if hub == "" {
		return name + ":" + tag
	}
	return hub + "/" + name + ":" + tag
}

// ServerImage is the image of the control plane.
func (s *Spec) ServerImage() string { return image(s.Hub, "meshctl", s.Tag) }

// ProxyImage is the image of gateways and sidecars.
func (s *Spec) ProxyImage() string { return image(s.Hub, "proxy", s.Tag) }

func mergeResources(dst *inject.Resources, src inject.Resources) {
	if src.Requests.CPU != "" {
		dst.Requests.CPU = src.Requests.CPU
	}
	if src.Requests.Memory != "" {
		dst.Requests.Memory = src.Requests.Memory
	}
	if src.Limits.CPU != "" {
		dst.Limits.CPU = src.Limits.CPU
	}
	if src.Limits.Memory != "" {
		dst.Limits.Memory = src.Limits.Memory
	}
}
