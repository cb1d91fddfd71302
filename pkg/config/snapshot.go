package config

import (
	"slices"
	"sort"
	"strings"
)

// Reader is the read side shared by Store (files and cluster, for analyze,
// config diff and get) and Snapshot (the live store, for the server).
// Everything it returns is owned by the caller except the Resources
// themselves, which nobody may modify.
type Reader interface {
	// Get returns the object with the identity, or nil.
	Get(kind Kind, namespace, name string) *Resource
	// List returns the objects of kind in namespace ("" for all namespaces,
	// and for cluster-scoped kinds), sorted by namespace and name, in a
	// slice the caller may keep and modify.
	List(kind Kind, namespace string) []*Resource
	// Kinds returns the kinds that have at least one object, sorted.
	Kinds() []Kind
	// Namespaces returns every namespace that holds an object or exists as
	// a Namespace object, sorted.
	Namespaces() []string
	// Len is the number of objects.
	Len() int
}

// Snapshot is an immutable, versioned view of a set of resources. Two
// snapshots of one LiveStore share every part that did not change between
// them (copy on write per kind and namespace), so taking one costs nothing
// and applying an event costs the size of one namespace of one kind.
type Snapshot struct {
	version uint64
	kinds   map[Kind]*kindIndex
	n       int
}

// kindIndex holds one kind: its namespaces in order, each a bucket.
type kindIndex struct {
	nss []*bucket // sorted by namespace
	n   int
}

// bucket holds the objects of one kind in one namespace, sorted by name.
type bucket struct {
	ns    string
	items []*Resource
}

var _ Reader = (*Snapshot)(nil)

var emptySnapshot = &Snapshot{kinds: map[Kind]*kindIndex{}}

// NewSnapshot returns a snapshot of rs at version 0; of objects with the
// same identity the last one wins.
func NewSnapshot(rs []*Resource) *Snapshot { return buildSnapshot(rs, 0) }

func buildSnapshot(rs []*Resource, version uint64) *Snapshot {
	byKind := map[Kind]map[string][]*Resource{}
	for _, r := range rs {
		m := byKind[r.Kind]
		if m == nil {
			m = map[string][]*Resource{}
			byKind[r.Kind] = m
		}
		m[r.Namespace] = append(m[r.Namespace], r)
	}
	s := &Snapshot{version: version, kinds: make(map[Kind]*kindIndex, len(byKind))}
	for kind, m := range byKind {
		ki := &kindIndex{nss: make([]*bucket, 0, len(m))}
		for ns, items := range m {
			items = sortDedup(items)
			ki.nss = append(ki.nss, &bucket{ns: ns, items: items})
			ki.n += len(items)
		}
		sort.Slice(ki.nss, func(i, j int) bool { return ki.nss[i].ns < ki.nss[j].ns })
		s.kinds[kind] = ki
		s.n += ki.n
	}
	return s
}

