package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/proxyinit"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Workload names what owns a pod template, for canonical names, messages and
// the workload name the agent reports.
type Workload struct {
	Kind      string
	Name      string
	Namespace string
}

func (w Workload) String() string {
	kind := strings.ToLower(w.Kind)
	if w.Namespace != "" {
		return fmt.Sprintf("%s %q in namespace %q", kind, w.Name, w.Namespace)
	}
	return fmt.Sprintf("%s %q", kind, w.Name)
}

// Action is what injection did to one pod template.
type Action string

const (
	ActionInjected        Action = "injected"
	ActionSkipped         Action = "skipped"
	ActionAlreadyInjected Action = "unchanged"
	ActionUninjected      Action = "uninjected"
)

// Result of injecting one pod template.
type Result struct {
	Action Action
	// Reason says why a template was skipped or left unchanged.
	Reason string
	// Template is the injected template; nil unless Action is ActionInjected.
	Template *corev1.PodTemplateSpec
	// Status is what was added, also recorded in vocab.AnnotationStatus.
	Status *Status
}

// Status is the record, kept on the pod in vocab.AnnotationStatus, of exactly what
// injection added or changed, so that uninject and analyze need no guessing.
type Status struct {
	Revision       string   `json:"revision"`
	InitContainers []string `json:"initContainers"`
	Containers     []string `json:"containers"`
	Volumes        []string `json:"volumes"`
	// Labels and Annotations map each key injection set to the value it had
	// before (null when it was absent).
	Labels      map[string]*string `json:"labels,omitempty"`
	Annotations map[string]*string `json:"annotations,omitempty"`
	// RewrittenProbes lists "container/kind" of probes sent through the agent;
	// their originals are in the proxy's vocab.EnvAppProbers.
	RewrittenProbes []string `json:"rewrittenProbes,omitempty"`
	// GRPCAgentContainers are the app containers given the gRPC bootstrap
	// environment and mounts (the grpc-agent template).
	GRPCAgentContainers []string `json:"grpcAgentContainers,omitempty"`
	// Overrides are the pod's own proxy containers, merged into the
	// injected one, as they were written, for uninject to put back.
	Overrides []Override `json:"overrides,omitempty"`
}

// Override is a container of the input named like the proxy (mesh-proxy or
// Istio's istio-proxy). As in Istio, it customizes the sidecar: its fields
// are strategic-merged over the injected proxy container ("auto" or no
// image keeps the injected image).
type Override struct {
	// List is "containers" or "initContainers"; Index the position there.
	List      string           `json:"list"`
	Index     int              `json:"index"`
	Container corev1.Container `json:"container"`
}

// Prober is an app probe's original handler, which the agent runs for a
// rewritten probe and uninject puts back.
type Prober struct {
	HTTPGet        *corev1.HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket      *corev1.TCPSocketAction `json:"tcpSocket,omitempty"`
	TimeoutSeconds int32                   `json:"timeoutSeconds,omitempty"`
}

// settings are the effective per-pod values: Config with the pod's
// annotations applied.
type settings struct {
	cfg          Config
	native       bool
	hold         bool
	rewrite      bool
	proxyConfig  map[string]any
	proxyMetaEnv map[string]string
	redirect     Redirect
	// grpcAgent is Istio's grpc-agent template: no Envoy and no
	// redirection; the app reads the agent's gRPC bootstrap.
	grpcAgent bool
	// userVolumes and userMounts come from the userVolume and
	// userVolumeMount overrides: volumes added to the pod, mounted into
	// the proxy (for example a Secret an Envoy filter reads).
	userVolumes []corev1.Volume
	userMounts  []corev1.VolumeMount
}

