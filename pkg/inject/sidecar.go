package inject

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Redirect is what `meshctl proxy-init` programs into the pod's iptables.
// Args and the flag names below are the contract between the injected
// mesh-init container and proxy-init.
type Redirect struct {
	IncludeOutboundIPRanges string
	ExcludeOutboundIPRanges string
	IncludeInboundPorts     string
	ExcludeInboundPorts     string
	ExcludeOutboundPorts    string
	// ExcludeInterfaces are never redirected; KubevirtInterfaces carry a
	// VM's traffic, which is redirected as outbound.
	ExcludeInterfaces  string
	KubevirtInterfaces string
}

// Flags of `meshctl proxy-init`.
const (
	FlagProxyPort               = "proxy-port"
	FlagInboundCapturePort      = "inbound-capture-port"
	FlagProxyUID                = "proxy-uid"
	FlagProxyGID                = "proxy-gid"
	FlagInterceptionMode        = "mode"
	FlagIncludeOutboundIPRanges = "include-outbound-ip-ranges"
	FlagExcludeOutboundIPRanges = "exclude-outbound-ip-ranges"
	FlagIncludeInboundPorts     = "include-inbound-ports"
	FlagExcludeInboundPorts     = "exclude-inbound-ports"
	FlagExcludeOutboundPorts    = "exclude-outbound-ports"
	FlagExcludeInterfaces       = "exclude-interfaces"
	FlagKubevirtInterfaces      = "kubevirt-interfaces"
)

// Args are the arguments of the mesh-init container after the image's
// `meshctl` entrypoint.
func (r Redirect) Args() []string {
	args := []string{
		"proxy-init",
		"--" + FlagProxyPort + "=" + strconv.Itoa(vocab.OutboundPort),
		"--" + FlagInboundCapturePort + "=" + strconv.Itoa(vocab.InboundPort),
		"--" + FlagProxyUID + "=" + strconv.Itoa(vocab.ProxyUID),
		"--" + FlagProxyGID + "=" + strconv.Itoa(vocab.ProxyGID),
		"--" + FlagInterceptionMode + "=" + vocab.InterceptionModeRedirect,
		"--" + FlagIncludeOutboundIPRanges + "=" + r.IncludeOutboundIPRanges,
		"--" + FlagExcludeOutboundIPRanges + "=" + r.ExcludeOutboundIPRanges,
		"--" + FlagIncludeInboundPorts + "=" + r.IncludeInboundPorts,
		"--" + FlagExcludeInboundPorts + "=" + r.ExcludeInboundPorts,
		"--" + FlagExcludeOutboundPorts + "=" + r.ExcludeOutboundPorts,
	}
	// Written only when set, so that pods without them are injected exactly
	// as before these flags existed (no diff on re-injection).
	if r.ExcludeInterfaces != "" {
		args = append(args, "--"+FlagExcludeInterfaces+"="+r.ExcludeInterfaces)
	}
	if r.KubevirtInterfaces != "" {
		args = append(args, "--"+FlagKubevirtInterfaces+"="+r.KubevirtInterfaces)
	}
	return args
}

func resources(r Resources) corev1.ResourceRequirements {
	list := func(a ResourceAmounts) corev1.ResourceList {
		if a.CPU == "" && a.Memory == "" {
			return nil
		}
		l := corev1.ResourceList{}
		// Values were validated when read; a bad one in Config is skipped
		// rather than crashing the webhook.
		if q, err := resource.ParseQuantity(a.CPU); err == nil && a.CPU != "" {
			l[corev1.ResourceCPU] = q
		}
		if q, err := resource.ParseQuantity(a.Memory); err == nil && a.Memory != "" {
			l[corev1.ResourceMemory] = q
		}
		return l
	}
	return corev1.ResourceRequirements{Requests: list(r.Requests), Limits: list(r.Limits)}
}

func ptr[T any](v T) *T { return &v }

