// Package dashboard finds the pod behind a mesh web UI (an addon, the
// control plane's debug pages, a sidecar's Envoy admin) and keeps a local
// port forwarded to a ready one, following it across restarts.
package dashboard

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Target is what to reach: a pod, given by name or by label selector, and a
// port and path on it.
type Target struct {
	// Name is how messages refer to the target ("grafana", "Envoy admin").
	Name      string
	Namespace string
	// Pod names one pod; when set, Selector is not used.
	Pod string
	// Selector chooses among pods; FallbackSelector is tried when it matches
	// none (the app= label of addons installed from upstream manifests).
	Selector         labels.Selector
	FallbackSelector labels.Selector
	Port             int
	Path             string
	// InstallHint is the command that installs the target when no pod
	// exists; empty when there is nothing meshctl can install.
	InstallHint string
	// NeedsProxy restricts the choice to pods that run Envoy: injected pods
	// and gateways.
	NeedsProxy bool
}

// Addons returns the names of the addons with a web UI, sorted.
func Addons() []string {
	names := make([]string, 0, len(install.Addons))
	for n := range install.Addons {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AddonInstallHint is the command that enables an addon at install time.
func AddonInstallHint(component string) string {
	return fmt.Sprintf("meshctl install --set addons.%s.enabled=true", component)
}

// AddonTarget is the web UI of an addon installed in meshNamespace. A
// non-empty selector (-l) replaces the installer's labels.
func AddonTarget(component, meshNamespace string, selector labels.Selector) (Target, error) {
	addon, ok := install.Addons[component]
	if !ok {
		return Target{}, fmt.Errorf("unknown addon %q: use one of %v", component, Addons())
	}
	t := Target{
		Name:        component,
		Namespace:   meshNamespace,
		Selector:    selector,
		Port:        addon.Port,
		Path:        addon.Path,
		InstallHint: AddonInstallHint(component),
	}
	if t.Selector == nil || t.Selector.Empty() {
		t.Selector = labels.SelectorFromSet(labels.Set{vocab.LabelComponent: addon.Component})
		t.FallbackSelector = labels.SelectorFromSet(labels.Set{vocab.LabelApp: component})
	}
	return t, nil
}

// ServerSelector selects the control-plane pods of one revision; an empty
// revision selects every revision.
func ServerSelector(revision string) labels.Selector {
	set := labels.Set{vocab.LabelComponent: vocab.ComponentServer}
	if revision != "" {
		set[vocab.LabelRevision] = revision
	}
	return labels.SelectorFromSet(set)
}

// ServerTarget is a debug page of the control plane: port
// vocab.ServerMonitoringPort for /debug and /metrics, vocab.ServerControlZPort
// for ControlZ. pod or selector narrow the choice of control-plane pod.
func ServerTarget(name, namespace, pod string, selector labels.Selector, revision string, port int, path string) Target {
	if selector == nil || selector.Empty() {
		selector = ServerSelector(revision)
	}
	return Target{
		Name:        name,
		Namespace:   namespace,
		Pod:         pod,
		Selector:    selector,
		Port:        port,
		Path:        path,
		InstallHint: "meshctl install",
	}
}

// ProxyAdminTarget is the Envoy admin page of a sidecar, by pod name or by
// selector.
func ProxyAdminTarget(namespace, pod string, selector labels.Selector) Target {
	return Target{
		Name:       "Envoy admin",
		Namespace:  namespace,
		Pod:        pod,
		Selector:   selector,
		Port:       vocab.ProxyAdminPort,
		Path:       "/",
		NeedsProxy: true,
	}
}

// HasProxy reports whether pod runs Envoy: a sidecar (meshctl's or Istio's)
// or a gateway.
func HasProxy(pod *corev1.Pod) bool {
	switch pod.Labels[vocab.LabelComponent] {
	case vocab.ComponentIngressGateway, vocab.ComponentEgressGateway:
		return true
	}
	return inject.IsInjected(&corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec})
}
