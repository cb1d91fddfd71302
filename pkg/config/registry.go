package config

import (
	"slices"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Protocol is the protocol of a service port as the mesh reads it; "" when
// it must be detected from the traffic.
type Protocol string

// Protocols the mesh recognizes.
const (
	ProtocolHTTP    Protocol = "HTTP"
	ProtocolHTTP2   Protocol = "HTTP2"
	ProtocolHTTPS   Protocol = "HTTPS"
	ProtocolGRPC    Protocol = "GRPC"
	ProtocolGRPCWeb Protocol = "GRPC-Web"
	ProtocolTCP     Protocol = "TCP"
	ProtocolTLS     Protocol = "TLS"
	ProtocolUDP     Protocol = "UDP"
	ProtocolMongo   Protocol = "Mongo"
	ProtocolRedis   Protocol = "Redis"
	ProtocolMySQL   Protocol = "MySQL"
)

var protocolNames = func() map[string]Protocol {
	m := map[string]Protocol{}
	for _, p := range []Protocol{ProtocolHTTP, ProtocolHTTP2, ProtocolHTTPS, ProtocolGRPC, ProtocolGRPCWeb, ProtocolTCP,
		ProtocolTLS, ProtocolUDP, ProtocolMongo, ProtocolRedis, ProtocolMySQL} {
		m[strings.ToLower(string(p))] = p
	}
	// Kubernetes appProtocol values that name a protocol differently.
	m["kubernetes.io/h2c"] = ProtocolHTTP2
	m["kubernetes.io/ws"] = ProtocolHTTP
	m["kubernetes.io/wss"] = ProtocolHTTPS
	return m
}()

// ParseProtocol reads a protocol name case-insensitively; "" if unknown.
func ParseProtocol(s string) Protocol { return protocolNames[strings.ToLower(s)] }

// PortProtocol is the protocol of a Service port: its appProtocol if set
// and known, else the prefix of its name before "-" ("http-api", "grpc"),
// else "" (detected from the traffic).
func PortProtocol(name, appProtocol string) Protocol {
	if p := ParseProtocol(appProtocol); p != "" {
		return p
	}
	prefix, _, _ := strings.Cut(name, "-")
	return ParseProtocol(prefix)
}

// IsHTTP reports whether routes of the protocol are HTTP routes.
func (p Protocol) IsHTTP() bool {
	switch p {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC, ProtocolGRPCWeb:
		return true
	}
	return false
}

// Service is one host the mesh routes to: a Kubernetes Service or one host
// of a ServiceEntry.
type Service struct {
	Host      string // resolved, or a wildcard for a ServiceEntry
	Namespace string
	Resource  *Resource // the Service or ServiceEntry
	Ports     []Port
	// ExportTo as written: empty or "*" everywhere, "." own namespace,
	// "~" nowhere, or namespaces.
	ExportTo     []string
	MeshExternal bool
	// Resolution of a ServiceEntry (STATIC, DNS, …); "" for Services.
	Resolution string
	Endpoints  []*Endpoint
}

// Port is a service port.
type Port struct {
	Number     uint32
	TargetPort uint32 // 0 when it is the Number or named (see Endpoint.Ports)
	Name       string
	Protocol   Protocol
	// RawProtocol is the protocol as written (Kubernetes: TCP/UDP/SCTP).
	RawProtocol string
}

// Endpoint is one instance behind a service.
type Endpoint struct {
	Address string
	// Ports maps service port names to the instance's port.
	Ports  map[string]uint32
	Labels map[string]string
	Ready  bool
	// Workload is the Pod or WorkloadEntry behind the endpoint, if known.
	Workload       *Resource
	ServiceAccount string
	Locality       string
	Network        string
	Weight         uint32
}

// Port returns the service port number, or nil.
func (s *Service) Port(number uint32) *Port {
	for i := range s.Ports {
		if s.Ports[i].Number == number {
			return &s.Ports[i]
		}
	}
	return nil
}

// VisibleFrom reports whether config in namespace ns may use the service.
func (s *Service) VisibleFrom(ns string) bool { return visible(s.ExportTo, s.Namespace, ns) }

func visible(exportTo []string, own, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		switch e {
		case "*":
			return true
		case ".":
			if ns == own {
				return true
			}
		case ns:
			return true
		}
	}
	return false
}