func initContainer(s settings) corev1.Container {
	return corev1.Container{
		Name:            vocab.InitContainerName,
		Image:           s.cfg.InitImage,
		Args:            s.redirect.Args(),
		Resources:       resources(s.cfg.InitResources),
		ImagePullPolicy: corev1.PullPolicy(s.cfg.ImagePullPolicy),
		SecurityContext: &corev1.SecurityContext{
			// iptables needs NET_ADMIN and NET_RAW, and root to use them;
			// nothing else is granted.
			AllowPrivilegeEscalation: ptr(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
			Privileged:             ptr(false),
			ReadOnlyRootFilesystem: ptr(false),
			RunAsGroup:             ptr(int64(0)),
			RunAsNonRoot:           ptr(false),
			RunAsUser:              ptr(int64(0)),
		},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
}

func proxyContainer(w Workload, tmpl *corev1.PodTemplateSpec, s settings, appContainers []string, probers map[string]Prober, promOrig map[string]string) (corev1.Container, error) {
	env := []corev1.EnvVar{
		fieldEnv(vocab.EnvPodName, "metadata.name"),
		fieldEnv(vocab.EnvPodNamespace, "metadata.namespace"),
		fieldEnv(vocab.EnvInstanceIP, "status.podIP"),
		fieldEnv(vocab.EnvServiceAccount, "spec.serviceAccountName"),
		fieldEnv(vocab.EnvHostIP, "status.hostIP"),
		fieldEnv(vocab.EnvNodeName, "spec.nodeName"),
		{Name: vocab.EnvDiscoveryAddress, Value: s.cfg.DiscoveryAddress},
		{Name: vocab.EnvClusterID, Value: s.cfg.ClusterID},
		{Name: vocab.EnvTrustDomain, Value: s.cfg.TrustDomain},
	}
	add := func(name, value string) {
		if value != "" {
			env = append(env, corev1.EnvVar{Name: name, Value: value})
		}
	}
	add(vocab.EnvMeshID, s.cfg.MeshID)
	add(vocab.EnvNetwork, s.cfg.Network)
	rev := s.cfg.Revision
	if rev == "" {
		rev = vocab.DefaultRevision
	}
	add(vocab.EnvRevision, rev)
	add(vocab.EnvLogLevel, s.cfg.LogLevel)
	add(vocab.EnvComponentLogLevel, s.cfg.ComponentLogLevel)
	add(vocab.EnvConcurrency, strconv.Itoa(s.cfg.ProxyConcurrency))
	add(vocab.EnvTokenAudience, s.cfg.TokenAudience)
	add(vocab.EnvWorkloadName, w.Name)
	add(vocab.EnvAppContainers, joinLists("", strings.Join(appContainers, ",")))
	var ports []map[string]any
	for _, c := range tmpl.Spec.Containers {
		for _, p := range c.Ports {
			m := map[string]any{"containerPort": p.ContainerPort}
			if p.Name != "" {
				m["name"] = p.Name
			}
			if p.Protocol != "" {
				m["protocol"] = p.Protocol
			}
			ports = append(ports, m)
		}
	}
	if len(ports) > 0 {
		b, err := json.Marshal(ports)
		if err != nil {
			return corev1.Container{}, err
		}
		add(vocab.EnvPodPorts, string(b))
	}
	if len(probers) > 0 {
		b, err := json.Marshal(probers)
		if err != nil {
			return corev1.Container{}, err
		}
		add(vocab.EnvAppProbers, string(b))
	}
	if len(promOrig) > 0 {
		b, err := json.Marshal(promOrig)
		if err != nil {
			return corev1.Container{}, err
		}
		add(vocab.EnvPrometheusScrape, string(b))
	}
	if len(s.proxyConfig) > 0 {
		b, err := json.Marshal(s.proxyConfig)
		if err != nil {
			return corev1.Container{}, err
		}
		add(vocab.EnvProxyConfig, string(b))
	}
	if s.hold {
		add(vocab.EnvHoldApplication, "true")
	}
	for _, k := range sortedKeys(s.cfg.ProxyEnv) {
		add(k, s.cfg.ProxyEnv[k])
	}
	for _, k := range sortedKeys(s.proxyMetaEnv) {
		add(k, s.proxyMetaEnv[k])
	}

	ready := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: vocab.HealthPath, Port: intstr.FromInt32(vocab.HealthPort), Scheme: corev1.URISchemeHTTP,
		}},
		FailureThreshold: 4,
		PeriodSeconds:    15,
		TimeoutSeconds:   3,
	}
	args := []string{"agent", "proxy", "sidecar"}
	if s.grpcAgent {
		args = []string{"agent", "proxy", "grpc"}
		env = append(env, corev1.EnvVar{Name: vocab.EnvGRPCXDSBootstrap, Value: vocab.GRPCBootstrapPath})
	}
	c := corev1.Container{
		Name:  vocab.ProxyContainerName,
		Image: s.cfg.ProxyImage,
		Args:  args,
		Ports: []corev1.ContainerPort{
			{Name: "http-envoy-prom", ContainerPort: vocab.PrometheusPort, Protocol: corev1.ProtocolTCP},
			{Name: "mesh-health", ContainerPort: vocab.HealthPort, Protocol: corev1.ProtocolTCP},
			{Name: "mesh-agent", ContainerPort: vocab.AgentPort, Protocol: corev1.ProtocolTCP},
		},
		Env:             env,
		Resources:       resources(s.cfg.ProxyResources),
		ImagePullPolicy: corev1.PullPolicy(s.cfg.ImagePullPolicy),
		VolumeMounts: []corev1.VolumeMount{
			{Name: vocab.VolumeSDS, MountPath: vocab.MountSDS},
			{Name: vocab.VolumeEnvoy, MountPath: vocab.MountEnvoy},
			{Name: vocab.VolumeData, MountPath: vocab.MountData},
			{Name: vocab.VolumeToken, MountPath: vocab.MountToken, ReadOnly: true},
			{Name: vocab.VolumeRootCert, MountPath: vocab.MountRootCert, ReadOnly: true},
			{Name: vocab.VolumePodInfo, MountPath: vocab.MountPodInfo, ReadOnly: true},
		},
		ReadinessProbe: ready,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			Privileged:               ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			RunAsGroup:               ptr(int64(vocab.ProxyGID)),
			RunAsNonRoot:             ptr(true),
			RunAsUser:                ptr(int64(vocab.ProxyUID)),
		},
	}
	if s.grpcAgent {
		// With no Envoy there are no Envoy metrics on 15090.
		c.Ports = slices.DeleteFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == vocab.PrometheusPort })
	}
	c.VolumeMounts = append(c.VolumeMounts, s.userMounts...)
	if s.native {
		// A native sidecar keeps running beside the app and, unlike a
		// regular container, does not keep a Job's pod alive when the app is
		// done. The startup probe makes the kubelet start the app only once
		// the proxy is ready.
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		startup := *ready
		startup.FailureThreshold, startup.PeriodSeconds, startup.TimeoutSeconds = 600, 1, 3
		c.StartupProbe = &startup
	}
	if s.hold {
		// The kubelet starts the next container only when postStart returns,
		// so the app starts with a ready proxy.
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"meshctl", "agent", "wait"}},
		}}
	}
	return c, nil
}

