package analyze

import (
	"encoding/json"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
)

// DomainSuffix is the cluster DNS domain short host names expand into.
const DomainSuffix = "cluster.local"

// fqdn expands a host as written in config of namespace ns: "reviews" and
// "reviews.bookinfo" become reviews.<ns>.svc.cluster.local, as the mesh does.
func (c *Context) fqdn(host, ns string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" || strings.HasPrefix(h, "*") {
		return h
	}
	switch parts := strings.Split(h, "."); {
	case len(parts) == 1:
		return h + "." + ns + ".svc." + DomainSuffix
	case len(parts) == 2 && c.namespaceExists(parts[1]):
		return h + ".svc." + DomainSuffix
	case strings.HasSuffix(h, ".svc"):
		return h + "." + DomainSuffix
	}
	return h
}

type hostEntry struct {
	res   *config.Resource
	ports []portInfo
}

type portInfo struct {
	number     uint32
	targetPort uint32
	name       string
	protocol   string
}

type registry struct {
	exact    map[string][]hostEntry
	wildcard map[string][]hostEntry // "*.example.com" → entries
	// wildcardHosts are the keys of wildcard, most specific first.
	wildcardHosts []string
	any           bool
}

// registry indexes Services and ServiceEntries by host.
func (c *Context) registry() *registry {
	if c.reg != nil {
		return c.reg
	}
	r := &registry{exact: map[string][]hostEntry{}, wildcard: map[string][]hostEntry{}}
	for _, s := range c.Store.List(config.KindService, "") {
		svc := s.Service()
		e := hostEntry{res: s}
		for _, p := range svc.Spec.Ports {
			e.ports = append(e.ports, portInfo{number: uint32(p.Port), targetPort: uint32(p.TargetPort.IntVal), name: p.Name, protocol: string(p.Protocol)})
		}
		h := s.Name + "." + s.Namespace + ".svc." + DomainSuffix
		r.exact[h] = append(r.exact[h], e)
		r.any = true
	}
	for _, s := range c.Store.List(config.KindServiceEntry, "") {
		se := s.ServiceEntry()
		e := hostEntry{res: s}
		for _, p := range se.Ports {
			e.ports = append(e.ports, portInfo{number: p.Number, targetPort: p.TargetPort, name: p.Name, protocol: p.Protocol})
		}
		for _, h := range se.Hosts {
			h = strings.ToLower(h)
			if strings.HasPrefix(h, "*") {
				r.wildcard[h] = append(r.wildcard[h], e)
			} else {
				r.exact[h] = append(r.exact[h], e)
			}
		}
		r.any = true
	}
	for w := range r.wildcard {
		r.wildcardHosts = append(r.wildcardHosts, w)
	}
	sort.Slice(r.wildcardHosts, func(i, j int) bool {
		a, b := r.wildcardHosts[i], r.wildcardHosts[j]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	c.reg = r
	return r
}

// lookupHost finds what serves host as written in namespace ns.
func (c *Context) lookupHost(host, ns string) []hostEntry {
	reg := c.registry()
	h := c.fqdn(host, ns)
	if e := reg.exact[h]; len(e) > 0 {
		return e
	}
	for _, w := range reg.wildcardHosts {
		if hostMatchesWildcard(h, w) {
			return reg.wildcard[w]
		}
	}
	return nil
}

func hostMatchesWildcard(host, wildcard string) bool {
	if wildcard == "*" {
		return true
	}
	suffix := strings.TrimPrefix(wildcard, "*")
	return strings.HasSuffix(host, suffix)
}

// hostsOverlap reports whether two host patterns can name the same host.
func hostsOverlap(a, b string) bool {
	if a == b || a == "*" || b == "*" {
		return true
	}
	if strings.HasPrefix(a, "*") && hostMatchesWildcard(b, a) {
		return true
	}
	return strings.HasPrefix(b, "*") && hostMatchesWildcard(a, b)
}

// knowsServices is false when the input holds no Service or ServiceEntry at
// all (routing files analyzed alone): host checks would then only say that
// everything is missing.
func (c *Context) knowsServices() bool { return c.registry().any || c.opts.Cluster }

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

// The labels analyzers read are the ones the webhook selectors are built
// from; which revision a namespace gets is inject.NamespaceRevision's call,
// exactly what the webhooks select.
var revisionLabels = []string{inject.NamespaceLabelRevision, inject.IstioNamespaceLabelRevision}
var injectionLabels = []string{inject.NamespaceLabelInjection, inject.IstioNamespaceLabelInjection}

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
	for _, k := range []string{inject.LabelInject, inject.IstioLabelInject} {
		if w.tmpl.Labels[k] == "true" {
			return true
		}
	}
	return false
}

// proxyRevision returns the revision recorded by injection, "" if unknown.
func proxyRevision(t *corev1.PodTemplateSpec) string {
	for _, k := range []string{inject.AnnotationStatus, inject.IstioAnnotationStatus} {
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

// gatewayRef resolves a VirtualService's gateway reference.
func gatewayRef(ref, vsNamespace string) (ns, name string) {
	if i := strings.Index(ref, "/"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if parts := strings.Split(ref, "."); len(parts) > 1 {
		return parts[1], parts[0]
	}
	return vsNamespace, ref
}

// subsetsFor collects the subsets DestinationRules define for a host.
func (c *Context) subsetsFor(fqdn string) map[string]bool {
	if c.subsets == nil {
		c.subsets = map[string]map[string]bool{}
		for _, dr := range c.Store.List(config.KindDestinationRule, "") {
			spec := dr.DestinationRule()
			h := c.fqdn(spec.Host, dr.Namespace)
			if c.subsets[h] == nil {
				c.subsets[h] = map[string]bool{}
			}
			for _, s := range spec.Subsets {
				c.subsets[h][s.Name] = true
			}
		}
	}
	out := c.subsets[fqdn]
	for _, h := range c.subsetWildcards() {
		if names := c.subsets[h]; hostMatchesWildcard(fqdn, h) {
			if out == nil {
				out = map[string]bool{}
			}
			for n := range names {
				out[n] = true
			}
		}
	}
	return out
}

func (c *Context) subsetWildcards() []string {
	if c.subsetWild == nil {
		c.subsetWild = []string{}
		for h := range c.subsets {
			if strings.HasPrefix(h, "*") {
				c.subsetWild = append(c.subsetWild, h)
			}
		}
		sort.Strings(c.subsetWild)
	}
	return c.subsetWild
}

func inSystemNamespace(ns, root string) bool {
	return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" || ns == root
}