// Inject adds the sidecar to a copy of tmpl. It does no I/O; every error
// names the workload and the offending annotation or field.
func Inject(w Workload, tmpl *corev1.PodTemplateSpec, cfg Config) (Result, error) {
	if tmpl == nil {
		return Result{}, fmt.Errorf("%s has no pod template", w)
	}
	if reason := injectedBy(tmpl); reason != "" {
		return Result{Action: ActionAlreadyInjected, Reason: reason}, nil
	}
	if reason := optOut(tmpl); reason != "" {
		return Result{Action: ActionSkipped, Reason: reason}, nil
	}
	var overrides []Override
	if hasProxyNamed(tmpl) {
		// From here on the template is the pod without its overrides: they
		// are neither app containers nor sources of app ports and probes.
		tmpl = tmpl.DeepCopy()
		overrides = takeOverrides(tmpl)
	}
	if len(tmpl.Spec.Containers) == 0 {
		return Result{}, fmt.Errorf("%s: spec.containers is empty: a pod needs at least one container besides the proxy", w)
	}
	s, err := resolveSettings(w, tmpl, cfg)
	if err != nil {
		return Result{}, err
	}

	out := tmpl.DeepCopy()
	st := &Status{Revision: s.cfg.Revision}
	if st.Revision == "" {
		st.Revision = vocab.DefaultRevision
	}
	appContainers := make([]string, 0, len(out.Spec.Containers))
	for _, c := range out.Spec.Containers {
		appContainers = append(appContainers, c.Name)
	}

	probers := map[string]Prober{}
	if s.rewrite {
		for i := range out.Spec.Containers {
			c := &out.Spec.Containers[i]
			for _, p := range []struct {
				kind  string
				probe *corev1.Probe
			}{{"livez", c.LivenessProbe}, {"readyz", c.ReadinessProbe}, {"startupz", c.StartupProbe}} {
				if p.probe == nil || (p.probe.HTTPGet == nil && p.probe.TCPSocket == nil) {
					continue
				}
				path := vocab.AppHealthPath(c.Name, p.kind)
				probers[path] = Prober{HTTPGet: p.probe.HTTPGet, TCPSocket: p.probe.TCPSocket, TimeoutSeconds: p.probe.TimeoutSeconds}
				p.probe.TCPSocket = nil
				p.probe.HTTPGet = &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(vocab.AgentPort), Scheme: corev1.URISchemeHTTP}
				st.RewrittenProbes = append(st.RewrittenProbes, c.Name+"/"+p.kind)
			}
		}
	}

	var promOrig map[string]string
	annotations := map[string]string{}
	labels := map[string]string{}
	if s.cfg.PrometheusMerge && tmpl.Annotations[vocab.AnnotationPrometheusScrape] != "false" {
		for _, k := range []string{vocab.AnnotationPrometheusScrape, vocab.AnnotationPrometheusPort, vocab.AnnotationPrometheusPath} {
			if v, ok := tmpl.Annotations[k]; ok {
				if promOrig == nil {
					promOrig = map[string]string{}
				}
				promOrig[k] = v
			}
		}
		annotations[vocab.AnnotationPrometheusScrape] = "true"
		annotations[vocab.AnnotationPrometheusPort] = strconv.Itoa(vocab.AgentPort)
		annotations[vocab.AnnotationPrometheusPath] = vocab.PrometheusMergedPath
	}
	if _, ok := tmpl.Annotations[vocab.AnnotationDefaultContainer]; !ok {
		annotations[vocab.AnnotationDefaultContainer] = appContainers[0]
	}
	if _, ok := tmpl.Annotations[vocab.AnnotationDefaultLogsContainer]; !ok {
		annotations[vocab.AnnotationDefaultLogsContainer] = appContainers[0]
	}
	if _, ok := tmpl.Labels[vocab.LabelTLSMode]; !ok {
		labels[vocab.LabelTLSMode] = vocab.TLSModeIstio
	}
	if _, ok := tmpl.Labels[vocab.LabelCanonicalName]; !ok {
		labels[vocab.LabelCanonicalName] = canonicalName(w, tmpl)
	}
	if _, ok := tmpl.Labels[vocab.LabelCanonicalRevision]; !ok {
		labels[vocab.LabelCanonicalRevision] = canonicalRevision(tmpl)
	}

	proxy, err := proxyContainer(w, tmpl, s, appContainers, probers, promOrig)
	if err != nil {
		return Result{}, err
	}
	for _, o := range overrides {
		if proxy, err = mergeOverride(proxy, o.Container); err != nil {
			return Result{}, fmt.Errorf("%s: container %q cannot be merged into the sidecar: %v", w, o.Container.Name, err)
		}
	}
	st.Overrides = overrides
	initC := initContainer(s)
	if s.grpcAgent {
		// A proxyless app talks to the control plane itself: nothing is
		// redirected, so there is no init container, and the app reads the
		// bootstrap and certificates the agent writes.
		for i := range out.Spec.Containers {
			c := &out.Spec.Containers[i]
			if c.Name == vocab.ProxyContainerName {
				continue
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: vocab.EnvGRPCXDSBootstrap, Value: vocab.GRPCBootstrapPath})
			c.VolumeMounts = append(c.VolumeMounts,
				corev1.VolumeMount{Name: vocab.VolumeEnvoy, MountPath: vocab.MountEnvoy, ReadOnly: true},
				corev1.VolumeMount{Name: vocab.VolumeData, MountPath: vocab.MountData, ReadOnly: true})
			st.GRPCAgentContainers = append(st.GRPCAgentContainers, c.Name)
		}
	}

	switch {
	case !s.native && !s.hold && len(overrides) > 0 && overrides[0].List == listContainers:
		// The proxy takes the place of the user's container, which keeps
		// the text of the rest of the list as it was.
		i := overrides[0].Index
		out.Spec.InitContainers = append([]corev1.Container{initC}, out.Spec.InitContainers...)
		out.Spec.Containers = append(out.Spec.Containers[:i:i], append([]corev1.Container{proxy}, out.Spec.Containers[i:]...)...)
		st.InitContainers = []string{vocab.InitContainerName}
		st.Containers = []string{vocab.ProxyContainerName}
	case s.native:
		out.Spec.InitContainers = append([]corev1.Container{initC, proxy}, out.Spec.InitContainers...)
		st.InitContainers = []string{vocab.InitContainerName, vocab.ProxyContainerName}
		st.Containers = []string{}
	case s.hold:
		out.Spec.InitContainers = append([]corev1.Container{initC}, out.Spec.InitContainers...)
		out.Spec.Containers = append([]corev1.Container{proxy}, out.Spec.Containers...)
		st.InitContainers = []string{vocab.InitContainerName}
		st.Containers = []string{vocab.ProxyContainerName}
	default:
		out.Spec.InitContainers = append([]corev1.Container{initC}, out.Spec.InitContainers...)
		out.Spec.Containers = append(out.Spec.Containers, proxy)
		st.InitContainers = []string{vocab.InitContainerName}
		st.Containers = []string{vocab.ProxyContainerName}
	}
	if s.grpcAgent {
		out.Spec.InitContainers = removeNamed(out.Spec.InitContainers, []string{vocab.InitContainerName})
		if len(out.Spec.InitContainers) == 0 {
			out.Spec.InitContainers = nil
		}
		st.InitContainers = slices.DeleteFunc(st.InitContainers, func(n string) bool { return n == vocab.InitContainerName })
	}
	vols := append(volumes(s.cfg), s.userVolumes...)
	seen := make(map[string]bool, len(tmpl.Spec.Volumes)+len(vols))
	for _, v := range tmpl.Spec.Volumes {
		seen[v.Name] = true
	}
	for i, v := range vols {
		if seen[v.Name] {
			if i >= len(vols)-len(s.userVolumes) {
				return Result{}, fmt.Errorf("%s: annotation %s: volume %q already exists in the pod; mount it with %s instead", w, vocab.OverrideUserVolume, v.Name, vocab.OverrideUserVolumeMount)
			}
			return Result{}, fmt.Errorf("%s: volume %q already exists; rename it, meshctl needs that name for the sidecar", w, v.Name)
		}
		seen[v.Name] = true
		st.Volumes = append(st.Volumes, v.Name)
	}
	out.Spec.Volumes = append(out.Spec.Volumes, vols...)

	st.Labels = setAll(&out.Labels, labels)
	st.Annotations = setAll(&out.Annotations, annotations)
	statusJSON, err := json.Marshal(st)
	if err != nil {
		return Result{}, err
	}
	out.Annotations[vocab.AnnotationStatus] = string(statusJSON)
	return Result{Action: ActionInjected, Template: out, Status: st}, nil
}