// sortDedup sorts by name, keeping the last of equal names.
func sortDedup(items []*Resource) []*Resource {
	sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	out := items[:0]
	for i, r := range items {
		if i+1 < len(items) && items[i+1].Name == r.Name {
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// Version increases by one with every change applied to the LiveStore the
// snapshot comes from; 0 for snapshots built whole.
func (s *Snapshot) Version() uint64 { return s.version }

// Len is the number of objects.
func (s *Snapshot) Len() int { return s.n }

func (ki *kindIndex) find(ns string) (int, bool) {
	return slices.BinarySearchFunc(ki.nss, ns, func(b *bucket, ns string) int { return strings.Compare(b.ns, ns) })
}

func (b *bucket) find(name string) (int, bool) {
	return slices.BinarySearchFunc(b.items, name, func(r *Resource, name string) int { return strings.Compare(r.Name, name) })
}

func (s *Snapshot) bucket(kind Kind, ns string) *bucket {
	ki := s.kinds[kind]
	if ki == nil {
		return nil
	}
	if i, ok := ki.find(ns); ok {
		return ki.nss[i]
	}
	return nil
}

// Get returns the object with the identity, or nil.
func (s *Snapshot) Get(kind Kind, namespace, name string) *Resource {
	b := s.bucket(kind, namespace)
	if b == nil {
		return nil
	}
	if i, ok := b.find(name); ok {
		return b.items[i]
	}
	return nil
}

// List returns the objects of kind in namespace ("" for all namespaces),
// sorted by namespace and name, in a new slice.
func (s *Snapshot) List(kind Kind, namespace string) []*Resource {
	ki := s.kinds[kind]
	if ki == nil {
		return nil
	}
	if namespace != "" {
		if b := s.bucket(kind, namespace); b != nil {
			return slices.Clone(b.items)
		}
		return nil
	}
	out := make([]*Resource, 0, ki.n)
	for _, b := range ki.nss {
		out = append(out, b.items...)
	}
	return out
}

// Range calls fn for the objects of kind in namespace ("" for all) in List
// order, without copying, until fn returns false.
func (s *Snapshot) Range(kind Kind, namespace string, fn func(*Resource) bool) {
	ki := s.kinds[kind]
	if ki == nil {
		return
	}
	for _, b := range ki.nss {
		if namespace != "" && b.ns != namespace {
			continue
		}
		for _, r := range b.items {
			if !fn(r) {
				return
			}
		}
	}
}

// Kinds returns the kinds that have at least one object, sorted.
func (s *Snapshot) Kinds() []Kind {
	out := make([]Kind, 0, len(s.kinds))
	for k, ki := range s.kinds {
		if ki.n > 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// All returns every object, sorted by kind, namespace and name.
func (s *Snapshot) All() []*Resource {
	out := make([]*Resource, 0, s.n)
	for _, k := range s.Kinds() {
		s.Range(k, "", func(r *Resource) bool { out = append(out, r); return true })
	}
	return out
}

// Namespaces returns every namespace that holds an object or exists as a
// Namespace object, sorted.
func (s *Snapshot) Namespaces() []string {
	set := map[string]bool{}
	for _, ki := range s.kinds {
		for _, b := range ki.nss {
			if b.ns != "" {
				set[b.ns] = true
			}
		}
	}
	s.Range(KindNamespace, "", func(r *Resource) bool { set[r.Name] = true; return true })
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Change is one object that differs between two snapshots: Old is nil for
// an added object, New is nil for a deleted one.
type Change struct {
	Key      Key
	Old, New *Resource
}

// Changes lists changed objects sorted by kind, namespace and name.
type Changes []Change

// Kinds returns the kinds that changed, sorted.
func (c Changes) Kinds() []Kind {
	var out []Kind
	for _, ch := range c {
		if len(out) == 0 || out[len(out)-1] != ch.Key.Kind {
			out = append(out, ch.Key.Kind)
		}
	}
	return out
}

// Has reports whether an object of kind changed.
func (c Changes) Has(kind Kind) bool {
	for _, ch := range c {
		if ch.Key.Kind == kind {
			return true
		}
	}
	return false
}

// ChangesSince returns what differs from old to s. Objects are compared by
// identity of their Resource, so the cost is that of the kinds and
// namespaces that changed when both snapshots come from one LiveStore
// (untouched parts are shared and skipped); any two snapshots can be
// compared. A nil old is the empty snapshot.
func (s *Snapshot) ChangesSince(old *Snapshot) Changes {
	if old == nil {
		old = emptySnapshot
	}
	var out Changes
	kinds := map[Kind]bool{}
	for k := range s.kinds {
		kinds[k] = true
	}
	for k := range old.kinds {
		kinds[k] = true
	}
	sorted := make([]Kind, 0, len(kinds))
	for k := range kinds {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		a, b := old.kinds[k], s.kinds[k]
		if a == b {
			continue
		}
		if a == nil {
			a = &kindIndex{}
		}
		if b == nil {
			b = &kindIndex{}
		}
		i, j := 0, 0
		for i < len(a.nss) || j < len(b.nss) {
			switch {
			case j == len(b.nss) || i < len(a.nss) && a.nss[i].ns < b.nss[j].ns:
				out = diffItems(out, k, a.nss[i].ns, a.nss[i].items, nil)
				i++
			case i == len(a.nss) || b.nss[j].ns < a.nss[i].ns:
				out = diffItems(out, k, b.nss[j].ns, nil, b.nss[j].items)
				j++
			default:
				if a.nss[i] != b.nss[j] {
					out = diffItems(out, k, a.nss[i].ns, a.nss[i].items, b.nss[j].items)
				}
				i++
				j++
			}
		}
	}
	return out
}

func diffItems(out Changes, kind Kind, ns string, a, b []*Resource) Changes {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Name < b[j].Name:
			out = append(out, Change{Key: Key{Kind: kind, Namespace: ns, Name: a[i].Name}, Old: a[i]})
			i++
		case i == len(a) || b[j].Name < a[i].Name:
			out = append(out, Change{Key: Key{Kind: kind, Namespace: ns, Name: b[j].Name}, New: b[j]})
			j++
		default:
			if a[i] != b[j] {
				out = append(out, Change{Key: Key{Kind: kind, Namespace: ns, Name: a[i].Name}, Old: a[i], New: b[j]})
			}
			i++
			j++
		}
	}
	return out
}

// edit derives a new snapshot from a base, copying each part it touches
// once: parts it already copied are changed in place.
type edit struct {
	next       *Snapshot
	ownKinds   map[*kindIndex]bool
	ownBuckets map[*bucket]bool
	changed    bool
}

func newEdit(base *Snapshot) *edit {
	next := &Snapshot{version: base.version + 1, n: base.n, kinds: make(map[Kind]*kindIndex, len(base.kinds)+1)}
	for k, ki := range base.kinds {
		next.kinds[k] = ki
	}
	return &edit{next: next, ownKinds: map[*kindIndex]bool{}, ownBuckets: map[*bucket]bool{}}
}

func (e *edit) kind(kind Kind, create bool) *kindIndex {
	ki := e.next.kinds[kind]
	if ki == nil {
		if !create {
			return nil
		}
		ki = &kindIndex{}
	} else if !e.ownKinds[ki] {
		ki = &kindIndex{nss: slices.Clone(ki.nss), n: ki.n}
	} else {
		return ki
	}
	e.ownKinds[ki] = true
	e.next.kinds[kind] = ki
	return ki
}

// put adds or replaces r.
func (e *edit) put(r *Resource) {
	ki := e.kind(r.Kind, true)
	i, ok := ki.find(r.Namespace)
	if !ok {
		b := &bucket{ns: r.Namespace, items: []*Resource{r}}
		e.ownBuckets[b] = true
		ki.nss = slices.Insert(ki.nss, i, b)
		ki.n++
		e.next.n++
		e.changed = true
		return
	}
	b := ki.nss[i]
	j, found := b.find(r.Name)
	if found && b.items[j] == r {
		return
	}
	if !e.ownBuckets[b] {
		extra := 0
		if !found {
			extra = 1
		}
		nb := &bucket{ns: b.ns, items: make([]*Resource, len(b.items), len(b.items)+extra)}
		copy(nb.items, b.items)
		b = nb
		e.ownBuckets[b] = true
		ki.nss[i] = b
	}
	e.changed = true
	if found {
		b.items[j] = r
		return
	}
	b.items = slices.Insert(b.items, j, r)
	ki.n++
	e.next.n++
}

// del removes the object with key k, if any.
func (e *edit) del(k Key) {
	ki := e.next.kinds[k.Kind]
	if ki == nil {
		return
	}
	i, ok := ki.find(k.Namespace)
	if !ok {
		return
	}
	if _, found := ki.nss[i].find(k.Name); !found {
		return
	}
	ki = e.kind(k.Kind, false)
	b := ki.nss[i]
	j, _ := b.find(k.Name)
	e.changed = true
	ki.n--
	e.next.n--
	switch {
	case len(b.items) == 1:
		ki.nss = slices.Delete(ki.nss, i, i+1)
		if ki.n == 0 {
			delete(e.next.kinds, k.Kind)
		}
		return
	case !e.ownBuckets[b]:
		nb := &bucket{ns: b.ns, items: make([]*Resource, 0, len(b.items)-1)}
		nb.items = append(append(nb.items, b.items[:j]...), b.items[j+1:]...)
		e.ownBuckets[nb] = true
		ki.nss[i] = nb
	default:
		b.items = slices.Delete(b.items, j, j+1)
	}
}
