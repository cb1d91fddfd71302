package config

import (
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// LiveStore is the store of a long-running process: informers (or anything
// else) apply events to it while any number of readers take Snapshots.
// Writers are serialized; readers never wait. Every call that changes
// something publishes a new Snapshot with the next version; a call that
// changes nothing publishes nothing.
//
// Resources put into a LiveStore must not be modified afterwards: snapshots
// share them.
type LiveStore struct {
	mu   sync.Mutex // serializes writers
	cur  atomic.Pointer[Snapshot]
	subs map[chan struct{}]struct{}
}

// NewLiveStore returns an empty live store at version 0.
func NewLiveStore() *LiveStore {
	l := &LiveStore{subs: map[chan struct{}]struct{}{}}
	l.cur.Store(emptySnapshot)
	return l
}

// Snapshot returns the current snapshot. It is immutable: later events
// produce new snapshots and never change this one.
func (l *LiveStore) Snapshot() *Snapshot { return l.cur.Load() }

// Event is one change: Resource set puts (adds or replaces) it, Resource nil
// deletes the object with Key.
type Event struct {
	Key      Key
	Resource *Resource
}

// Apply applies events in order as one change and returns the resulting
// snapshot (one version later, or the same snapshot if nothing changed).
func (l *LiveStore) Apply(events ...Event) *Snapshot {
	return l.update(func(e *edit) {
		for _, ev := range events {
			if ev.Resource != nil {
				e.put(ev.Resource)
			} else {
				e.del(ev.Key)
			}
		}
	})
}

// Put adds or replaces resources as one change.
func (l *LiveStore) Put(rs ...*Resource) *Snapshot {
	return l.update(func(e *edit) {
		for _, r := range rs {
			e.put(r)
		}
	})
}

// Delete removes the objects with the keys as one change; absent keys are
// ignored.
func (l *LiveStore) Delete(keys ...Key) *Snapshot {
	return l.update(func(e *edit) {
		for _, k := range keys {
			e.del(k)
		}
	})
}

// Replace makes rs the objects of kind in namespace ("" for all namespaces)
// as one change, deleting the others: what a relist of an informer means.
func (l *LiveStore) Replace(kind Kind, namespace string, rs []*Resource) *Snapshot {
	return l.update(func(e *edit) {
		keep := make(map[Key]bool, len(rs))
		for _, r := range rs {
			keep[r.Key()] = true
		}
		var gone []Key
		e.next.Range(kind, namespace, func(r *Resource) bool {
			if k := r.Key(); !keep[k] {
				gone = append(gone, k)
			}
			return true
		})
		for _, k := range gone {
			e.del(k)
		}
		for _, r := range rs {
			e.put(r)
		}
	})
}

func (l *LiveStore) update(fn func(*edit)) *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := l.cur.Load()
	e := newEdit(base)
	fn(e)
	if !e.changed {
		return base
	}
	l.cur.Store(e.next)
	for ch := range l.subs {
		select {
		case ch <- struct{}{}:
		default: // a signal is pending already: the reader will see this snapshot too
		}
	}
	return e.next
}

// Subscribe returns a channel that receives a signal after changes; signals
// coalesce (one pending signal stands for any number of changes), so a
// reader takes Snapshot() when it is ready and compares with the last one
// it used (Snapshot.ChangesSince). cancel stops the signals.
func (l *LiveStore) Subscribe() (signal <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// Handler returns informer event handlers that keep the store in step with
// an informer built by ClusterSource.Informer (or any informer of a
// modelled kind). Objects FromObject cannot convert are passed to onError
// (which may be nil) and otherwise ignored.
func (l *LiveStore) Handler(onError func(error)) cache.ResourceEventHandler {
	report := func(err error) {
		if onError != nil {
			onError(err)
		}
	}
	put := func(obj any) {
		ro, ok := obj.(runtime.Object)
		if !ok {
			report(fmt.Errorf("%T is not an API object", obj))
			return
		}
		r, err := FromObject(ro)
		if err != nil {
			report(err)
			return
		}
		l.Put(r)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: put,
		UpdateFunc: func(oldObj, newObj any) {
			// Periodic resyncs redeliver the cached object: nothing changed.
			o, ok1 := oldObj.(interface{ GetResourceVersion() string })
			n, ok2 := newObj.(interface{ GetResourceVersion() string })
			if ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion() && o.GetResourceVersion() != "" {
				return
			}
			put(newObj)
		},
		DeleteFunc: func(obj any) {
			k, err := KeyOf(obj)
			if err != nil {
				report(err)
				return
			}
			l.Delete(k)
		},
	}
}