// setAll sets every key of add in *m and returns each key's previous value.
func setAll(m *map[string]string, add map[string]string) map[string]*string {
	if *m == nil {
		*m = map[string]string{}
	}
	prev := make(map[string]*string, len(add))
	for k, v := range add {
		if old, ok := (*m)[k]; ok {
			if old == v {
				continue
			}
			o := old
			prev[k] = &o
		} else {
			prev[k] = nil
		}
		(*m)[k] = v
	}
	return prev
}

// injectedBy says whether injection (meshctl's or Istio's) already ran on
// the template: only the status annotation tells, since a container named
// like the proxy without it is the user's customization of the sidecar.
func injectedBy(tmpl *corev1.PodTemplateSpec) string {
	if _, ok := tmpl.Annotations[vocab.AnnotationStatus]; ok {
		return "already injected"
	}
	if _, ok := tmpl.Annotations[vocab.IstioAnnotationStatus]; ok {
		return "already injected by Istio"
	}
	return ""
}

const (
	listContainers     = "containers"
	listInitContainers = "initContainers"
)

func isProxyName(name string) bool {
	return name == vocab.ProxyContainerName || name == vocab.IstioProxyContainerName
}

func hasProxyNamed(tmpl *corev1.PodTemplateSpec) bool {
	for _, cs := range [][]corev1.Container{tmpl.Spec.Containers, tmpl.Spec.InitContainers} {
		for _, c := range cs {
			if isProxyName(c.Name) {
				return true
			}
		}
	}
	return false
}

