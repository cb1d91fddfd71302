package translate

import (
	"strings"

	"github.com/meshctl/meshctl/pkg/config"
)

// egressScope returns which services a client may reach under its Sidecar
// (Istio's egress scoping): the Sidecar of the client's namespace that
// selects its workload (labels), else the one of that namespace without a
// selector, else the root namespace's one without a selector; nil when no
// Sidecar applies (everything visible is reachable). Views shared by a
// namespace (proxyless gRPC) have no labels: only Sidecars without a
// selector apply to them.
func (x *Index) egressScope(ns string, labels map[string]string, workload bool) func(*config.Service) bool {
	var chosen *config.Resource
	for _, r := range x.in.Store.List(config.KindSidecar, ns) {
		sc := r.Sidecar()
		if sc == nil {
			continue
		}
		if sel := sc.GetWorkloadSelector().GetLabels(); len(sel) > 0 {
			if workload && selects(sel, labels) {
				chosen = r
				break
			}
			continue
		}
		if chosen == nil {
			chosen = r
		}
	}
	if chosen == nil && ns != x.rootNamespace() {
		for _, r := range x.in.Store.List(config.KindSidecar, x.rootNamespace()) {
			if sc := r.Sidecar(); sc != nil && len(sc.GetWorkloadSelector().GetLabels()) == 0 {
				chosen = r
				break
			}
		}
	}
	if chosen == nil || len(chosen.Sidecar().Egress) == 0 {
		return nil
	}
	type rule struct{ ns, host string }
	var rules []rule
	for _, e := range chosen.Sidecar().Egress {
		for _, h := range e.Hosts {
			n, host, ok := strings.Cut(h, "/")
			if !ok {
				continue // validation rejects it
			}
			switch n {
			case "~":
				continue
			case ".":
				n = chosen.Namespace
			}
			if n != "*" {
				host = x.reg.Hosts.Resolve(host, n)
			}
			rules = append(rules, rule{n, strings.ToLower(host)})
		}
	}
	return func(s *config.Service) bool {
		for _, r := range rules {
			if (r.ns == "*" || r.ns == s.Namespace) && config.HostsOverlap(s.Host, r.host) {
				return true
			}
		}
		return false
	}
}

// Parts returns the host parts a view's clients receive: HostParts of its
// namespace narrowed by its Sidecar's egress hosts.
func (x *Index) Parts(v View) []*HostPart {
	parts := x.HostParts(v.Namespace)
	in := x.egressScope(v.Namespace, x.workloadLabels(v), v.Workload != "")
	if in == nil || v.Gateway {
		return parts
	}
	out := parts[:0:0]
	for _, p := range parts {
		if s := primary(x.services(p.Host)); s != nil && in(s) {
			out = append(out, p)
		}
	}
	return out
}

// workloadLabels are the labels of a view's workload (non-nil), nil for a
// view shared by a namespace.
func (x *Index) workloadLabels(v View) map[string]string {
	if v.Workload == "" {
		return nil
	}
	labels := v.Labels
	if pod := x.in.Store.Get(config.KindPod, v.Namespace, v.Workload); pod != nil {
		labels = pod.Labels
	}
	if labels == nil {
		labels = map[string]string{}
	}
	return labels
}