// EndpointsFor returns the ready endpoints serving port (a service port
// number) whose labels include subset (nil for all), with the instance port
// for that service port.
func (s *Service) EndpointsFor(port uint32, subset map[string]string) []EndpointPort {
	p := s.Port(port)
	if p == nil {
		return nil
	}
	sel := labels.SelectorFromSet(subset)
	var out []EndpointPort
	for _, e := range s.Endpoints {
		if !e.Ready || (len(subset) > 0 && !sel.Matches(labels.Set(e.Labels))) {
			continue
		}
		target := e.Ports[p.Name]
		if target == 0 {
			target = p.TargetPort
		}
		if target == 0 {
			target = p.Number
		}
		out = append(out, EndpointPort{Endpoint: e, Port: target})
	}
	return out
}

// EndpointPort is an endpoint with the port it serves a service port on.
type EndpointPort struct {
	*Endpoint
	Port uint32
}

// Registry is the services of a set of objects by host, with the routes and
// destination rules that apply to each host. It is built whole from a
// Reader (NewRegistry) and never changes; build a new one from a new
// Snapshot.
type Registry struct {
	Hosts *Hosts

	exact     map[string][]*Service
	wildcards []string // ServiceEntry wildcard hosts, most specific first
	wild      map[string][]*Service
	all       []*Service

	vs, dr hostRefs // VirtualServices and DestinationRules by host
}

// hostRefs indexes config by the host it names, each list in Istio's order.
type hostRefs struct {
	exact map[string][]hostRef
	wild  []hostRef
}

func (h *hostRefs) add(ref hostRef) {
	if IsWildcard(ref.host) {
		h.wild = append(h.wild, ref)
		return
	}
	if h.exact == nil {
		h.exact = map[string][]hostRef{}
	}
	h.exact[ref.host] = append(h.exact[ref.host], ref)
}

// matching returns the refs whose host names host: exact ones first.
func (h *hostRefs) matching(host string) []hostRef {
	out := slices.Clone(h.exact[host])
	for _, ref := range h.wild {
		if HostMatches(host, ref.host) {
			out = append(out, ref)
		}
	}
	return out
}

type hostRef struct {
	host string // resolved
	res  *Resource
}

// NewRegistry builds the registry of r, resolving hosts with hosts (nil:
// NewHosts(r, "")).
func NewRegistry(r Reader, hosts *Hosts) *Registry {
	if hosts == nil {
		hosts = NewHosts(r, "")
	}
	g := &Registry{Hosts: hosts, exact: map[string][]*Service{}, wild: map[string][]*Service{}}
	pods := map[string]*Resource{} // namespace/name
	podsByNS := map[string][]*Resource{}
	for _, p := range r.List(KindPod, "") {
		pods[p.Namespace+"/"+p.Name] = p
		podsByNS[p.Namespace] = append(podsByNS[p.Namespace], p)
	}
	slicesBySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, res := range r.List(KindEndpointSlice, "") {
		es := res.EndpointSlice()
		if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
			slicesBySvc[res.Namespace+"/"+name] = append(slicesBySvc[res.Namespace+"/"+name], es)
		}
	}
	for _, res := range r.List(KindService, "") {
		s := serviceOf(res, hosts, slicesBySvc[res.Namespace+"/"+res.Name], func(name string) *Resource { return pods[res.Namespace+"/"+name] },
			func() []*Resource { return podsByNS[res.Namespace] })
		g.add(s.Host, s)
	}
	wes := map[string][]*Resource{}
	for _, we := range r.List(KindWorkloadEntry, "") {
		wes[we.Namespace] = append(wes[we.Namespace], we)
	}
	for _, res := range r.List(KindServiceEntry, "") {
		for _, s := range serviceEntryServices(res, wes[res.Namespace]) {
			g.add(s.Host, s)
		}
	}
	for w := range g.wild {
		g.wildcards = append(g.wildcards, w)
	}
	sort.Slice(g.wildcards, func(i, j int) bool { return MoreSpecific(g.wildcards[i], g.wildcards[j]) })

	g.indexRoutes(r)
	return g
}

// indexRoutes indexes the VirtualServices and DestinationRules of r by host.
func (g *Registry) indexRoutes(r Reader) {
	g.vs, g.dr = hostRefs{}, hostRefs{}
	for _, res := range istioOrder(r.List(KindVirtualService, "")) {
		for _, h := range res.VirtualService().Hosts {
			g.vs.add(hostRef{g.Hosts.Resolve(h, res.Namespace), res})
		}
	}
	for _, res := range istioOrder(r.List(KindDestinationRule, "")) {
		g.dr.add(hostRef{g.Hosts.Resolve(res.DestinationRule().Host, res.Namespace), res})
	}
}