// takeOverrides removes the containers named like the proxy from tmpl and
// returns them with where they were.
func takeOverrides(tmpl *corev1.PodTemplateSpec) []Override {
	var out []Override
	for _, l := range []struct {
		name string
		cs   *[]corev1.Container
	}{{listContainers, &tmpl.Spec.Containers}, {listInitContainers, &tmpl.Spec.InitContainers}} {
		keep := (*l.cs)[:0:0]
		for i, c := range *l.cs {
			if isProxyName(c.Name) {
				out = append(out, Override{List: l.name, Index: i, Container: c})
			} else {
				keep = append(keep, c)
			}
		}
		*l.cs = keep
	}
	return out
}

// mergeOverride applies the user's container over the injected proxy with
// the strategic merge Kubernetes uses for containers (env by name, ports by
// containerPort, mounts by path), as Istio does.
func mergeOverride(proxy, user corev1.Container) (corev1.Container, error) {
	user.Name = proxy.Name
	if user.Image == autoImage {
		user.Image = ""
	}
	base, err := json.Marshal(proxy)
	if err != nil {
		return proxy, err
	}
	patch, err := json.Marshal(user)
	if err != nil {
		return proxy, err
	}
	merged, err := strategicpatch.StrategicMergePatch(base, patch, corev1.Container{})
	if err != nil {
		return proxy, err
	}
	var c corev1.Container
	if err := json.Unmarshal(merged, &c); err != nil {
		return proxy, err
	}
	return c, nil
}

// autoImage as an override's image means "the injected image", as in Istio.
const autoImage = "auto"

// IsInjected reports whether a pod already carries a sidecar: injected, or
// (for pods read from a cluster) running a container named like the proxy.
func IsInjected(tmpl *corev1.PodTemplateSpec) bool {
	return injectedBy(tmpl) != "" || hasProxyNamed(tmpl)
}

