package config

import (
	"sync"
)

// Store collects resources from files and the cluster for one command run
// (analyze, config diff, get). Objects from files override objects from the
// cluster with the same identity whatever the order in which they are added,
// so that loading the cluster and then files answers "what happens if I apply
// these?". Reads go through a Snapshot of the current content, built on the
// first read after an Add; Store is safe for concurrent reads, but Add must
// not race with anything.
type Store struct {
	byKey      map[Key]*Resource
	duplicates []*Resource

	mu   sync.Mutex
	snap *Snapshot // nil after an Add
}

var _ Reader = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{byKey: map[Key]*Resource{}}
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
	}
	s.byKey[k] = r
	s.mu.Lock()
	s.snap = nil
	s.mu.Unlock()
}

// Snapshot returns the store's content as an immutable Snapshot.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		rs := make([]*Resource, 0, len(s.byKey))
		for _, r := range s.byKey {
			rs = append(rs, r)
		}
		s.snap = buildSnapshot(rs, 0)
	}
	return s.snap
}

// Get returns the object with the identity, or nil.
func (s *Store) Get(kind Kind, namespace, name string) *Resource {
	return s.byKey[Key{Kind: kind, Namespace: namespace, Name: name}]
}

// List returns the objects of kind in namespace ("" for all namespaces, and
// for cluster-scoped kinds), sorted by namespace and name, in a new slice.
func (s *Store) List(kind Kind, namespace string) []*Resource {
	return s.Snapshot().List(kind, namespace)
}

// Kinds returns the kinds that have at least one object, sorted.
func (s *Store) Kinds() []Kind { return s.Snapshot().Kinds() }

// All returns every object, sorted by kind, namespace and name.
func (s *Store) All() []*Resource { return s.Snapshot().All() }

// Len is the number of objects.
func (s *Store) Len() int { return len(s.byKey) }

// Namespaces returns every namespace that holds an object or exists as a
// Namespace object, sorted.
func (s *Store) Namespaces() []string { return s.Snapshot().Namespaces() }

// Duplicates returns objects that were replaced by another object of the
// same identity from the same kind of source (two files defining one object).
func (s *Store) Duplicates() []*Resource { return append([]*Resource(nil), s.duplicates...) }
