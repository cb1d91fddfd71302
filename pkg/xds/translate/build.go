// Package translate is the first stage of the xDS pipeline: a consistent
// config snapshot becomes the ir.Config of one view (the clients of one
// namespace, one sidecar, one gateway). It is a pure function: same snapshot,
// same view, same output, which testdata/server goldens pin down.
package translate

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// DefaultDomainSuffix is the cluster's DNS domain.
const DefaultDomainSuffix = vocab.DefaultDNSDomain

// Reader is the read side of a config snapshot (a config.Store, or a
// snapshot of the live store).
type Reader = config.Reader

// Input is what a translation reads.
type Input struct {
	Store        Reader
	DomainSuffix string
	// Validate rejects objects that validation would reject; such an object
	// is left out and reported as a Problem. Nil accepts everything.
	Validate func(*config.Resource) error
	// LastValid, if set, returns the last version of an object that passed
	// Validate; a rejected update is then replaced by it, so clients keep
	// what they had instead of losing the object's routes.
	LastValid func(config.Key) *config.Resource
	// RootNamespace holds mesh-wide policies (PeerAuthentication,
	// AuthorizationPolicy); the mesh namespace.
	RootNamespace string
	// TrustDomain of workload identities (vocab.DefaultTrustDomain if
	// empty): ISTIO_MUTUAL clusters expect the SPIFFE ids of the
	// destination's service accounts in it.
	TrustDomain string
	// TrustDomainAliases are trust domains whose identities count as
	// TrustDomain's (the mesh config's trustDomainAliases, as in Istio): a
	// server is also accepted with the SPIFFE id of a service account in
	// one of them, so that a mesh can move to another trust domain while
	// workloads still hold certificates of the old one.
	TrustDomainAliases []string
}

// View says whose config to build.
type View struct {
	// Namespace of the clients; decides visibility (exportTo, Sidecar).
	Namespace string
	// Workload is the pod name (in Namespace) of a sidecar or gateway
	// proxy; "" for views shared by the clients of a namespace.
	Workload string
	// Gateway builds gateway listeners for the Gateways that select the
	// workload (or Labels), instead of sidecar inbound.
	Gateway bool
	// Labels of the proxy when its pod is not (yet) in the snapshot.
	Labels map[string]string
	// Servers adds what every pod of Namespace serves (ir.Config.Servers),
	// for the shared view of proxyless gRPC apps.
	Servers bool
}

// Index is the part of a translation that does not depend on the view:
// build it once per snapshot and share it between views.
type Index struct {
	in        Input
	validated *validated
	reg       *config.Registry
	// parts caches what each host means for the clients of a namespace.
	partsMu sync.Mutex
	parts   map[string]*nsParts
	servers map[string]*ServersPart
	// hosts are the registered hosts, sorted, each once.
	hosts []string
	vs    []*config.Resource // valid, in the mesh's order: oldest first, then namespace/name
	gw    []*config.Resource
	// problems by object
	problems map[string][]ir.Problem
	rejected map[config.Key]bool
}

// NewIndex prepares a snapshot for translation.
func NewIndex(in Input) *Index {
	if in.DomainSuffix == "" {
		in.DomainSuffix = DefaultDomainSuffix
	}
	x := newIndex(in)
	x.reg = config.NewRegistry(x.validated, config.NewHosts(in.Store, in.DomainSuffix))
	x.index()
	return x
}

// newIndex validates the routing config of a snapshot.
func newIndex(in Input) *Index {
	if in.TrustDomain == "" {
		in.TrustDomain = vocab.DefaultTrustDomain
	}
	x := &Index{in: in, problems: map[string][]ir.Problem{}, rejected: map[config.Key]bool{}, parts: map[string]*nsParts{}, servers: map[string]*ServersPart{}}
	v := &validated{Reader: in.Store, kinds: map[config.Kind][]*config.Resource{}}
	for _, k := range []config.Kind{config.KindVirtualService, config.KindDestinationRule, config.KindGateway} {
		v.kinds[k] = x.valid(k)
	}
	x.validated = v
	return x
}

// index lists what the registry and the routing config hold.
func (x *Index) index() {
	v := x.validated
	x.vs = config.InMeshOrder(v.List(config.KindVirtualService, ""))
	x.gw = config.InMeshOrder(v.List(config.KindGateway, ""))
	seen := map[string]bool{}
	for _, s := range x.reg.Services() {
		if !seen[s.Host] {
			seen[s.Host] = true
			x.hosts = append(x.hosts, s.Host)
		}
	}
	sort.Strings(x.hosts)
}

// Registry is the service registry translation reads.
func (x *Index) Registry() *config.Registry { return x.reg }

// RootNamespace is the namespace of mesh-wide policies the index was built
// with: parts of an index cannot be carried over to another root.
func (x *Index) RootNamespace() string { return x.rootNamespace() }

