package vocab

// Override is a per-workload setting of the sidecar, read from a pod's
// annotations (or labels) under meshctl's prefix and, for compatibility,
// Istio's. The injector reads overrides only through this list and analyze
// derives the annotations it knows from it, so the two cannot disagree about
// what a pod may say.
type Override int

// The overrides the injector honours. Adding one here is a promise that the
// injector reads it (pkg/inject tests each one).
const (
	OverrideProxyImage Override = iota
	OverrideProxyCPU
	OverrideProxyMemory
	OverrideProxyCPULimit
	OverrideProxyMemoryLimit
	OverrideLogLevel
	OverrideComponentLogLevel
	OverrideRewriteAppHTTPProbers
	OverrideNativeSidecar
	OverrideHoldApplication
	OverrideInterceptionMode
	OverrideUserVolume
	OverrideUserVolumeMount

	TrafficIncludeOutboundIPRanges
	TrafficExcludeOutboundIPRanges
	TrafficIncludeInboundPorts
	TrafficExcludeInboundPorts
	TrafficExcludeOutboundPorts
	TrafficExcludeInterfaces
	TrafficKubevirtInterfaces

	numOverrides
)

// NumOverrides is the number of overrides, for arrays indexed by Override.
const NumOverrides = int(numOverrides)

// Prefixes of the override keys, meshctl's first: when both are set,
// meshctl's wins.
const (
	SidecarPrefix      = "sidecar.meshctl.io/"
	IstioSidecarPrefix = "sidecar.istio.io/"
	TrafficPrefix      = "traffic.sidecar.meshctl.io/"
	IstioTrafficPrefix = "traffic.sidecar.istio.io/"
)

// The fixed size makes a constant without a name a compile error.
var overrideNames = [numOverrides]string{
	OverrideProxyImage:            "proxyImage",
	OverrideProxyCPU:              "proxyCPU",
	OverrideProxyMemory:           "proxyMemory",
	OverrideProxyCPULimit:         "proxyCPULimit",
	OverrideProxyMemoryLimit:      "proxyMemoryLimit",
	OverrideLogLevel:              "logLevel",
	OverrideComponentLogLevel:     "componentLogLevel",
	OverrideRewriteAppHTTPProbers: "rewriteAppHTTPProbers",
	OverrideNativeSidecar:         "nativeSidecar",
	OverrideHoldApplication:       "holdApplicationUntilProxyStarts",
	OverrideInterceptionMode:      "interceptionMode",
	OverrideUserVolume:            "userVolume",
	OverrideUserVolumeMount:       "userVolumeMount",

	TrafficIncludeOutboundIPRanges: "includeOutboundIPRanges",
	TrafficExcludeOutboundIPRanges: "excludeOutboundIPRanges",
	TrafficIncludeInboundPorts:     "includeInboundPorts",
	TrafficExcludeInboundPorts:     "excludeInboundPorts",
	TrafficExcludeOutboundPorts:    "excludeOutboundPorts",
	TrafficExcludeInterfaces:       "excludeInterfaces",
	TrafficKubevirtInterfaces:      "kubevirtInterfaces",
}

// Overrides returns every override, in declaration order.
func Overrides() []Override {
	out := make([]Override, numOverrides)
	for i := range out {
		out[i] = Override(i)
	}
	return out
}

// Name is the key without its prefix ("proxyCPU").
func (o Override) Name() string { return overrideNames[o] }

// Traffic reports whether the override is one of the redirection settings
// (traffic.sidecar.* prefixes).
func (o Override) Traffic() bool { return o >= TrafficIncludeOutboundIPRanges }

// Keys are the annotation keys of the override, meshctl's first.
func (o Override) Keys() [2]string {
	if o.Traffic() {
		return [2]string{TrafficPrefix + o.Name(), IstioTrafficPrefix + o.Name()}
	}
	return [2]string{SidecarPrefix + o.Name(), IstioSidecarPrefix + o.Name()}
}

func (o Override) String() string { return o.Keys()[0] }

// OverridePrefixes are the prefixes of every override key.
var OverridePrefixes = []string{SidecarPrefix, IstioSidecarPrefix, TrafficPrefix, IstioTrafficPrefix}

// AnnotationProxyConfig is a per-pod ProxyConfig (YAML), as in Istio.
const AnnotationProxyConfig = "proxy.istio.io/config"

// PodAnnotations are every annotation key under a mesh prefix that means
// something on a pod: the injection switch, the status, the proxy config
// and each override under both prefixes.
func PodAnnotations() []string {
	out := append([]string{}, InjectLabels...)
	out = append(out, StatusAnnotations...)
	out = append(out, AnnotationProxyConfig)
	for _, o := range Overrides() {
		k := o.Keys()
		out = append(out, k[0], k[1])
	}
	return out
}

// MeshAnnotationPrefixes are the prefixes under which the mesh owns every
// key: an annotation under one of them that is not in PodAnnotations (or
// another known annotation) means nothing to meshctl.
var MeshAnnotationPrefixes = []string{SidecarPrefix, IstioSidecarPrefix, TrafficPrefix, IstioTrafficPrefix, "proxy.istio.io/", "meshctl.io/"}