// serviceOf is the service of a Kubernetes Service: endpoints from its
// EndpointSlices (pod returns a pod of its namespace by name), or from the
// pods it selects when it has none (input without EndpointSlices).
func serviceOf(res *Resource, hosts *Hosts, sl []*discoveryv1.EndpointSlice, pod func(name string) *Resource, podsInNS func() []*Resource) *Service {
	k := res.Service()
	s := &Service{Host: hosts.ServiceHost(res.Name, res.Namespace), Namespace: res.Namespace, Resource: res}
	if v := k.Annotations[vocab.AnnotationExportTo]; v != "" {
		for _, e := range strings.Split(v, ",") {
			s.ExportTo = append(s.ExportTo, strings.TrimSpace(e))
		}
	}
	for _, p := range k.Spec.Ports {
		s.Ports = append(s.Ports, Port{Number: uint32(p.Port), TargetPort: uint32(p.TargetPort.IntVal), Name: p.Name,
			Protocol: PortProtocol(p.Name, deref(p.AppProtocol)), RawProtocol: string(p.Protocol)})
	}
	if len(sl) > 0 {
		s.Endpoints = sliceEndpoints(sl, pod)
	} else if len(k.Spec.Selector) > 0 {
		s.Endpoints = podEndpoints(k, podsInNS())
	}
	return s
}

// serviceEntryServices are the services of a ServiceEntry, one per host;
// wes are the WorkloadEntries of its namespace.
func serviceEntryServices(res *Resource, wes []*Resource) []*Service {
	se := res.ServiceEntry()
	var ports []Port
	for _, p := range se.Ports {
		ports = append(ports, Port{Number: p.Number, TargetPort: p.TargetPort, Name: p.Name, Protocol: ParseProtocol(p.Protocol), RawProtocol: p.Protocol})
	}
	eps := seEndpoints(se, wes)
	var out []*Service
	for _, h := range se.Hosts {
		out = append(out, &Service{Host: strings.ToLower(h), Namespace: res.Namespace, Resource: res, Ports: ports,
			ExportTo: se.ExportTo, MeshExternal: se.Location == networking.ServiceEntry_MESH_EXTERNAL,
			Resolution: se.Resolution.String(), Endpoints: eps})
	}
	return out
}

func (g *Registry) add(host string, s *Service) {
	if IsWildcard(host) {
		g.wild[host] = append(g.wild[host], s)
	} else {
		g.exact[host] = append(g.exact[host], s)
	}
	g.all = append(g.all, s)
}

// InMeshOrder sorts config in place, as the mesh applies it when several
// objects apply (oldest first, then by namespace and name), and returns it.
func InMeshOrder(rs []*Resource) []*Resource { return istioOrder(rs) }

// istioOrder sorts config as the mesh applies it when several objects
// apply: oldest first, then by namespace and name.
func istioOrder(rs []*Resource) []*Resource {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].CreationTimestamp, rs[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		if rs[i].Namespace != rs[j].Namespace {
			return rs[i].Namespace < rs[j].Namespace
		}
		return rs[i].Name < rs[j].Name
	})
	return rs
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sliceEndpoints(sl []*discoveryv1.EndpointSlice, pod func(name string) *Resource) []*Endpoint {
	var out []*Endpoint
	for _, es := range sl {
		ports := map[string]uint32{}
		for _, p := range es.Ports {
			if p.Port != nil {
				ports[deref(p.Name)] = uint32(*p.Port)
			}
		}
		for _, e := range es.Endpoints {
			ep := &Endpoint{Ports: ports, Ready: e.Conditions.Ready == nil || *e.Conditions.Ready, Weight: 1}
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				if p := pod(e.TargetRef.Name); p != nil {
					ep.Workload, ep.Labels, ep.ServiceAccount = p, p.Labels, p.Pod().Spec.ServiceAccountName
				}
			}
			if e.Zone != nil {
				ep.Locality = *e.Zone
			}
			for _, a := range e.Addresses {
				x := *ep
				x.Address = a
				out = append(out, &x)
			}
		}
	}
	return out
}

