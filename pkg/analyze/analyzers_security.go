package analyze

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/validation"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// peerMode returns the mTLS mode in effect for a workload of ns with pod
// labels: the workload policy, else the namespace one, else the mesh one.
func (c *Context) peerMode(ns string, podLabels map[string]string) (security.PeerAuthentication_MutualTLS_Mode, *config.Resource) {
	var nsPolicy, meshPolicy *config.Resource
	for _, r := range c.Store.List(config.KindPeerAuthentication, ns) {
		pa := r.PeerAuthentication()
		if pa.Selector == nil || len(pa.Selector.MatchLabels) == 0 {
			if nsPolicy == nil {
				nsPolicy = r
			}
			continue
		}
		if podLabels != nil && selectorMatches(pa.Selector.MatchLabels, podLabels) && pa.Mtls != nil && pa.Mtls.Mode != security.PeerAuthentication_MutualTLS_UNSET {
			return pa.Mtls.Mode, r
		}
	}
	if nsPolicy != nil {
		if pa := nsPolicy.PeerAuthentication(); pa.Mtls != nil && pa.Mtls.Mode != security.PeerAuthentication_MutualTLS_UNSET {
			return pa.Mtls.Mode, nsPolicy
		}
	}
	for _, r := range c.Store.List(config.KindPeerAuthentication, c.opts.RootNamespace) {
		if pa := r.PeerAuthentication(); pa.Selector == nil || len(pa.Selector.MatchLabels) == 0 {
			meshPolicy = r
			break
		}
	}
	if meshPolicy != nil {
		if pa := meshPolicy.PeerAuthentication(); pa.Mtls != nil {
			return pa.Mtls.Mode, meshPolicy
		}
	}
	return security.PeerAuthentication_MutualTLS_UNSET, nil
}

