package translate

import (
	"sort"
	"sync"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// HostPart is what one service host means for the clients of one
// namespace: its route tables and clusters, and the problems met building
// them. It depends only on the host's services, the VirtualServices and
// DestinationRules of the host and the hosts its routes lead to, so an
// Index derived with Next shares the parts no change touched (the same
// *HostPart): a caller may cache anything it derives from a part by its
// identity.
type HostPart struct {
	Host        string
	RouteTables []*ir.RouteTable
	Clusters    []*ir.Cluster
	Problems    []ir.Problem
	// deps are the hosts its routes resolved destinations to (or tried to).
	deps []string
	// sourceDependent parts have routes that match on the client's labels
	// or namespace: workload views translate them again for the workload.
	sourceDependent bool
}

// ServersPart is what the pods of one namespace serve (ir.Config.Servers),
// shared by Indexes derived with Next until a Pod, Service,
// PeerAuthentication or AuthorizationPolicy of the namespace (or a
// mesh-wide policy) changes.
type ServersPart struct {
	Servers []*ir.Inbound
}

// Servers returns the servers part of namespace ns. Safe for concurrent use.
func (x *Index) Servers(ns string) *ServersPart {
	x.partsMu.Lock()
	sp := x.servers[ns]
	x.partsMu.Unlock()
	if sp != nil {
		return sp
	}
	b := &builder{x: x, view: View{Namespace: ns}, out: &ir.Config{Namespace: ns}, clusters: map[string]*ir.Cluster{}, drCache: map[string]*config.DestinationRuleView{}}
	sp = &ServersPart{Servers: b.servers(ns)}
	x.partsMu.Lock()
	defer x.partsMu.Unlock()
	if q := x.servers[ns]; q != nil {
		return q
	}
	x.servers[ns] = sp
	return sp
}

// nsParts are the parts of the hosts for one namespace, built on demand.
type nsParts struct {
	mu     sync.Mutex
	byHost map[string]*HostPart
}

func (x *Index) nsParts(ns string) *nsParts {
	x.partsMu.Lock()
	defer x.partsMu.Unlock()
	p := x.parts[ns]
	if p == nil {
		p = &nsParts{byHost: map[string]*HostPart{}}
		x.parts[ns] = p
	}
	return p
}

// HostParts returns the parts of every host visible from namespace ns that
// has anything in it, sorted by host. Safe for concurrent use.
func (x *Index) HostParts(ns string) []*HostPart {
	np := x.nsParts(ns)
	out := make([]*HostPart, 0, len(x.hosts))
	for _, h := range x.hosts {
		np.mu.Lock()
		p, ok := np.byHost[h]
		np.mu.Unlock()
		if !ok {
			p = x.buildPart(ns, h, nil)
			np.mu.Lock()
			if q, ok := np.byHost[h]; ok {
				p = q // built concurrently: keep one identity
			} else {
				np.byHost[h] = p
			}
			np.mu.Unlock()
		}
		if len(p.RouteTables)+len(p.Clusters)+len(p.Problems) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// services returns what is registered under host (exact, or a wildcard
// host as registered).
func (x *Index) services(host string) []*config.Service {
	if config.IsWildcard(host) {
		return x.reg.Lookup(host, "")
	}
	return x.reg.Service(host)
}

func (x *Index) buildPart(ns, host string, source map[string]string) *HostPart {
	b := &builder{x: x, view: View{Namespace: ns}, out: &ir.Config{Namespace: ns}, clusters: map[string]*ir.Cluster{}, drCache: map[string]*config.DestinationRuleView{}, source: source}
	part := &HostPart{Host: host}
	svc := primary(x.services(host))
	if svc == nil || !svc.VisibleFrom(ns) {
		return part
	}
	b.service(svc)
	part.RouteTables = b.out.RouteTables
	sort.Slice(part.RouteTables, func(i, j int) bool { return part.RouteTables[i].Name < part.RouteTables[j].Name })
	for _, c := range b.clusters {
		part.Clusters = append(part.Clusters, c)
	}
	sort.Slice(part.Clusters, func(i, j int) bool { return part.Clusters[i].Name < part.Clusters[j].Name })
	part.Problems, part.deps, part.sourceDependent = b.problems, b.deps, b.sourceDependent
	return part
}

// Next returns the index of in.Store, a snapshot that differs from x's by
// changes (config.Snapshot.ChangesSince). It costs what the changes touch:
// the registry is updated, not rebuilt, and the host parts of every
// namespace are carried over except those of hosts whose services,
// VirtualServices or DestinationRules changed, and those whose routes lead
// to such a host. x stays valid and unchanged.
func (x *Index) Next(in Input, changes config.Changes) *Index {
	if in.DomainSuffix == "" {
		in.DomainSuffix = DefaultDomainSuffix
	}
	n := newIndex(in)
	n.reg = x.reg.Update(n.validated, changes)
	n.index()
	if n.reg.Hosts != x.reg.Hosts {
		return n // host resolution changed: every part is rebuilt on demand
	}
	dirty := map[string]bool{}
	for _, hosts := range [][]string{x.hosts, n.hosts} {
		for _, h := range hosts {
			if !sameServices(x.services(h), n.services(h)) {
				dirty[h] = true
			}
		}
	}
	mark := func(host string) {
		if !config.IsWildcard(host) {
			dirty[host] = true
			return
		}
		for _, h := range n.hosts {
			if config.HostMatches(h, host) {
				dirty[h] = true
			}
		}
		dirty[host] = true
	}
	for _, c := range changes {
		for _, r := range []*config.Resource{c.Old, c.New} {
			if r == nil || !r.Known() {
				continue
			}
			switch c.Key.Kind {
			case config.KindVirtualService:
				for _, h := range r.VirtualService().Hosts {
					mark(n.reg.Hosts.Resolve(h, r.Namespace))
				}
			case config.KindDestinationRule:
				mark(n.reg.Hosts.Resolve(r.DestinationRule().Host, r.Namespace))
			}
		}
	}
	x.partsMu.Lock()
	defer x.partsMu.Unlock()
	inbound := map[string]bool{} // namespaces whose servers change
	for _, c := range changes {
		switch c.Key.Kind {
		case config.KindPod, config.KindService, config.KindPeerAuthentication, config.KindAuthorizationPolicy:
			inbound[c.Key.Namespace] = true
		}
	}
	if !inbound[n.rootNamespace()] {
		for ns, sp := range x.servers {
			if !inbound[ns] {
				n.servers[ns] = sp
			}
		}
	}
	for ns, old := range x.parts {
		if len(dirty) == 0 {
			n.parts[ns] = old // nothing to drop: share it
			continue
		}
		np := &nsParts{byHost: make(map[string]*HostPart, len(old.byHost))}
		old.mu.Lock()
	parts:
		for h, p := range old.byHost {
			if dirty[h] {
				continue
			}
			for _, d := range p.deps {
				if dirty[d] {
					continue parts
				}
			}
			np.byHost[h] = p
		}
		old.mu.Unlock()
		n.parts[ns] = np
	}
	return n
}

func sameServices(a, b []*config.Service) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