// TrustDomain is the trust domain of workload identities the index was
// built with.
func (x *Index) TrustDomain() string { return x.in.TrustDomain }

// TrustDomainAliases are the trust domain aliases the index was built with.
func (x *Index) TrustDomainAliases() []string { return x.in.TrustDomainAliases }

// SameMesh reports whether in has the mesh settings x was built with (root
// namespace, trust domain and its aliases, DNS domain): only then can Next
// carry x's parts over; otherwise every part means something else, and
// NewIndex starts afresh.
func (x *Index) SameMesh(in Input) bool {
	return x.rootNamespace() == cmp.Or(in.RootNamespace, vocab.DefaultMeshNamespace) &&
		x.in.TrustDomain == cmp.Or(in.TrustDomain, vocab.DefaultTrustDomain) &&
		slices.Equal(x.in.TrustDomainAliases, in.TrustDomainAliases) &&
		x.in.DomainSuffix == cmp.Or(in.DomainSuffix, DefaultDomainSuffix)
}

func (x *Index) rootNamespace() string {
	if x.in.RootNamespace == "" {
		return vocab.DefaultMeshNamespace
	}
	return x.in.RootNamespace
}

func (x *Index) valid(kind config.Kind) []*config.Resource {
	var out []*config.Resource
	for _, r := range x.in.Store.List(kind, "") {
		if !r.Known() {
			continue
		}
		if x.in.Validate != nil {
			if err := x.in.Validate(r); err != nil {
				x.rejected[r.Key()] = true
				if x.in.LastValid != nil {
					if last := x.in.LastValid(r.Key()); last != nil {
						x.problem(r, "rejected by validation, its last valid version is served: "+err.Error())
						out = append(out, last)
						continue
					}
				}
				x.problem(r, "rejected by validation, left out: "+err.Error())
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func (x *Index) problem(r *config.Resource, msg string) {
	x.problems[r.String()] = append(x.problems[r.String()], ir.Problem{Object: r.String(), Message: msg})
}

// Problems returns every problem met building the index, sorted.
func (x *Index) Problems() []ir.Problem {
	var out []ir.Problem
	for _, ps := range x.problems {
		out = append(out, ps...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Object != out[j].Object {
			return out[i].Object < out[j].Object
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// Hosts returns every registered host.
func (x *Index) Hosts() []string { return x.hosts }

// Build translates the snapshot for one view.
func Build(in Input, v View) *ir.Config { return NewIndex(in).Build(v) }

// Build translates the indexed snapshot for one view: its ViewParts, and
// for a proxy its Workload part.
func (x *Index) Build(v View) *ir.Config {
	out := &ir.Config{Namespace: v.Namespace}
	clusters := map[string]*ir.Cluster{}
	var hostProblems []ir.Problem
	for _, part := range x.ViewParts(v) {
		out.RouteTables = append(out.RouteTables, part.RouteTables...)
		for _, c := range part.Clusters {
			clusters[c.Name] = c
		}
		hostProblems = append(hostProblems, part.Problems...)
	}
	var workloadProblems []ir.Problem
	if w := x.Workload(v); w != nil {
		out.Inbound, out.Gateways, workloadProblems = w.Inbound, w.Gateways, w.Problems
	}
	if v.Servers && v.Workload == "" {
		out.Servers = x.Servers(v.Namespace).Servers
	}
	for _, c := range clusters {
		out.Clusters = append(out.Clusters, c)
	}
	sort.Slice(out.Clusters, func(i, j int) bool { return out.Clusters[i].Name < out.Clusters[j].Name })
	sort.Slice(out.RouteTables, func(i, j int) bool { return out.RouteTables[i].Name < out.RouteTables[j].Name })
	out.Problems = append(append(x.Problems(), hostProblems...), workloadProblems...)
	return out
}

// ViewParts returns the host parts a view's clients receive (Parts), where
// a part whose routes match on the client is translated again for the
// view's workload: that one is the workload's own, every other part is
// shared with the namespace's other views.
func (x *Index) ViewParts(v View) []*HostPart {
	parts := x.Parts(v)
	source := x.workloadLabels(v)
	if source == nil {
		return parts
	}
	out := parts
	for i, part := range parts {
		if part.sourceDependent {
			if &out[0] == &parts[0] {
				out = slices.Clone(parts)
			}
			out[i] = x.buildPart(v.Namespace, part.Host, source)
		}
	}
	return out
}

// WorkloadPart is what a proxy's view holds of its own, beside the host
// parts: a sidecar's inbound, or a gateway's listeners and their routes.
type WorkloadPart struct {
	Inbound  *ir.Inbound
	Gateways []*ir.GatewayListener
	Problems []ir.Problem
}

// Workload translates what belongs to the view's workload alone; nil for a
// view shared by a namespace.
func (x *Index) Workload(v View) *WorkloadPart {
	if v.Workload == "" {
		return nil
	}
	b := &builder{x: x, view: v, out: &ir.Config{Namespace: v.Namespace}, clusters: map[string]*ir.Cluster{}, drCache: map[string]*config.DestinationRuleView{}}
	pod := x.in.Store.Get(config.KindPod, v.Namespace, v.Workload)
	if pod == nil {
		pod = &config.Resource{Kind: config.KindPod}
		pod.Name, pod.Namespace, pod.Labels = v.Workload, v.Namespace, v.Labels
	}
	w := &WorkloadPart{}
	if v.Gateway {
		w.Gateways = b.gateways(pod)
	} else {
		w.Inbound = b.inbound(pod)
	}
	w.Problems = b.problems
	return w
}

type builder struct {
	x        *Index
	view     View
	out      *ir.Config
	clusters map[string]*ir.Cluster
	problems []ir.Problem
	// gateway is "namespace/name" of the Gateway whose routes are being
	// built, "" for the mesh (sidecars and gRPC clients).
	gateway string
	drCache map[string]*config.DestinationRuleView
	// deps are the hosts the routes built so far resolved destinations to.
	deps []string
	// source are the labels of the workload the routes are for (nil for a
	// view shared by a namespace); sourceDependent records that a route
	// match depended on them.
	source          map[string]string
	sourceDependent bool
}

// inContext reports whether a gateways list (of a VirtualService or a match,
// written in namespace ns) covers what is being built.
func (b *builder) inContext(gateways []string, ns string) bool {
	if b.gateway == "" {
		return appliesToMesh(gateways)
	}
	for _, g := range gateways {
		if g == b.gateway || (!strings.Contains(g, "/") && ns+"/"+g == b.gateway) {
			return true
		}
	}
	return false
}

func (b *builder) problem(r *config.Resource, format string, args ...any) {
	b.problems = append(b.problems, ir.Problem{Object: r.String(), Message: fmt.Sprintf(format, args...)})
}

// ClusterName is Istio's outbound cluster name.
func ClusterName(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// service adds the clusters and route tables of one host.
func (b *builder) service(svc *config.Service) {
	dr := b.destinationRule(svc.Host)
	for _, p := range svc.Ports {
		if !routable(svc, p) {
			continue
		}
		proto := protocol(p.Protocol)
		b.addClusters(svc, p, proto, dr)
		if !proto.IsHTTP() {
			if rt := b.tcpTable(svc, p.Number, proto); rt != nil {
				b.out.RouteTables = append(b.out.RouteTables, rt)
			}
			continue
		}
		rt := &ir.RouteTable{
			Name:     ClusterName(p.Number, "", svc.Host),
			Host:     svc.Host,
			Port:     p.Number,
			Protocol: proto,
			Domains:  b.domains(svc, p.Number),
		}
		if vs := b.virtualService(svc.Host); vs != nil {
			rt.Source = vs.String()
			rt.Routes = b.httpRoutes(vs, svc, p.Number)
		}
		if rt.Source == "" {
			rt.Routes = []*ir.Route{defaultRoute(svc, p.Number)}
		}
		b.out.RouteTables = append(b.out.RouteTables, rt)
	}
}

func defaultRoute(svc *config.Service, port uint32) *ir.Route {
	return &ir.Route{
		Name:         "default",
		Destinations: []*ir.Destination{{Cluster: ClusterName(port, "", svc.Host), Weight: 100}},
	}
}

// domains are the authorities a client of the view may use for the host.
func (b *builder) domains(svc *config.Service, port uint32) []string {
	hosts := []string{svc.Host}
	suffix := ".svc." + b.x.in.DomainSuffix
	if strings.HasSuffix(svc.Host, suffix) {
		short := strings.TrimSuffix(svc.Host, suffix) // name.ns
		hosts = append(hosts, short+".svc", short)
		if svc.Namespace == b.view.Namespace {
			hosts = append(hosts, short[:strings.Index(short, ".")])
		}
	}
	var out []string
	for _, h := range hosts {
		out = append(out, h, fmt.Sprintf("%s:%d", h, port))
	}
	return out
}

// virtualService returns the VirtualService that routes host for the mesh in
// the view: an exact host beats a wildcard, then the oldest wins (Istio's
// rule for sidecars).
func (b *builder) virtualService(host string) *config.Resource {
	if vss := b.x.reg.VirtualServices(host, b.view.Namespace, config.MeshGateway); len(vss) > 0 {
		return vss[0]
	}
	return nil
}

// appliesToMesh reports whether a gateways list includes the sidecars.
func appliesToMesh(gateways []string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if g == config.MeshGateway {
			return true
		}
	}
	return false
}

// destinationRule returns what the DestinationRules visible from the view
// say about host (pkg/config's lookup and merge), or nil.
func (b *builder) destinationRule(host string) *config.DestinationRuleView {
	if r, ok := b.drCache[host]; ok {
		return r
	}
	v := b.x.reg.DestinationRule(host, b.view.Namespace)
	b.drCache[host] = v
	return v
}

func (b *builder) addClusters(svc *config.Service, p config.Port, proto ir.Protocol, dr *config.DestinationRuleView) {
	discovery := "EDS"
	switch svc.Resolution {
	case networking.ServiceEntry_DNS.String(), networking.ServiceEntry_DNS_ROUND_ROBIN.String():
		discovery = "DNS"
	case networking.ServiceEntry_NONE.String():
		discovery = "Passthrough"
	}
	// The identities behind the port, computed once for every subset: what
	// mesh mTLS checks of the server, whether a DestinationRule asks for it
	// (ISTIO_MUTUAL) or the client chooses it (auto mTLS).
	var ids []string
	idsDone := false
	identities := func() []string {
		if !idsDone {
			ids, idsDone = b.serviceIdentities(svc, p.Number), true
		}
		return ids
	}
	mk := func(subset string, labels map[string]string, policy *ir.Policy) {
		policy = defaultSANs(policy, identities)
		c := &ir.Cluster{
			Name:      ClusterName(p.Number, subset, svc.Host),
			Host:      svc.Host,
			Port:      p.Number,
			Subset:    subset,
			Protocol:  proto,
			Discovery: discovery,
			Policy:    policy,
			Endpoints: []ir.Endpoint{},
		}
		if dr != nil {
			c.Source = dr.Rules[0].String()
		}
		for _, e := range svc.EndpointsFor(p.Number, labels) {
			w := e.Weight
			if w == 0 {
				w = 1
			}
			c.Endpoints = append(c.Endpoints, ir.Endpoint{
				Address:  e.Address,
				Port:     e.Port,
				Weight:   w,
				Workload: workloadName(e.Workload),
				Locality: e.Locality,
				MTLS:     e.Labels[vocab.LabelTLSMode] == vocab.TLSModeIstio,
			})
		}
		sortEndpoints(c.Endpoints)
		if policy == nil || policy.TLS == nil {
			for _, e := range c.Endpoints {
				if e.MTLS {
					c.AutoMTLSSubjectAltNames = identities()
					break
				}
			}
		}
		b.clusters[c.Name] = c
	}
	var tp *networking.TrafficPolicy
	var subsets []*networking.Subset
	if dr != nil {
		tp, subsets = dr.TrafficPolicy, dr.Subsets
	}
	mk("", nil, policyFor(tp, p.Number, svc.Host))
	for _, s := range subsets {
		if s.Name == "" {
			continue
		}
		pol := policyFor(tp, p.Number, svc.Host)
		if s.TrafficPolicy != nil {
			pol = mergePolicy(pol, policyFor(s.TrafficPolicy, p.Number, svc.Host))
		}
		mk(s.Name, s.Labels, pol)
	}
}

// defaultSANs gives an ISTIO_MUTUAL policy without subjectAltNames Istio's
// default: the identities behind the service port (serviceIdentities).
func defaultSANs(pol *ir.Policy, identities func() []string) *ir.Policy {
	if pol == nil || pol.TLS == nil || pol.TLS.Mode != "ISTIO_MUTUAL" || len(pol.TLS.SubjectAltNames) > 0 {
		return pol
	}
	sans := identities()
	if len(sans) == 0 {
		return pol
	}
	out, tls := *pol, *pol.TLS
	tls.SubjectAltNames = sans
	out.TLS = &tls
	return &out
}

// serviceIdentities are the SPIFFE ids of the service accounts behind a
// service port (every subset's), in the trust domain and its aliases, sorted: mesh mTLS to the service accepts a
// server holding one of them, not just any workload of the mesh, as in
// Istio. Without endpoints there is nothing to expect, and no check.
func (b *builder) serviceIdentities(svc *config.Service, port uint32) []string {
	seen := map[string]bool{}
	var sans []string
	for _, e := range svc.EndpointsFor(port, nil) {
		if e.ServiceAccount == "" || seen[e.ServiceAccount] {
			continue
		}
		seen[e.ServiceAccount] = true
		ns := svc.Namespace
		if e.Workload != nil {
			ns = e.Workload.Namespace
		}
		for _, td := range append([]string{b.x.in.TrustDomain}, b.x.in.TrustDomainAliases...) {
			if id := fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", td, ns, e.ServiceAccount); !slices.Contains(sans, id) {
				sans = append(sans, id)
			}
		}
	}
	sort.Strings(sans)
	return sans
}