func selectorMatches(sel, podLabels map[string]string) bool {
	for k, v := range sel {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}

// tlsModes yields each client TLS mode a DestinationRule sets, with its path.
func tlsModes(dr *networking.DestinationRule, fn func(path string, mode networking.ClientTLSSettings_TLSmode)) {
	visit := func(p string, tp *networking.TrafficPolicy) {
		if tp == nil {
			return
		}
		if tp.Tls != nil {
			fn(p+".tls.mode", tp.Tls.Mode)
		}
		for i, pl := range tp.PortLevelSettings {
			if pl.Tls != nil {
				fn(field("%s.portLevelSettings[%d].tls.mode", p, i), pl.Tls.Mode)
			}
		}
	}
	visit("spec.trafficPolicy", dr.TrafficPolicy)
	for i, s := range dr.Subsets {
		visit(field("spec.subsets[%d].trafficPolicy", i), s.TrafficPolicy)
	}
}

// servicesByTLSMode calls check for each DestinationRule field that sets
// mode, once per Service its host resolves to, until check reports (returns
// true): one finding per field is enough to act on.
func (c *Context) servicesByTLSMode(mode networking.ClientTLSSettings_TLSmode, check func(dr *config.Resource, path string, svc *config.Resource) bool) {
	for _, r := range c.Store.List(config.KindDestinationRule, "") {
		dr := r.DestinationRule()
		entries := c.lookupHost(dr.Host, r.Namespace)
		tlsModes(dr, func(p string, m networking.ClientTLSSettings_TLSmode) {
			if m != mode {
				return
			}
			for _, e := range entries {
				if e.Resource.Kind == config.KindService && check(r, p, e.Resource) {
					return
				}
			}
		})
	}
}

type selectorHolder interface {
	GetSelector() *typev1beta1.WorkloadSelector
}

var securityInputs = kinds(k(config.KindPeerAuthentication, config.KindDestinationRule, config.KindService, config.KindServiceEntry, config.KindNamespace, config.KindAuthorizationPolicy, config.KindRequestAuthentication), workloadKinds)

var securityAnalyzers = []*Analyzer{
	{
		Code: "MSH0401", Name: "MTLSDisabledUnderStrict", Level: Error,
		Doc:    "A DestinationRule disables TLS towards workloads whose PeerAuthentication is STRICT; every request is refused.",
		Inputs: securityInputs,
		Run: func(c *Context) {
			c.servicesByTLSMode(networking.ClientTLSSettings_DISABLE, func(r *config.Resource, p string, svc *config.Resource) bool {
				m, pol := c.peerMode(svc.Namespace, svc.Service().Spec.Selector)
				if m != security.PeerAuthentication_MutualTLS_STRICT {
					return false
				}
				c.Report(r, p, "use tls.mode ISTIO_MUTUAL, or relax the PeerAuthentication to PERMISSIVE",
					"TLS is disabled towards %q but PeerAuthentication %s/%s requires mTLS (STRICT)", r.DestinationRule().Host, pol.Namespace, pol.Name)
				return true
			})
		},
	},
	{
		Code: "MSH0402", Name: "MutualTLSWithoutSidecar", Level: Warning,
		Doc:    "A DestinationRule sends ISTIO_MUTUAL traffic to workloads that have no sidecar to terminate it.",
		Inputs: securityInputs,
		Run: func(c *Context) {
			c.servicesByTLSMode(networking.ClientTLSSettings_ISTIO_MUTUAL, func(r *config.Resource, p string, svc *config.Resource) bool {
				for _, w := range c.serviceWorkloads(svc) {
					if has, known := c.hasProxy(w); has || !known {
						continue
					}
					c.Report(r, p, fmt.Sprintf("inject a sidecar into %s %s/%s (label the namespace for injection and restart it), or use tls.mode DISABLE", w.res.Kind, w.res.Namespace, w.res.Name),
						"ISTIO_MUTUAL towards %q but %s %s/%s has no sidecar", r.DestinationRule().Host, w.res.Kind, w.res.Namespace, w.res.Name)
					return true
				}
				return false
			})
		},
	},
	{
		Code: "MSH0403", Name: "AuthorizationNamespaceNotFound", Level: Warning,
		Doc:    "An AuthorizationPolicy's source namespaces name a namespace that does not exist.",
		Inputs: k(config.KindAuthorizationPolicy, config.KindNamespace),
		Run: func(c *Context) {
			if !c.knowsNamespaces() {
				return
			}
			for _, r := range c.Store.List(config.KindAuthorizationPolicy, "") {
				forSources(r.AuthorizationPolicy(), func(p string, s *security.Source) {
					for i, ns := range append(append([]string{}, s.Namespaces...), s.NotNamespaces...) {
						if strings.Contains(ns, "*") || c.namespaceExists(ns) {
							continue
						}
						c.Report(r, field("%s.namespaces[%d]", p, i), "correct the namespace name or create the namespace",
							"namespace %q does not exist", ns)
					}
				})
			}
		},
	},
	{
		Code: "MSH0404", Name: "AuthorizationPrincipalNeverMatches", Level: Warning,
		Doc:    "An AuthorizationPolicy principal is not of the form TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT, or names a missing namespace.",
		Inputs: k(config.KindAuthorizationPolicy, config.KindNamespace),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindAuthorizationPolicy, "") {
				forSources(r.AuthorizationPolicy(), func(p string, s *security.Source) {
					for i, pr := range append(append([]string{}, s.Principals...), s.NotPrincipals...) {
						fp := field("%s.principals[%d]", p, i)
						if !validation.PrincipalWellFormed(pr) {
							c.Report(r, fp, "write principals as cluster.local/ns/NAMESPACE/sa/SERVICE_ACCOUNT",
								"principal %q never matches a workload identity", pr)
							continue
						}
						parts := strings.Split(pr, "/")
						if len(parts) == 5 && c.knowsNamespaces() && !strings.Contains(parts[2], "*") && !c.namespaceExists(parts[2]) {
							c.Report(r, fp, "correct the namespace in the principal",
								"principal %q never matches: namespace %q does not exist", pr, parts[2])
						}
					}
				})
			}
		},
	},
	{
		Code: "MSH0405", Name: "PolicySelectorMatchesNothing", Level: Warning,
		Doc:    "An AuthorizationPolicy, PeerAuthentication or RequestAuthentication selector matches no workload in its namespace.",
		Inputs: securityInputs,
		Run: func(c *Context) {
			for _, kind := range []config.Kind{config.KindAuthorizationPolicy, config.KindPeerAuthentication, config.KindRequestAuthentication} {
				for _, r := range c.Store.List(kind, "") {
					h, ok := r.Spec.(selectorHolder)
					if !ok || h.GetSelector() == nil || len(h.GetSelector().MatchLabels) == 0 || !c.hasWorkloads(r.Namespace) {
						continue
					}
					sel := h.GetSelector().MatchLabels
					if r.Namespace == c.opts.RootNamespace {
						if len(c.matching("", sel)) > 0 {
							continue
						}
					} else if len(c.matching(r.Namespace, sel)) > 0 {
						continue
					}
					c.ReportLevel(c.selectorLevel(), r, "spec.selector", "fix the labels to match the pods it should protect",
						"%s selector %q matches no workload in namespace %s%s", kind, selectorString(sel), r.Namespace, c.noWorkloadNote())
				}
			}
		},
	},
	{
		Code: "MSH0406", Name: "MultipleNamespacePeerAuthentications", Level: Error,
		Doc:    "A namespace has more than one PeerAuthentication without selector; which one applies is undefined.",
		Inputs: k(config.KindPeerAuthentication),
		Run: func(c *Context) {
			byNS := map[string][]*config.Resource{}
			var nss []string
			for _, r := range c.Store.List(config.KindPeerAuthentication, "") {
				pa := r.PeerAuthentication()
				if pa.Selector != nil && len(pa.Selector.MatchLabels) > 0 {
					continue
				}
				if len(byNS[r.Namespace]) == 0 {
					nss = append(nss, r.Namespace)
				}
				byNS[r.Namespace] = append(byNS[r.Namespace], r)
			}
			for _, ns := range nss {
				rs := byNS[ns]
				if len(rs) < 2 {
					continue
				}
				for _, r := range rs[1:] {
					c.Report(r, "metadata.name", "keep one namespace-wide PeerAuthentication and delete the others",
						"namespace %s already has the namespace-wide PeerAuthentication %s", ns, rs[0].Name)
				}
			}
		},
	},
	{
		Code: "MSH0407", Name: "IneffectivePolicy", Level: Warning,
		Doc:    "A Sidecar, AuthorizationPolicy, PeerAuthentication or RequestAuthentication selects only workloads known to run without a sidecar; the sidecar is what applies it, so it has no effect.",
		Inputs: kinds(k(config.KindSidecar, config.KindAuthorizationPolicy, config.KindPeerAuthentication, config.KindRequestAuthentication, config.KindNamespace), workloadKinds),
		Run: func(c *Context) {
			for _, kind := range []config.Kind{config.KindSidecar, config.KindAuthorizationPolicy, config.KindPeerAuthentication, config.KindRequestAuthentication} {
				for _, r := range c.Store.List(kind, "") {
					sel := policySelector(r)
					if len(sel) == 0 && r.Namespace == c.opts.RootNamespace {
						continue // mesh-wide: applies wherever there is a sidecar
					}
					ns := r.Namespace
					if r.Namespace == c.opts.RootNamespace {
						ns = ""
					}
					ws := c.workloads(ns)
					if len(sel) > 0 {
						ws = c.matching(ns, sel)
					}
					if len(ws) == 0 {
						continue // selects nothing: MSH0405, MSH0501
					}
					var without *workload
					for i, w := range ws {
						if has, known := c.hasProxy(w); has || !known {
							without = nil
							break
						}
						if without == nil {
							without = &ws[i]
						}
					}
					if without == nil {
						continue
					}
					what := "the workloads of namespace " + r.Namespace
					if len(sel) > 0 {
						what = fmt.Sprintf("the workloads it selects (%s)", selectorString(sel))
					}
					c.Report(r, "spec", fmt.Sprintf("inject a sidecar into the workloads (label namespace %s %s=enabled and restart them), or delete the %s", without.res.Namespace, vocab.NamespaceLabelInjection, kind),
						"%s has no effect: %s run without a sidecar (%s %s/%s), and the sidecar is what applies it", kind, what, without.res.Kind, without.res.Namespace, without.res.Name)
				}
			}
		},
	},
}

func forSources(ap *security.AuthorizationPolicy, fn func(path string, s *security.Source)) {
	for i, rule := range ap.Rules {
		for j, f := range rule.From {
			if f.Source != nil {
				fn(field("spec.rules[%d].from[%d].source", i, j), f.Source)
			}
		}
	}
}

// policySelector is the pod labels a policy or Sidecar selects by; empty
// for the whole namespace.
func policySelector(r *config.Resource) map[string]string {
	if r.Kind == config.KindSidecar {
		return r.Sidecar().GetWorkloadSelector().GetLabels()
	}
	if h, ok := r.Spec.(selectorHolder); ok {
		return h.GetSelector().GetMatchLabels()
	}
	return nil
}
