package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func svc(ns, name, gen string) *Resource {
	o := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"gen": gen}}}
	r, err := FromObject(o)
	if err != nil {
		panic(err)
	}
	return r
}

func names(rs []*Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Namespace+"/"+r.Name+"@"+r.Annotations["gen"])
	}
	return out
}

func TestLiveStoreSnapshotsAreImmutable(t *testing.T) {
	l := NewLiveStore()
	s0 := l.Snapshot()
	s1 := l.Put(svc("b", "y", "1"), svc("a", "x", "1"), svc("a", "z", "1"))
	if s1.Version() != 1 || s1.Len() != 3 {
		t.Fatalf("version %d len %d", s1.Version(), s1.Len())
	}
	s2 := l.Apply(Event{Resource: svc("a", "x", "2")}, Event{Key: Key{Kind: KindService, Namespace: "b", Name: "y"}})
	s3 := l.Delete(Key{Kind: KindService, Namespace: "nope", Name: "x"})
	if s3 != s2 || l.Snapshot() != s2 {
		t.Errorf("deleting nothing must not make a new version: %d vs %d", s3.Version(), s2.Version())
	}
	if got, want := names(s1.List(KindService, "")), []string{"a/x@1", "a/z@1", "b/y@1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("old snapshot changed: %v", got)
	}
	if got, want := names(s2.List(KindService, "")), []string{"a/x@2", "a/z@1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("new snapshot: %v, want %v", got, want)
	}
	if s2.Version() != 2 || s0.Len() != 0 || s2.Get(KindService, "b", "y") != nil || s1.Get(KindService, "b", "y") == nil {
		t.Errorf("versions/get wrong")
	}
	if got := s2.Namespaces(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("namespaces %v", got)
	}

	// A caller cannot change the store through List.
	l2 := s2.List(KindService, "a")
	l2[0] = nil
	if s2.List(KindService, "a")[0] == nil {
		t.Error("List handed out the snapshot's own slice")
	}

	ch := s2.ChangesSince(s1)
	var got []string
	for _, c := range ch {
		got = append(got, fmt.Sprintf("%s old=%v new=%v", c.Key, c.Old != nil, c.New != nil))
	}
	want := []string{"Service a/x old=true new=true", "Service b/y old=true new=false"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if k := s1.ChangesSince(nil).Kinds(); !reflect.DeepEqual(k, []Kind{KindService}) {
		t.Errorf("kinds %v", k)
	}
	if len(s2.ChangesSince(s2)) != 0 {
		t.Error("a snapshot differs from itself")
	}

	// Replace is a relist: exactly these objects of the kind remain.
	s4 := l.Replace(KindService, "", []*Resource{svc("c", "w", "1"), s2.Get(KindService, "a", "z")})
	if got := names(s4.List(KindService, "")); !reflect.DeepEqual(got, []string{"a/z@1", "c/w@1"}) {
		t.Errorf("after replace %v", got)
	}
	if ch := s4.ChangesSince(s2); len(ch) != 2 || ch[0].Key.Name != "x" || ch[1].Key.Name != "w" {
		t.Errorf("replace changes %v", ch)
	}
}

func TestLiveStoreSubscribeCoalesces(t *testing.T) {
	l := NewLiveStore()
	sig, cancel := l.Subscribe()
	defer cancel()
	l.Put(svc("a", "x", "1"))
	l.Put(svc("a", "y", "1"))
	<-sig
	select {
	case <-sig:
		t.Error("two changes gave two signals; they should coalesce")
	default:
	}
	if l.Snapshot().Len() != 2 {
		t.Error("the signal came before the snapshot")
	}
}

// fingerprint is the content of a snapshot as one string.
func fingerprint(s *Snapshot) string {
	h := sha256.New()
	for _, r := range s.All() {
		fmt.Fprintf(h, "%s@%s;", r.Key(), r.Annotations["gen"])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestLiveStoreConcurrent drives the store with concurrent writers and
// snapshot readers (run it with -race). Every writer logs the events of each
// version it made; afterwards the log is replayed in version order, and
// every snapshot a reader saw must hold exactly the content of its version.
func TestLiveStoreConcurrent(t *testing.T) {
	l := NewLiveStore()
	type logged struct{ events []Event }
	var mu sync.Mutex
	log := map[uint64]logged{}
	type seen struct {
		version uint64
		fp      string
	}
	var seenMu sync.Mutex
	var observations []seen

	const writers, readers, steps = 4, 4, 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ns := "ns" + strconv.Itoa(w)
			for i := 0; i < steps; i++ {
				name := "s" + strconv.Itoa(i%7)
				var evs []Event
				if i%5 == 4 {
					evs = []Event{{Key: Key{Kind: KindService, Namespace: ns, Name: name}}}
				} else {
					// Two objects changed as one event: readers must see both or neither.
					gen := strconv.Itoa(i)
					evs = []Event{{Resource: svc(ns, name, gen)}, {Resource: svc("shared", ns+"-"+name, gen)}}
				}
				before := l.Snapshot()
				s := l.Apply(evs...)
				if s != before || s.Version() != before.Version() {
					mu.Lock()
					if _, dup := log[s.Version()]; dup {
						t.Errorf("version %d made twice", s.Version())
					}
					log[s.Version()] = logged{evs}
					mu.Unlock()
				}
			}
		}(w)
	}
	var rwg sync.WaitGroup
	for r := 0; r < readers; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				s := l.Snapshot()
				if s.Version() < last {
					t.Errorf("version went back from %d to %d", last, s.Version())
				}
				last = s.Version()
				fp := fingerprint(s)
				// Reading twice gives the same content: nothing changes under a reader.
				if again := fingerprint(s); again != fp {
					t.Errorf("snapshot %d changed while read", s.Version())
				}
				if n := len(s.All()); n != s.Len() {
					t.Errorf("snapshot %d: Len %d, All %d", s.Version(), s.Len(), n)
				}
				seenMu.Lock()
				observations = append(observations, seen{s.Version(), fp})
				seenMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()

	// Replay, recording the fingerprint of every version.
	final := l.Snapshot().Version()
	model := map[Key]*Resource{}
	want := map[uint64]string{0: fingerprint(NewSnapshot(nil))}
	for v := uint64(1); v <= final; v++ {
		e, ok := log[v]
		if !ok {
			t.Fatalf("version %d missing from the writers' log (final %d)", v, final)
		}
		for _, ev := range e.events {
			if ev.Resource != nil {
				model[ev.Resource.Key()] = ev.Resource
			} else {
				delete(model, ev.Key)
			}
		}
		rs := make([]*Resource, 0, len(model))
		for _, r := range model {
			rs = append(rs, r)
		}
		want[v] = fingerprint(NewSnapshot(rs))
	}
	if len(observations) == 0 {
		t.Fatal("readers saw nothing")
	}
	versions := map[uint64]bool{}
	for _, o := range observations {
		versions[o.version] = true
		if want[o.version] != o.fp {
			t.Fatalf("snapshot version %d does not hold the content of its version", o.version)
		}
	}
	if got := fingerprint(l.Snapshot()); got != want[final] {
		t.Errorf("final content differs from the replayed log")
	}
	t.Logf("%d versions, readers saw %d distinct ones in %d reads", final, len(versions), len(observations))
}

func TestFromObjectCoversTheKindTable(t *testing.T) {
	for _, info := range Kinds() {
		obj := info.NewObject()
		m := objectMeta(obj)
		m.Name, m.Namespace = "n", "ns"
		r, err := FromObject(obj)
		if err != nil {
			t.Errorf("%s: %v", info.Kind, err)
			continue
		}
		if r.Kind != info.Kind || r.Name != "n" || r.APIVersion != info.GroupVersion() || r.Origin.Source != SourceCluster {
			t.Errorf("%s: got %+v", info.Kind, r)
		}
		if got, want := reflect.TypeOf(r.Spec), reflect.TypeOf(info.newSpec()); got != want {
			t.Errorf("%s: spec %v, parsing makes %v", info.Kind, got, want)
		}
		k, err := KeyOf(cache.DeletedFinalStateUnknown{Key: "ns/n", Obj: obj})
		if err != nil || k != r.Key() {
			t.Errorf("%s: KeyOf tombstone = %v, %v", info.Kind, k, err)
		}
	}
	if _, err := FromObject(&corev1.PodList{}); err == nil {
		t.Error("a list is not a modelled kind")
	}
	if _, err := FromObject((*corev1.Pod)(nil)); err == nil {
		t.Error("nil pod accepted")
	}
}