func optOut(tmpl *corev1.PodTemplateSpec) string {
	if tmpl.Spec.HostNetwork {
		return "hostNetwork pod: redirecting the node's traffic would break it"
	}
	for _, key := range []string{vocab.LabelInject, vocab.IstioLabelInject} {
		for _, m := range []map[string]string{tmpl.Labels, tmpl.Annotations} {
			if v, ok := m[key]; ok && strings.EqualFold(strings.TrimSpace(v), "false") {
				return fmt.Sprintf("%s: %q", key, v)
			}
		}
	}
	return ""
}

// OptedOut reports why a pod template asks not to be injected ("" if it does not).
func OptedOut(tmpl *corev1.PodTemplateSpec) string { return optOut(tmpl) }

// CheckAnnotations returns the error injection would fail with because of
// the pod template's annotations (a value the injector cannot read), or nil:
// analyze reports it before the webhook refuses the pods.
func CheckAnnotations(w Workload, tmpl *corev1.PodTemplateSpec) error {
	_, err := resolveSettings(w, tmpl, DefaultConfig())
	return err
}

func canonicalName(w Workload, tmpl *corev1.PodTemplateSpec) string {
	for _, k := range []string{"app.kubernetes.io/name", "app"} {
		if v := tmpl.Labels[k]; v != "" {
			return v
		}
	}
	if w.Name != "" {
		return w.Name
	}
	return "unknown"
}

func canonicalRevision(tmpl *corev1.PodTemplateSpec) string {
	for _, k := range []string{"app.kubernetes.io/version", "version"} {
		if v := tmpl.Labels[k]; v != "" {
			return v
		}
	}
	return "latest"
}

var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warning": true, "warn": true, "error": true, "critical": true, "off": true}

