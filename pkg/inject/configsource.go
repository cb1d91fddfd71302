package inject

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// configMapData returns the data of b when b is a ConfigMap manifest, so
// that `kubectl get configmap mesh -o yaml` output can be passed as a file.
func configMapData(b []byte) (map[string]string, bool) {
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil || cm.Kind != "ConfigMap" {
		return nil, false
	}
	return cm.Data, true
}

// ParseConfig reads Config from YAML (or from a mesh ConfigMap manifest:
// its inject key, with its mesh key applied over it by ApplyMeshConfig).
// Fields left out keep DefaultConfig's values; an unknown field is an
// error, so a typo does not silently use a default.
func ParseConfig(b []byte, source string) (Config, error) {
	cmData, isCM := configMapData(b)
	if isCM {
		data, ok := cmData[vocab.ConfigMapKeyInject]
		if !ok {
			return Config{}, fmt.Errorf("%s: the ConfigMap has no data.%s key: is it the mesh ConfigMap an install wrote?", source, vocab.ConfigMapKeyInject)
		}
		b = []byte(data)
	}
	cfg := DefaultConfig()
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: not an injection config: %v", source, err)
	}
	if _, ok := cmData[vocab.ConfigMapKeyMesh]; isCM && ok {
		mc, _, err := meshconfig.FromConfigMapData(cmData, source)
		if err != nil {
			return Config{}, err
		}
		applyMeshConfig(&cfg, mc)
	}
	return cfg, nil
}

// ApplyMeshConfig overlays the fields of a mesh config (Istio's MeshConfig,
// or the mesh key of a mesh ConfigMap manifest, read by pkg/meshconfig)
// that concern injection.
func ApplyMeshConfig(cfg *Config, b []byte, source string) error {
	mc, err := meshconfig.ParseFile(b, source)
	if err != nil {
		return err
	}
	applyMeshConfig(cfg, mc)
	return nil
}

// applyMeshConfig takes what injection needs from the mesh config:
// trustDomain, enablePrometheusMerge and defaultConfig's discoveryAddress,
// concurrency, holdApplicationUntilProxyStarts, proxyMetadata and meshId
// (the cluster's name is not in Istio's MeshConfig: it comes from the
// injection config or Helm values). The mesh config is their owner: where the injection config
// has the same field, the mesh config's value wins.
func applyMeshConfig(cfg *Config, mc *meshconfig.MeshConfig) {
	setStr(&cfg.TrustDomain, mc.GetTrustDomain())
	if v := mc.GetEnablePrometheusMerge(); v != nil {
		cfg.PrometheusMerge = v.GetValue()
	}
	d := mc.GetDefaultConfig()
	setStr(&cfg.DiscoveryAddress, d.GetDiscoveryAddress())
	setStr(&cfg.MeshID, d.GetMeshId())
	if v := d.GetConcurrency(); v != nil {
		cfg.ProxyConcurrency = int(v.GetValue())
	}
	if v := d.GetHoldApplicationUntilProxyStarts(); v != nil {
		cfg.HoldApplicationUntilProxyStarts = v.GetValue()
	}
	if len(d.GetProxyMetadata()) > 0 && cfg.ProxyEnv == nil {
		cfg.ProxyEnv = map[string]string{}
	}
	for k, v := range d.GetProxyMetadata() {
		cfg.ProxyEnv[k] = v
	}
}