func volumes(cfg Config) []corev1.Volume {
	return []corev1.Volume{
		{Name: vocab.VolumeSDS, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: vocab.VolumeEnvoy, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: vocab.VolumeData, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: vocab.VolumeToken, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: cfg.TokenAudience, ExpirationSeconds: ptr(int64(TokenExpirationSeconds)), Path: vocab.TokenPath,
			}}},
		}}},
		{Name: vocab.VolumeRootCert, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cfg.RootCertConfigMap},
		}}},
		// Every field the API server would default is written out, so that a
		// second `kubectl apply` of the same output finds nothing to change.
		{Name: vocab.VolumePodInfo, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations"}},
			},
		}}},
	}
}

// GatewayProxy is the proxy container of a gateway Deployment and the pod
// volumes it mounts. A gateway is not injected (it is the proxy), but its
// agent needs what a sidecar's does: the same environment (identity,
// control plane, trust domain), the projected token, the mesh root and the
// scratch volumes. The container runs the agent as a router.
func GatewayProxy(cfg Config, name string) (corev1.Container, []corev1.Volume, error) {
	c, err := proxyContainer(Workload{Kind: "Deployment", Name: name}, &corev1.PodTemplateSpec{}, settings{cfg: cfg}, nil, nil, nil)
	if err != nil {
		return corev1.Container{}, nil, err
	}
	c.Args = []string{"agent", "proxy", "router"}
	return c, volumes(cfg), nil
}