// podEndpoints reads endpoints from the pods a Service selects, for input
// without EndpointSlices (files, or a cluster read without them).
func podEndpoints(svc *corev1.Service, pods []*Resource) []*Endpoint {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*Endpoint
	for _, r := range pods {
		p := r.Pod()
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		ports := map[string]uint32{}
		for _, sp := range svc.Spec.Ports {
			switch {
			case sp.TargetPort.IntVal != 0:
				ports[sp.Name] = uint32(sp.TargetPort.IntVal)
			case sp.TargetPort.StrVal != "":
				for _, c := range p.Spec.Containers {
					for _, cp := range c.Ports {
						if cp.Name == sp.TargetPort.StrVal {
							ports[sp.Name] = uint32(cp.ContainerPort)
						}
					}
				}
			}
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		out = append(out, &Endpoint{Address: p.Status.PodIP, Ports: ports, Labels: p.Labels, Ready: ready && p.Status.PodIP != "",
			Workload: r, ServiceAccount: p.Spec.ServiceAccountName, Weight: 1})
	}
	return out
}

func seEndpoints(se *networking.ServiceEntry, wes []*Resource) []*Endpoint {
	var out []*Endpoint
	add := func(we *networking.WorkloadEntry, res *Resource) {
		w := we.Weight
		if w == 0 {
			w = 1
		}
		out = append(out, &Endpoint{Address: we.Address, Ports: we.Ports, Labels: we.Labels, Ready: true, Workload: res,
			ServiceAccount: we.ServiceAccount, Locality: we.Locality, Network: we.Network, Weight: w})
	}
	for _, we := range se.Endpoints {
		add(we, nil)
	}
	if sel := se.WorkloadSelector.GetLabels(); len(sel) > 0 {
		s := labels.SelectorFromSet(sel)
		for _, r := range wes {
			if we := r.WorkloadEntry(); s.Matches(labels.Set(we.Labels)) {
				add(we, r)
			}
		}
	}
	return out
}

// Services returns every service, Kubernetes Services first, in the order
// of the Reader.
func (g *Registry) Services() []*Service { return slices.Clone(g.all) }

// Any reports whether the registry holds any service at all.
func (g *Registry) Any() bool { return len(g.all) > 0 }

// Service returns the services with exactly the resolved host (several
// when Services and ServiceEntries share it).
func (g *Registry) Service(host string) []*Service { return g.exact[host] }

// Lookup finds what serves host as written in an object of namespace ns:
// the services with that exact name, else those of the most specific
// ServiceEntry wildcard that matches it.
func (g *Registry) Lookup(host, ns string) []*Service {
	h := g.Hosts.Resolve(host, ns)
	if s := g.exact[h]; len(s) > 0 {
		return s
	}
	for _, w := range g.wildcards {
		if HostMatches(h, w) {
			return g.wild[w]
		}
	}
	return nil
}

// LookupVisible is Lookup as the mesh serves config of namespace ns: only
// services exported to ns count (exportTo, or the Service annotation), and
// when none of the exact or most specific wildcard entries is visible, the
// next less specific wildcard is tried. A ServiceEntry for "*" exported only
// to its own namespace thus satisfies no host elsewhere.
func (g *Registry) LookupVisible(host, ns string) []*Service {
	visibleOnly := func(ss []*Service) []*Service {
		var out []*Service
		for _, s := range ss {
			if s.VisibleFrom(ns) {
				out = append(out, s)
			}
		}
		return out
	}
	h := g.Hosts.Resolve(host, ns)
	if s := visibleOnly(g.exact[h]); len(s) > 0 {
		return s
	}
	for _, w := range g.wildcards {
		if HostMatches(h, w) {
			if s := visibleOnly(g.wild[w]); len(s) > 0 {
				return s
			}
		}
	}
	return nil
}

// MeshGateway is the gateway name of sidecars in a VirtualService's gateways.
const MeshGateway = "mesh"

// VirtualServices returns the VirtualServices that route host (resolved)
// for proxies of namespace ns attached to gateway ("mesh" for sidecars,
// "namespace/name" for a Gateway), in the order the mesh applies them:
// those naming the host exactly before wildcards, oldest first. Each
// VirtualService appears once.
func (g *Registry) VirtualServices(host, ns, gateway string) []*Resource {
	var exact, wild []*Resource
	seen := map[*Resource]bool{}
	for _, ref := range g.vs.matching(host) {
		vs := ref.res.VirtualService()
		if seen[ref.res] || !visible(vs.ExportTo, ref.res.Namespace, ns) || !boundTo(vs.Gateways, ref.res.Namespace, gateway) {
			continue
		}
		seen[ref.res] = true
		if ref.host == host {
			exact = append(exact, ref.res)
		} else {
			wild = append(wild, ref.res)
		}
	}
	return append(exact, wild...)
}

// boundTo reports whether a VirtualService of namespace ns with gateways
// applies to gateway.
func boundTo(gateways []string, ns, gateway string) bool {
	if len(gateways) == 0 {
		return gateway == MeshGateway
	}
	for _, gw := range gateways {
		if gw == MeshGateway {
			if gateway == MeshGateway {
				return true
			}
			continue
		}
		gns, name := GatewayRef(gw, ns)
		if gns+"/"+name == gateway {
			return true
		}
	}
	return false
}

// GatewayRef resolves a VirtualService's gateway reference ("name",
// "namespace/name", or the older "name.namespace") written in namespace ns.
func GatewayRef(ref, ns string) (namespace, name string) {
	if i := strings.Index(ref, "/"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if parts := strings.SplitN(ref, ".", 2); len(parts) == 2 {
		return parts[1], parts[0]
	}
	return ns, ref
}

// DestinationRuleView is what DestinationRules say about one host for one
// namespace: the traffic policy of the first rule that applies, and the
// subsets of all of them (the first definition of a name wins).
type DestinationRuleView struct {
	Rules         []*Resource // in the order they were merged
	TrafficPolicy *networking.TrafficPolicy
	Subsets       []*networking.Subset
	// SubsetOrigin gives, for each subset name, the rule that defines it.
	SubsetOrigin map[string]*Resource
}

// Subset returns the subset named name, or nil.
func (v *DestinationRuleView) Subset(name string) *networking.Subset {
	for _, s := range v.Subsets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// DestinationRule merges the DestinationRules that apply to host (resolved)
// for proxies of namespace ns, as the mesh looks them up: rules of ns first,
// then those of the service's namespace, then those of other namespaces
// visible to ns; within each, rules naming
// the host exactly before the most specific wildcard; oldest first. It
// returns nil when no rule applies.
func (g *Registry) DestinationRule(host, ns string) *DestinationRuleView {
	var local, other []hostRef
	for _, ref := range g.dr.matching(host) {
		if !visible(ref.res.DestinationRule().ExportTo, ref.res.Namespace, ns) {
			continue
		}
		if ref.res.Namespace == ns {
			local = append(local, ref)
		} else {
			other = append(other, ref)
		}
	}
	byHost := func(refs []hostRef) {
		sort.SliceStable(refs, func(i, j int) bool {
			a, b := refs[i].host == host, refs[j].host == host
			if a != b {
				return a
			}
			return !a && MoreSpecific(refs[i].host, refs[j].host)
		})
	}
	byHost(local)
	byHost(other)
	// After the proxy's own namespace, the rules of the service's own
	// namespace come before those of any other.
	if own := g.exact[host]; len(own) > 0 {
		sort.SliceStable(other, func(i, j int) bool {
			return other[i].res.Namespace == own[0].Namespace && other[j].res.Namespace != own[0].Namespace
		})
	}
	refs := append(local, other...)
	if len(refs) == 0 {
		return nil
	}
	v := &DestinationRuleView{SubsetOrigin: map[string]*Resource{}}
	for _, ref := range refs {
		dr := ref.res.DestinationRule()
		if v.TrafficPolicy == nil && len(v.Rules) == 0 {
			v.TrafficPolicy = dr.TrafficPolicy
		}
		v.Rules = append(v.Rules, ref.res)
		for _, s := range dr.Subsets {
			if _, dup := v.SubsetOrigin[s.Name]; dup {
				continue
			}
			v.SubsetOrigin[s.Name] = ref.res
			v.Subsets = append(v.Subsets, s)
		}
	}
	return v
}

// ConfigFor returns the VirtualServices and DestinationRules that name
// exactly host (resolved, or a wildcard as written), whatever their
// gateways and visibility, each in the mesh's order: the whole config about
// one host, for tools that compare or show it.
func (g *Registry) ConfigFor(host string) (virtualServices, destinationRules []*Resource) {
	pick := func(h hostRefs) []*Resource {
		refs := h.exact[host]
		if IsWildcard(host) {
			refs = nil
			for _, ref := range h.wild {
				if ref.host == host {
					refs = append(refs, ref)
				}
			}
		}
		var out []*Resource
		for _, ref := range refs {
			if len(out) == 0 || out[len(out)-1] != ref.res {
				out = append(out, ref.res)
			}
		}
		return out
	}
	return pick(g.vs), pick(g.dr)
}

// RoutedHosts returns every resolved host (or wildcard) named by a
// VirtualService or DestinationRule, sorted.
func (g *Registry) RoutedHosts() []string {
	set := map[string]bool{}
	for _, refs := range []hostRefs{g.vs, g.dr} {
		for h := range refs.exact {
			set[h] = true
		}
		for _, ref := range refs.wild {
			set[ref.host] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
