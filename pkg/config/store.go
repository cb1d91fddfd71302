package config

import (
	"sort"
	"sync"
)

// Store indexes resources by kind, namespace and name. It is safe for
// concurrent reads once filled; Add must not race with reads.
type Store struct {
	byKey      map[Key]*Resource
	byKind     map[Kind]map[string][]*Resource // kind → namespace → objects
	duplicates []*Resource

	mu     sync.Mutex
	sorted map[Kind]bool
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{byKey: map[Key]*Resource{}, byKind: map[Kind]map[string][]*Resource{}, sorted: map[Kind]bool{}}
}

// NewStoreFrom returns a store holding rs, added in order.
func NewStoreFrom(rs ...[]*Resource) *Store {
	s := NewStore()
	for _, l := range rs {
		for _, r := range l {
			s.Add(r)
		}
	}
	return s
}

// Add puts r in the store. An object from a file replaces an object from the
// cluster with the same identity, and is never replaced by one; otherwise the
// last added wins and the replaced object is kept in Duplicates.
func (s *Store) Add(r *Resource) {
	k := r.Key()
	if old, ok := s.byKey[k]; ok {
		if old.Origin.FromFile() && !r.Origin.FromFile() {
			return
		}
		if old.Origin.FromFile() == r.Origin.FromFile() {
			s.duplicates = append(s.duplicates, old)
		}
		s.remove(old)
	}
	s.byKey[k] = r
	ns := s.byKind[r.Kind]
	if ns == nil {
		ns = map[string][]*Resource{}
		s.byKind[r.Kind] = ns
	}
	ns[r.Namespace] = append(ns[r.Namespace], r)
	s.mu.Lock()
	s.sorted[r.Kind] = false
	s.mu.Unlock()
}

func (s *Store) remove(old *Resource) {
	list := s.byKind[old.Kind][old.Namespace]
	for i, x := range list {
		if x == old {
			s.byKind[old.Kind][old.Namespace] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// Get returns the object with the identity, or nil.
func (s *Store) Get(kind Kind, namespace, name string) *Resource {
	return s.byKey[Key{Kind: kind, Namespace: namespace, Name: name}]
}

// List returns the objects of kind in namespace ("" for all namespaces, and
// for cluster-scoped kinds), sorted by namespace and name.
func (s *Store) List(kind Kind, namespace string) []*Resource {
	s.sortKind(kind)
	byNS := s.byKind[kind]
	if namespace != "" {
		return byNS[namespace]
	}
	nss := make([]string, 0, len(byNS))
	n := 0
	for ns, l := range byNS {
		nss = append(nss, ns)
		n += len(l)
	}
	sort.Strings(nss)
	out := make([]*Resource, 0, n)
	for _, ns := range nss {
		out = append(out, byNS[ns]...)
	}
	return out
}

func (s *Store) sortKind(kind Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sorted[kind] {
		return
	}
	for _, l := range s.byKind[kind] {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	s.sorted[kind] = true
}

// Kinds returns the kinds that have at least one object, sorted.
func (s *Store) Kinds() []Kind {
	var out []Kind
	for k, byNS := range s.byKind {
		for _, l := range byNS {
			if len(l) > 0 {
				out = append(out, k)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// All returns every object, sorted by kind, namespace and name.
func (s *Store) All() []*Resource {
	var out []*Resource
	for _, k := range s.Kinds() {
		out = append(out, s.List(k, "")...)
	}
	return out
}

// Len is the number of objects.
func (s *Store) Len() int { return len(s.byKey) }

// Namespaces returns every namespace that holds an object or exists as a
// Namespace object, sorted.
func (s *Store) Namespaces() []string {
	set := map[string]bool{}
	for _, byNS := range s.byKind {
		for ns, l := range byNS {
			if ns != "" && len(l) > 0 {
				set[ns] = true
			}
		}
	}
	for _, r := range s.List(KindNamespace, "") {
		set[r.Name] = true
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Duplicates returns objects that were replaced by another object of the
// same identity from the same kind of source (two files defining one object).
func (s *Store) Duplicates() []*Resource { return s.duplicates }
