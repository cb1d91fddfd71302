package analyze

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// registry is the services and per-host config of the input, resolved the
// way config diff and the server resolve them.
func (c *Context) registry() *config.Registry {
	if c.reg == nil {
		c.reg = config.NewRegistry(c.Store, nil)
	}
	return c.reg
}

func (c *Context) hosts() *config.Hosts { return c.registry().Hosts }

// lookupHost finds what serves host as written in namespace ns.
func (c *Context) lookupHost(host, ns string) []*config.Service {
	return c.registry().Lookup(host, ns)
}

// knowsServices is false when the input holds no Service or ServiceEntry at
// all (routing files analyzed alone): host checks would then only say that
// everything is missing.
func (c *Context) knowsServices() bool { return c.registry().Any() || c.opts.Cluster }

// workload is something that runs pods with a set of labels.
type workload struct {
	res  *config.Resource
	tmpl *corev1.PodTemplateSpec
}

func (c *Context) buildWorkloads() {
	if c.wls != nil {
		return
	}
	c.wls = map[string][]workload{}
	for _, k := range []config.Kind{config.KindPod, config.KindDeployment, config.KindStatefulSet, config.KindDaemonSet, config.KindReplicaSet, config.KindJob, config.KindCronJob} {
		for _, r := range c.Store.List(k, "") {
			if t := r.PodTemplate(); t != nil {
				w := workload{res: r, tmpl: t}
				c.wls[r.Namespace] = append(c.wls[r.Namespace], w)
				c.wlsAll = append(c.wlsAll, w)
			}
		}
	}
}

// workloads of namespace ns; "" for all namespaces.
func (c *Context) workloads(ns string) []workload {
	c.buildWorkloads()
	if ns == "" {
		return c.wlsAll
	}
	return c.wls[ns]
}

// hasWorkloads tells whether selector checks can say anything about ns:
// with no workload in the input, "matches nothing" would always be true.
func (c *Context) hasWorkloads(ns string) bool { return len(c.workloads(ns)) > 0 }

// matching returns the workloads of ns ("" for all) whose pod labels match sel.
func (c *Context) matching(ns string, sel map[string]string) []workload {
	var out []workload
	s := labels.SelectorFromSet(sel)
	for _, w := range c.workloads(ns) {
		if s.Matches(labels.Set(w.tmpl.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// serviceWorkloads returns the workloads a Service selects.
func (c *Context) serviceWorkloads(svc *config.Resource) []workload {
	sel := svc.Service().Spec.Selector
	if len(sel) == 0 {
		return nil
	}
	return c.matching(svc.Namespace, sel)
}

// namespaceExists reports whether ns is a known namespace (a Namespace
// object or any object in it).
func (c *Context) namespaceExists(ns string) bool {
	if c.Store.Get(config.KindNamespace, "", ns) != nil {
		return true
	}
	for _, k := range c.Store.Kinds() {
		if len(c.Store.List(k, ns)) > 0 {
			return true
		}
	}
	return false
}

// knowsNamespaces is true when Namespace objects were read, so a missing
// one really is missing.
func (c *Context) knowsNamespaces() bool {
	return len(c.Store.List(config.KindNamespace, "")) > 0
}

// Injection state of a namespace.
type injection int

const (
	injectionUnknown injection = iota
	injectionDisabled
	injectionEnabled
)

// Which revision a namespace gets is inject.NamespaceRevision's call,
// exactly what the webhooks select.

func (c *Context) namespaceInjection(ns string) (injection, string) {
	n := c.Store.Get(config.KindNamespace, "", ns)
	if n == nil {
		return injectionUnknown, ""
	}
	if rev := inject.NamespaceRevision(n.Labels); rev != "" {
		return injectionEnabled, rev
	}
	return injectionDisabled, ""
}

// hasProxy reports whether the workload runs (or, once admitted, will run)
// a sidecar.
func (c *Context) hasProxy(w workload) bool {
	if inject.IsInjected(w.tmpl) {
		return true
	}
	if w.res.Kind == config.KindPod {
		return false // admission is over: what it has is what it gets
	}
	st, _ := c.namespaceInjection(w.res.Namespace)
	if inject.OptedOut(w.tmpl) != "" {
		return false
	}
	if st == injectionEnabled {
		return true
	}
	for _, k := range []string{vocab.LabelInject, vocab.IstioLabelInject} {
		if w.tmpl.Labels[k] == "true" {
			return true
		}
	}
	return false
}

// proxyRevision returns the revision recorded by injection, "" if unknown.
func proxyRevision(t *corev1.PodTemplateSpec) string {
	for _, k := range []string{vocab.AnnotationStatus, vocab.IstioAnnotationStatus} {
		if s := t.Annotations[k]; s != "" {
			var st struct {
				Revision string `json:"revision"`
			}
			if json.Unmarshal([]byte(s), &st) == nil && st.Revision != "" {
				return st.Revision
			}
		}
	}
	return ""
}

// subsetsFor collects the subsets DestinationRules visible from namespace
// ns define for a resolved host.
func (c *Context) subsetsFor(host, ns string) map[string]bool {
	out := map[string]bool{}
	if v := c.registry().DestinationRule(host, ns); v != nil {
		for _, s := range v.Subsets {
			out[s.Name] = true
		}
	}
	return out
}

func inSystemNamespace(ns, root string) bool {
	return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" || ns == root
}
