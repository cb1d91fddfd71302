package config

import (
	"maps"
	"slices"
	"sort"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Update returns the registry of r, a Reader whose objects differ from the
// ones g was built from by changes (Snapshot.ChangesSince). g is not
// modified. A service whose objects did not change is the same *Service in
// both registries, so a caller can find what changed by identity. The cost
// is that of the namespaces the changes touch plus a copy of the host
// index, not a rebuild; a change to the set of namespaces (which changes
// how "name.namespace" hosts resolve) rebuilds the registry whole.
func (g *Registry) Update(r Reader, changes Changes) *Registry {
	if len(changes) == 0 {
		return g
	}
	if !g.Hosts.sameNamespaces(r.Namespaces()) {
		return NewRegistry(r, NewHosts(r, g.Hosts.Domain))
	}
	rebuild := map[Key]bool{} // Services and ServiceEntries whose services are rebuilt
	seNamespaces := map[string]bool{}
	routes := false
	for _, c := range changes {
		ns := c.Key.Namespace
		switch c.Key.Kind {
		case KindService, KindServiceEntry:
			rebuild[c.Key] = true
		case KindEndpointSlice:
			for _, res := range []*Resource{c.Old, c.New} {
				if res == nil {
					continue
				}
				if name := res.EndpointSlice().Labels[discoveryv1.LabelServiceName]; name != "" {
					rebuild[Key{Kind: KindService, Namespace: ns, Name: name}] = true
				}
			}
		case KindPod:
			// The Services that select the pod before or after, and any
			// that list it as an endpoint (slices written by hand).
			for _, res := range r.List(KindService, ns) {
				sel := res.Service().Spec.Selector
				if len(sel) == 0 {
					continue
				}
				s := labels.SelectorFromSet(sel)
				for _, p := range []*Resource{c.Old, c.New} {
					if p != nil && s.Matches(labels.Set(p.Labels)) {
						rebuild[res.Key()] = true
					}
				}
			}
			for _, s := range g.all {
				if s.Namespace != ns || s.Resource.Kind != KindService || rebuild[s.Resource.Key()] {
					continue
				}
				for _, e := range s.Endpoints {
					if e.Workload != nil && e.Workload.Kind == KindPod && e.Workload.Name == c.Key.Name {
						rebuild[s.Resource.Key()] = true
						break
					}
				}
			}
		case KindWorkloadEntry:
			seNamespaces[ns] = true
		case KindVirtualService, KindDestinationRule:
			routes = true
		}
	}
	for ns := range seNamespaces {
		for _, res := range r.List(KindServiceEntry, ns) {
			rebuild[res.Key()] = true
		}
	}

	n := &Registry{Hosts: g.Hosts, exact: g.exact, wild: g.wild, vs: g.vs, dr: g.dr, wildcards: g.wildcards}
	old := map[Key][]*Service{}
	for _, s := range g.all {
		old[s.Resource.Key()] = append(old[s.Resource.Key()], s)
	}
	if len(rebuild) > 0 {
		n.exact, n.wild = maps.Clone(g.exact), maps.Clone(g.wild)
		touched := map[string]bool{}
		for k := range rebuild {
			for _, s := range old[k] {
				touched[s.Host] = true
			}
			delete(old, k)
		}
		for k := range rebuild {
			ss := g.servicesOf(r, k)
			old[k] = ss
			for _, s := range ss {
				touched[s.Host] = true
			}
		}
		for h := range touched {
			var list []*Service
			for _, s := range g.hostList(h) {
				if !rebuild[s.Resource.Key()] {
					list = append(list, s)
				}
			}
			n.setHost(h, list)
		}
		for k := range rebuild {
			for _, s := range old[k] {
				n.setHost(s.Host, append(n.hostList(s.Host), s))
			}
		}
		for h := range touched {
			list := n.hostList(h)
			sort.SliceStable(list, func(i, j int) bool { return registryOrder(list[i], list[j]) })
		}
		n.wildcards = n.wildcards[:0:0]
		for w := range n.wild {
			n.wildcards = append(n.wildcards, w)
		}
		sort.Slice(n.wildcards, func(i, j int) bool { return MoreSpecific(n.wildcards[i], n.wildcards[j]) })
	}
	// Services keeps NewRegistry's order: Services, then ServiceEntries,
	// each in the Reader's order.
	n.all = make([]*Service, 0, len(g.all))
	for _, kind := range []Kind{KindService, KindServiceEntry} {
		for _, res := range r.List(kind, "") {
			n.all = append(n.all, old[res.Key()]...)
		}
	}
	if routes {
		n.indexRoutes(r)
	}
	return n
}

// servicesOf builds the services of one Service or ServiceEntry of r (none
// if it is gone).
func (g *Registry) servicesOf(r Reader, k Key) []*Service {
	res := r.Get(k.Kind, k.Namespace, k.Name)
	if res == nil || !res.Known() {
		return nil
	}
	if k.Kind == KindServiceEntry {
		return serviceEntryServices(res, r.List(KindWorkloadEntry, k.Namespace))
	}
	var sl []*discoveryv1.EndpointSlice
	for _, es := range r.List(KindEndpointSlice, k.Namespace) {
		if es.EndpointSlice().Labels[discoveryv1.LabelServiceName] == k.Name {
			sl = append(sl, es.EndpointSlice())
		}
	}
	pod := func(name string) *Resource { return r.Get(KindPod, k.Namespace, name) }
	return []*Service{serviceOf(res, g.Hosts, sl, pod, func() []*Resource { return r.List(KindPod, k.Namespace) })}
}

func (g *Registry) hostList(h string) []*Service {
	if IsWildcard(h) {
		return g.wild[h]
	}
	return g.exact[h]
}

func (g *Registry) setHost(h string, list []*Service) {
	m := g.exact
	if IsWildcard(h) {
		m = g.wild
	}
	if len(list) == 0 {
		delete(m, h)
		return
	}
	m[h] = list
}

// registryOrder is the order of services of one host: Kubernetes Services
// before ServiceEntries, then by namespace and name.
func registryOrder(a, b *Service) bool {
	ka, kb := a.Resource.Kind == KindService, b.Resource.Kind == KindService
	if ka != kb {
		return ka
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Resource.Name < b.Resource.Name
}

// sameNamespaces reports whether nss are exactly the namespaces h knows.
func (h *Hosts) sameNamespaces(nss []string) bool {
	if len(nss) != len(h.namespaces) {
		return false
	}
	return !slices.ContainsFunc(nss, func(ns string) bool { return !h.namespaces[ns] })
}