func resolveSettings(w Workload, tmpl *corev1.PodTemplateSpec, cfg Config) (settings, error) {
	s := settings{cfg: cfg, native: cfg.NativeSidecars, hold: cfg.HoldApplicationUntilProxyStarts, rewrite: cfg.RewriteAppProbes}
	ov := readOverrides(tmpl.Annotations, tmpl.Labels)
	bad := func(key, value, want string) error {
		return fmt.Errorf("%s: annotation %s: %q is not %s", w, key, value, want)
	}
	boolOverride := func(o vocab.Override, dst *bool) error {
		if key, v, ok := ov.get(o); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad(key, v, "true or false")
			}
			*dst = b
		}
		return nil
	}

	if raw, ok := tmpl.Annotations[vocab.AnnotationInjectTemplates]; ok {
		for _, t := range strings.Split(raw, ",") {
			switch strings.TrimSpace(t) {
			case vocab.TemplateSidecar, "":
			case vocab.TemplateGRPCAgent:
				s.grpcAgent = true
			default:
				return s, bad(vocab.AnnotationInjectTemplates, raw, "a list of templates meshctl knows ("+vocab.TemplateSidecar+", "+vocab.TemplateGRPCAgent+")")
			}
		}
	}
	if raw, ok := tmpl.Annotations[vocab.AnnotationProxyConfig]; ok {
		var pc map[string]any
		if err := yaml.Unmarshal([]byte(raw), &pc); err != nil {
			return s, fmt.Errorf("%s: annotation %s is not valid YAML: %v", w, vocab.AnnotationProxyConfig, err)
		}
		s.proxyConfig = pc
		if v, ok := pc["holdApplicationUntilProxyStarts"]; ok {
			b, isBool := v.(bool)
			if !isBool {
				return s, fmt.Errorf("%s: annotation %s: holdApplicationUntilProxyStarts must be true or false", w, vocab.AnnotationProxyConfig)
			}
			s.hold = b
		}
		if v, ok := pc["concurrency"]; ok {
			n, isNum := v.(float64)
			if !isNum || n < 0 || n != float64(int(n)) {
				return s, fmt.Errorf("%s: annotation %s: concurrency must be a whole number", w, vocab.AnnotationProxyConfig)
			}
			s.cfg.ProxyConcurrency = int(n)
		}
		if v, ok := pc["proxyMetadata"]; ok {
			m, isMap := v.(map[string]any)
			if !isMap {
				return s, fmt.Errorf("%s: annotation %s: proxyMetadata must be a map of strings", w, vocab.AnnotationProxyConfig)
			}
			s.proxyMetaEnv = map[string]string{}
			for k, val := range m {
				s.proxyMetaEnv[k] = fmt.Sprint(val)
			}
		}
	}
	for _, o := range []struct {
		name vocab.Override
		dst  *bool
	}{{vocab.OverrideHoldApplication, &s.hold}, {vocab.OverrideNativeSidecar, &s.native}, {vocab.OverrideRewriteAppHTTPProbers, &s.rewrite}} {
		if err := boolOverride(o.name, o.dst); err != nil {
			return s, err
		}
	}
	if key, v, ok := ov.get(vocab.OverrideProxyImage); ok {
		if v == "" {
			return s, bad(key, v, "an image reference")
		}
		s.cfg.ProxyImage = v
	}
	if key, v, ok := ov.get(vocab.OverrideLogLevel); ok {
		if !logLevels[strings.ToLower(v)] {
			return s, bad(key, v, "a log level (trace, debug, info, warning, error, critical, off)")
		}
		s.cfg.LogLevel = strings.ToLower(v)
	}
	if _, v, ok := ov.get(vocab.OverrideComponentLogLevel); ok {
		s.cfg.ComponentLogLevel = v
	}
	if key, v, ok := ov.get(vocab.OverrideInterceptionMode); ok && !strings.EqualFold(v, vocab.InterceptionModeRedirect) {
		return s, bad(key, v, "supported: meshctl redirects with REDIRECT only")
	}
	for _, q := range []struct {
		name vocab.Override
		dst  *string
	}{
		{vocab.OverrideProxyCPU, &s.cfg.ProxyResources.Requests.CPU},
		{vocab.OverrideProxyMemory, &s.cfg.ProxyResources.Requests.Memory},
		{vocab.OverrideProxyCPULimit, &s.cfg.ProxyResources.Limits.CPU},
		{vocab.OverrideProxyMemoryLimit, &s.cfg.ProxyResources.Limits.Memory},
	} {
		if key, v, ok := ov.get(q.name); ok {
			if _, err := resource.ParseQuantity(v); err != nil {
				return s, bad(key, v, "a Kubernetes quantity such as 100m or 128Mi")
			}
			*q.dst = v
		}
	}

	s.redirect = Redirect{
		IncludeOutboundIPRanges: cfg.IncludeOutboundIPRanges,
		ExcludeOutboundIPRanges: cfg.ExcludeOutboundIPRanges,
		IncludeInboundPorts:     cfg.IncludeInboundPorts,
		ExcludeInboundPorts:     joinLists(DefaultExcludeInboundPorts, cfg.ExcludeInboundPorts),
		ExcludeOutboundPorts:    cfg.ExcludeOutboundPorts,
	}
	for _, t := range []struct {
		name  vocab.Override
		dst   *string
		check func(string) bool
		want  string
		base  string
	}{
		{vocab.TrafficIncludeOutboundIPRanges, &s.redirect.IncludeOutboundIPRanges, validCIDRs(true), "a comma-separated list of CIDRs or *", ""},
		{vocab.TrafficExcludeOutboundIPRanges, &s.redirect.ExcludeOutboundIPRanges, validCIDRs(false), "a comma-separated list of CIDRs", ""},
		{vocab.TrafficIncludeInboundPorts, &s.redirect.IncludeInboundPorts, validPorts(true), "a comma-separated list of ports or *", ""},
		{vocab.TrafficExcludeInboundPorts, &s.redirect.ExcludeInboundPorts, validPorts(false), "a comma-separated list of ports", DefaultExcludeInboundPorts},
		{vocab.TrafficExcludeOutboundPorts, &s.redirect.ExcludeOutboundPorts, validPorts(false), "a comma-separated list of ports", ""},
		{vocab.TrafficExcludeInterfaces, &s.redirect.ExcludeInterfaces, validInterfaces, "a comma-separated list of network interface names", ""},
		{vocab.TrafficKubevirtInterfaces, &s.redirect.KubevirtInterfaces, validInterfaces, "a comma-separated list of network interface names", ""},
	} {
		if key, v, ok := ov.get(t.name); ok {
			if !t.check(v) {
				return s, bad(key, v, t.want)
			}
			// The proxy's own ports stay excluded whatever the pod says, or
			// health checks and metrics would loop through the proxy.
			*t.dst = joinLists(t.base, v)
		}
	}
	if key, v, ok := ov.get(vocab.OverrideUserVolume); ok {
		if err := decodeNamedList(v, &s.userVolumes); err != nil {
			return s, bad(key, v, "a JSON list of volumes ([{\"name\": ..., \"secret\": {...}}]) or a JSON map from volume name to volume: "+err.Error())
		}
	}
	if key, v, ok := ov.get(vocab.OverrideUserVolumeMount); ok {
		if err := decodeNamedList(v, &s.userMounts); err != nil {
			return s, bad(key, v, "a JSON list of volume mounts ([{\"name\": ..., \"mountPath\": ...}]) or a JSON map from volume name to mount: "+err.Error())
		}
		known := map[string]bool{}
		for _, vol := range tmpl.Spec.Volumes {
			known[vol.Name] = true
		}
		for _, vol := range s.userVolumes {
			known[vol.Name] = true
		}
		for _, m := range s.userMounts {
			if m.MountPath == "" {
				return s, fmt.Errorf("%s: annotation %s: mount of volume %q has no mountPath", w, key, m.Name)
			}
			if !known[m.Name] {
				return s, fmt.Errorf("%s: annotation %s: volume %q is neither in the pod nor in the userVolume annotation", w, key, m.Name)
			}
		}
	}
	if s.native {
		// A native sidecar already starts before the app; holding the app
		// with a postStart hook would be redundant.
		s.hold = false
	}
	return s, nil
}

