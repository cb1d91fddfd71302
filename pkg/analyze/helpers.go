package analyze

import (
	"encoding/json"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/internal/parallel"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/validation"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// registry is the services and per-host config of the input, resolved the
// way config diff and the server resolve them.
func (c *Context) registry() *config.Registry {
	c.regOnce.Do(func() { c.reg = config.NewRegistry(c.Store, nil) })
	return c.reg
}

func (c *Context) hosts() *config.Hosts { return c.registry().Hosts }

// lookupHost finds what serves host as written in namespace ns, among the
// services exported to ns.
func (c *Context) lookupHost(host, ns string) []*config.Service {
	return c.registry().LookupVisible(host, ns)
}

// Without a cluster, the input is the files plus what the install provides
// (objects from config.SourceInstall). What is absent from that is not
// necessarily absent from the cluster the files will be applied to, so each
// analyzer decides what absence means (README, "Without a cluster"):
//
//   - a host no input defines is still reported (MSH0101, MSH0303, MSH0503):
//     it is the commonest mistake, and istioctl reports it too;
//   - a conclusion that needs a kind the input does not hold at all (no
//     Namespace objects, no Secrets, no Gateways) is not drawn;
//   - "selects no workload" is reported at Info: files seldom hold every
//     workload, so it cannot fail a pipeline.

// fileOnly is true when there is no cluster behind the input.
func (c *Context) fileOnly() bool { return !c.opts.Cluster }

// inputHas reports whether the input (files or cluster, not the install
// stand-ins) holds any object of kind in namespace ns ("" for any).
func (c *Context) inputHas(kind config.Kind, ns string) bool {
	for _, r := range c.Store.List(kind, ns) {
		if r.Origin.Source != config.SourceInstall {
			return true
		}
	}
	return false
}

// knows reports whether an absent object of kind really is absent: always
// with a cluster; without one, only when the input holds objects of the kind.
func (c *Context) knows(kind config.Kind) bool { return c.opts.Cluster || c.inputHas(kind, "") }

// selectorLevel is the level of a "selects no workload" finding of the
// running analyzer.
func (c *Context) selectorLevel() Level {
	if c.fileOnly() {
		return Info
	}
	return c.current.Level
}

// noWorkloadNote is added to "selects no workload" messages without a
// cluster, saying what was searched.
func (c *Context) noWorkloadNote() string {
	if c.fileOnly() {
		return " in the files or the install profile (no cluster was read)"
	}
	return ""
}

// workload is something that runs pods with a set of labels.
type workload struct {
	res  *config.Resource
	tmpl *corev1.PodTemplateSpec
}

func (c *Context) buildWorkloads() { c.wlsOnce.Do(c.indexWorkloads) }

func (c *Context) indexWorkloads() {
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

// matching returns the workloads of ns ("" for all) whose pod labels match
// sel (every pair present and equal, as a label selector from a set), in
// workloads(ns) order.
func (c *Context) matching(ns string, sel map[string]string) []workload {
	if len(sel) == 0 {
		return append([]workload(nil), c.workloads(ns)...)
	}
	c.buildWorkloads()
	c.wlsByLabelOnce.Do(func() {
		// Every workload under each of its label pairs, in its namespace
		// and in "" (all): a selector then reads the shortest list among
		// its pairs instead of every workload of the namespace, which made
		// selector checks quadratic in the workloads of a namespace.
		c.wlsByLabel = map[labelPair][]workload{}
		for _, w := range c.wlsAll {
			for k, v := range w.tmpl.Labels {
				all := labelPair{"", k, v}
				c.wlsByLabel[all] = append(c.wlsByLabel[all], w)
				if w.res.Namespace != "" {
					p := labelPair{w.res.Namespace, k, v}
					c.wlsByLabel[p] = append(c.wlsByLabel[p], w)
				}
			}
		}
	})
	var cand []workload
	first := true
	for k, v := range sel {
		b := c.wlsByLabel[labelPair{ns, k, v}]
		if len(b) == 0 {
			return nil
		}
		if first || len(b) < len(cand) {
			cand, first = b, false
		}
	}
	var out []workload
	for _, w := range cand {
		if selects(sel, w.tmpl.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// labelPair is one label in one namespace ("" for all).
type labelPair struct{ ns, key, value string }

// selects is labels.SelectorFromSet(sel).Matches(labels.Set(lbls)) without
// building the selector.
func selects(sel, lbls map[string]string) bool {
	for k, v := range sel {
		if lv, ok := lbls[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// servicesSelecting returns the Services of r's namespace whose selector
// matches r's pod template, in Store order.
func servicesSelecting(c *Context, r *config.Resource) []*config.Resource {
	t := r.PodTemplate()
	if t == nil {
		return nil
	}
	c.svcsOnce.Do(func() {
		// Each Service under one pair of its selector (the least key): a
		// workload finds its candidates through its own labels.
		c.svcsByLabel = map[labelPair][]*config.Resource{}
		c.svcOrder = map[*config.Resource]int{}
		for i, s := range c.Store.List(config.KindService, "") {
			sel := s.Service().Spec.Selector
			if len(sel) == 0 {
				continue
			}
			least := ""
			for k := range sel {
				if least == "" || k < least {
					least = k
				}
			}
			p := labelPair{s.Namespace, least, sel[least]}
			c.svcsByLabel[p] = append(c.svcsByLabel[p], s)
			c.svcOrder[s] = i
		}
	})
	var out []*config.Resource
	for k, v := range t.Labels {
		for _, s := range c.svcsByLabel[labelPair{r.Namespace, k, v}] {
			if selects(s.Service().Spec.Selector, t.Labels) {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return c.svcOrder[out[i]] < c.svcOrder[out[j]] })
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

// builtinNamespaces exist in every cluster.
var builtinNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

// namespaceExists reports whether ns is a known namespace (built in, a
// Namespace object or any object in it).
func (c *Context) namespaceExists(ns string) bool {
	if builtinNamespaces[ns] || c.Store.Get(config.KindNamespace, "", ns) != nil {
		return true
	}
	for _, k := range c.Store.Kinds() {
		if len(c.Store.List(k, ns)) > 0 {
			return true
		}
	}
	return false
}

// knowsNamespaces is true when a missing namespace really is missing: the
// cluster was read, or the files define Namespaces.
func (c *Context) knowsNamespaces() bool { return c.knows(config.KindNamespace) }

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
// a sidecar, and whether that is known: without a cluster, a workload of a
// namespace the files do not define may be injected by the namespace's label.
func (c *Context) hasProxy(w workload) (has, known bool) {
	if inject.IsInjected(w.tmpl) {
		return true, true
	}
	if w.res.Kind == config.KindPod {
		return false, true // admission is over: what it has is what it gets
	}
	st, _ := c.namespaceInjection(w.res.Namespace)
	if inject.OptedOut(w.tmpl) != "" {
		return false, true
	}
	if st == injectionEnabled {
		return true, true
	}
	for _, k := range []string{vocab.LabelInject, vocab.IstioLabelInject} {
		if w.tmpl.Labels[k] == "true" {
			return true, true
		}
	}
	return false, st != injectionUnknown || c.opts.Cluster
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

// hasSubset reports whether a DestinationRule visible from namespace ns
// defines subset name for a resolved host.
func (c *Context) hasSubset(host, ns, name string) bool {
	v := c.registry().DestinationRule(host, ns)
	return v != nil && v.Subset(name) != nil
}

func inSystemNamespace(ns, root string) bool {
	return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" || ns == root
}

// validationIssues returns validation.Validate(r) for an object of
// validatedKinds. Validating every object is the costliest part of a run;
// it is done once, on every core, for the two analyzers that report it.
func (c *Context) validationIssues(r *config.Resource) []validation.Issue {
	c.issuesOnce.Do(func() {
		var rs []*config.Resource
		for _, kind := range validatedKinds {
			rs = append(rs, c.Store.List(kind, "")...)
		}
		found := make([][]validation.Issue, len(rs))
		parallel.Each(len(rs), 64, func(i int) { found[i] = validation.Validate(rs[i]) })
		c.issues = make(map[*config.Resource][]validation.Issue, len(rs))
		for i, r := range rs {
			c.issues[r] = found[i]
		}
	})
	return c.issues[r]
}