// ApplyValues overlays the injection-related fields of Istio-style Helm
// values (a values file, or the values key of a ConfigMap manifest):
// global.hub/tag, global.proxy.*, global.proxy_init.*, global.imagePullPolicy,
// global.meshID, global.network, global.multiCluster.clusterName and
// sidecarInjectorWebhook.rewriteAppHTTPProbe.
func ApplyValues(cfg *Config, b []byte, source string) error {
	if data, ok := configMapData(b); ok {
		b = []byte(data[vocab.ConfigMapKeyValues])
	}
	type imageSpec struct {
		Image     string    `json:"image"`
		Resources Resources `json:"resources"`
	}
	var v struct {
		Global struct {
			Hub             string `json:"hub"`
			Tag             any    `json:"tag"`
			ImagePullPolicy string `json:"imagePullPolicy"`
			MeshID          string `json:"meshID"`
			Network         string `json:"network"`
			MultiCluster    struct {
				ClusterName string `json:"clusterName"`
			} `json:"multiCluster"`
			Proxy struct {
				imageSpec
				LogLevel                        string `json:"logLevel"`
				ComponentLogLevel               string `json:"componentLogLevel"`
				HoldApplicationUntilProxyStarts *bool  `json:"holdApplicationUntilProxyStarts"`
				IncludeIPRanges                 string `json:"includeIPRanges"`
				ExcludeIPRanges                 string `json:"excludeIPRanges"`
				IncludeInboundPorts             string `json:"includeInboundPorts"`
				ExcludeInboundPorts             string `json:"excludeInboundPorts"`
				ExcludeOutboundPorts            string `json:"excludeOutboundPorts"`
			} `json:"proxy"`
			ProxyInit imageSpec `json:"proxy_init"`
		} `json:"global"`
		SidecarInjectorWebhook struct {
			RewriteAppHTTPProbe *bool `json:"rewriteAppHTTPProbe"`
		} `json:"sidecarInjectorWebhook"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: not a values file: %v", source, err)
	}
	g := v.Global
	tag := ""
	if g.Tag != nil {
		tag = fmt.Sprint(g.Tag)
	}
	image := func(name string) string {
		if name == "" || strings.Contains(name, "/") || g.Hub == "" {
			return name
		}
		if tag != "" {
			return g.Hub + "/" + name + ":" + tag
		}
		return g.Hub + "/" + name
	}
	setStr(&cfg.ProxyImage, image(g.Proxy.Image))
	setStr(&cfg.InitImage, image(g.ProxyInit.Image))
	setStr(&cfg.ImagePullPolicy, g.ImagePullPolicy)
	setStr(&cfg.MeshID, g.MeshID)
	setStr(&cfg.Network, g.Network)
	setStr(&cfg.ClusterID, g.MultiCluster.ClusterName)
	setStr(&cfg.LogLevel, g.Proxy.LogLevel)
	setStr(&cfg.ComponentLogLevel, g.Proxy.ComponentLogLevel)
	setStr(&cfg.IncludeOutboundIPRanges, g.Proxy.IncludeIPRanges)
	setStr(&cfg.ExcludeOutboundIPRanges, g.Proxy.ExcludeIPRanges)
	setStr(&cfg.IncludeInboundPorts, g.Proxy.IncludeInboundPorts)
	setStr(&cfg.ExcludeInboundPorts, g.Proxy.ExcludeInboundPorts)
	setStr(&cfg.ExcludeOutboundPorts, g.Proxy.ExcludeOutboundPorts)
	if g.Proxy.HoldApplicationUntilProxyStarts != nil {
		cfg.HoldApplicationUntilProxyStarts = *g.Proxy.HoldApplicationUntilProxyStarts
	}
	if r := v.SidecarInjectorWebhook.RewriteAppHTTPProbe; r != nil {
		cfg.RewriteAppProbes = *r
	}
	overlayResources(&cfg.ProxyResources, g.Proxy.Resources)
	overlayResources(&cfg.InitResources, g.ProxyInit.Resources)
	return nil
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func overlayResources(dst *Resources, src Resources) {
	setStr(&dst.Requests.CPU, src.Requests.CPU)
	setStr(&dst.Requests.Memory, src.Requests.Memory)
	setStr(&dst.Limits.CPU, src.Limits.CPU)
	setStr(&dst.Limits.Memory, src.Limits.Memory)
}

// ErrNoMeshConfigMap means the cluster has no mesh ConfigMap for the
// revision: the mesh (or that revision) is not installed.
var ErrNoMeshConfigMap = errors.New("mesh ConfigMap not found")

// ConfigFromCluster reads Config from the mesh ConfigMap of revision in
// namespace, as an install wrote it.
func ConfigFromCluster(ctx context.Context, client kubernetes.Interface, namespace, revision string) (Config, error) {
	name := vocab.MeshConfigMapName(revision)
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Config{}, fmt.Errorf("configmap %s/%s: %w", namespace, name, ErrNoMeshConfigMap)
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading configmap %s/%s: %w", namespace, name, err)
	}
	return ConfigFromConfigMap(cm)
}

// ConfigFromConfigMap reads Config from a mesh ConfigMap.
func ConfigFromConfigMap(cm *corev1.ConfigMap) (Config, error) {
	data, ok := cm.Data[vocab.ConfigMapKeyInject]
	if !ok {
		return Config{}, fmt.Errorf("configmap %s/%s has no %q key; reinstall the mesh with this meshctl version", cm.Namespace, cm.Name, vocab.ConfigMapKeyInject)
	}
	source := fmt.Sprintf("configmap %s/%s", cm.Namespace, cm.Name)
	cfg, err := ParseConfig([]byte(data), source+" key "+vocab.ConfigMapKeyInject)
	if err != nil {
		return Config{}, err
	}
	mc, ok, err := meshconfig.FromConfigMapData(cm.Data, source)
	if err != nil {
		return Config{}, err
	}
	if ok {
		applyMeshConfig(&cfg, mc)
	}
	return cfg, nil
}