// decodeNamedList reads Istio's two spellings of userVolume and
// userVolumeMount: a JSON list of objects with names, or a JSON map from
// name to the object. Unknown fields are errors, so a typo is not dropped.
func decodeNamedList[T corev1.Volume | corev1.VolumeMount](raw string, out *[]T) error {
	raw = strings.TrimSpace(raw)
	strict := func(b []byte, v any) error {
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if strings.HasPrefix(raw, "{") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return err
		}
		for _, name := range sortedKeys(m) {
			var item T
			if err := strict(m[name], &item); err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			switch p := any(&item).(type) {
			case *corev1.Volume:
				p.Name = name
			case *corev1.VolumeMount:
				p.Name = name
			}
			*out = append(*out, item)
		}
		return nil
	}
	if err := strict([]byte(raw), out); err != nil {
		return err
	}
	for _, item := range *out {
		name := ""
		switch p := any(&item).(type) {
		case *corev1.Volume:
			name = p.Name
		case *corev1.VolumeMount:
			name = p.Name
		}
		if name == "" {
			return errors.New("an entry has no name")
		}
	}
	return nil
}

func joinLists(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range strings.Split(a+","+b, ",") {
		p = strings.TrimSpace(p)
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// The lists are checked with proxy-init's own parsers, so that whatever
// injection accepts, proxy-init can program.
func validCIDRs(allowStar bool) func(string) bool {
	return func(v string) bool {
		_, _, err := proxyinit.ParseCIDRs(v, allowStar)
		return err == nil
	}
}

func validPorts(allowStar bool) func(string) bool {
	return func(v string) bool {
		_, _, err := proxyinit.ParsePorts(v, allowStar)
		return err == nil
	}
}

func validInterfaces(v string) bool {
	_, err := proxyinit.ParseInterfaces(v)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
