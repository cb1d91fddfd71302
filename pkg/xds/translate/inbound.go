package translate

import (
	"fmt"
	"sort"
	"strconv"

	security "istio.io/api/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// InboundClusterName is Istio's name of the cluster a sidecar forwards
// accepted requests of a port to.
func InboundClusterName(port uint32) string { return fmt.Sprintf("inbound|%d||", port) }

// inbound builds what the sidecar of pod accepts: the target ports of the
// Services that select it, each with its PeerAuthentication mode, and the
// AuthorizationPolicies that apply to it.
func (b *builder) inbound(pod *config.Resource) *ir.Inbound {
	p := pod.Pod()
	in := &ir.Inbound{Workload: pod.Namespace + "/" + pod.Name}
	if p != nil {
		in.Address = p.Status.PodIP
	}
	labels := pod.Labels
	seen := map[uint32]bool{}
	for _, r := range b.x.in.Store.List(config.KindService, pod.Namespace) {
		svc := r.Service()
		if svc == nil || len(svc.Spec.Selector) == 0 || !selects(svc.Spec.Selector, labels) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			port := targetPort(sp.TargetPort, sp.Port, p)
			if port == 0 || seen[port] {
				continue
			}
			seen[port] = true
			in.Ports = append(in.Ports, &ir.InboundPort{
				Port:     port,
				Protocol: protocol(config.PortProtocol(sp.Name, deref(sp.AppProtocol))),
				MTLS:     b.mtlsMode(pod.Namespace, labels, port),
				Cluster:  InboundClusterName(port),
			})
		}
	}
	sort.Slice(in.Ports, func(i, j int) bool { return in.Ports[i].Port < in.Ports[j].Port })
	in.Authorization = b.authorization(pod.Namespace, labels)
	return in
}

// servers is inbound for every pod of ns that has an address and serves a
// port of some Service, by address.
func (b *builder) servers(ns string) []*ir.Inbound {
	var out []*ir.Inbound
	for _, pod := range b.x.in.Store.List(config.KindPod, ns) {
		if p := pod.Pod(); p == nil || p.Status.PodIP == "" {
			continue
		}
		if in := b.inbound(pod); len(in.Ports) > 0 {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Address < out[j].Address || (out[i].Address == out[j].Address && out[i].Workload < out[j].Workload)
	})
	return out
}

func targetPort(tp intstr.IntOrString, port int32, pod *corev1.Pod) uint32 {
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return uint32(tp.IntVal)
	case tp.Type == intstr.String && tp.StrVal != "":
		if pod == nil {
			return 0
		}
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal {
					return uint32(cp.ContainerPort)
				}
			}
		}
		return 0
	}
	return uint32(port)
}

// mtlsMode resolves PeerAuthentication for one workload port: a policy
// selecting the workload (its port-level setting first), then the
// namespace's policy without selector, then the mesh-wide one in the root
// namespace; UNSET defers to the next; the default is PERMISSIVE.
func (b *builder) mtlsMode(ns string, labels map[string]string, port uint32) string {
	var workload, namespace, mesh *security.PeerAuthentication
	for _, r := range b.x.in.Store.List(config.KindPeerAuthentication, ns) {
		pa := r.PeerAuthentication()
		if pa == nil {
			continue
		}
		if sel := pa.Selector; sel != nil && len(sel.MatchLabels) > 0 {
			if workload == nil && selects(sel.MatchLabels, labels) {
				workload = pa
			}
		} else if namespace == nil {
			namespace = pa
		}
	}
	for _, r := range b.x.in.Store.List(config.KindPeerAuthentication, b.x.rootNamespace()) {
		if pa := r.PeerAuthentication(); pa != nil && (pa.Selector == nil || len(pa.Selector.MatchLabels) == 0) {
			mesh = pa
			break
		}
	}
	if workload != nil {
		if pm, ok := workload.PortLevelMtls[port]; ok && pm.Mode != security.PeerAuthentication_MutualTLS_UNSET {
			return pm.Mode.String()
		}
	}
	for _, pa := range []*security.PeerAuthentication{workload, namespace, mesh} {
		if pa != nil && pa.Mtls != nil && pa.Mtls.Mode != security.PeerAuthentication_MutualTLS_UNSET {
			return pa.Mtls.Mode.String()
		}
	}
	return "PERMISSIVE"
}

// authorization returns the ALLOW and DENY policies that apply to a
// workload: the root namespace's and its namespace's, without a selector or
// with one that matches.
func (b *builder) authorization(ns string, labels map[string]string) []*ir.AuthzPolicy {
	var out []*ir.AuthzPolicy
	nss := []string{b.x.rootNamespace()}
	if ns != b.x.rootNamespace() {
		nss = append(nss, ns)
	}
	for _, n := range nss {
		for _, r := range b.x.in.Store.List(config.KindAuthorizationPolicy, n) {
			ap := r.AuthorizationPolicy()
			if ap == nil || (ap.Action != security.AuthorizationPolicy_ALLOW && ap.Action != security.AuthorizationPolicy_DENY) {
				continue
			}
			if sel := ap.Selector; sel != nil && len(sel.MatchLabels) > 0 && !selects(sel.MatchLabels, labels) {
				continue
			}
			pol := &ir.AuthzPolicy{Name: r.Namespace + "/" + r.Name, Action: ap.Action.String(), Rules: []*ir.AuthzRule{}}
			for _, rule := range ap.Rules {
				pol.Rules = append(pol.Rules, authzRule(rule))
			}
			out = append(out, pol)
		}
	}
	return out
}

func authzRule(rule *security.Rule) *ir.AuthzRule {
	ar := &ir.AuthzRule{}
	for _, f := range rule.From {
		s := f.Source
		if s == nil {
			continue
		}
		ar.From = append(ar.From, &ir.AuthzSource{
			Principals: s.Principals, NotPrincipals: s.NotPrincipals,
			Namespaces: s.Namespaces, NotNamespaces: s.NotNamespaces,
			IPBlocks: s.IpBlocks, NotIPBlocks: s.NotIpBlocks,
			RemoteIPBlocks: s.RemoteIpBlocks, NotRemoteIPBlocks: s.NotRemoteIpBlocks,
			RequestPrincipals: s.RequestPrincipals, NotRequestPrincipals: s.NotRequestPrincipals,
		})
	}
	for _, t := range rule.To {
		op := t.Operation
		if op == nil {
			continue
		}
		ar.To = append(ar.To, &ir.AuthzOperation{
			Hosts: op.Hosts, NotHosts: op.NotHosts,
			Methods: op.Methods, NotMethods: op.NotMethods,
			Paths: op.Paths, NotPaths: op.NotPaths,
			Ports: ports(op.Ports), NotPorts: ports(op.NotPorts),
		})
	}
	for _, c := range rule.When {
		ar.When = append(ar.When, &ir.AuthzCondition{Key: c.Key, Values: c.Values, NotValues: c.NotValues})
	}
	return ar
}

// ports reads the ports of an operation; validation has refused the ones
// that are not numbers.
func ports(in []string) []uint32 {
	var out []uint32
	for _, p := range in {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}
