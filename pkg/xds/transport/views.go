// Package transport serves xDS resources to clients with go-control-plane's
// ADS server (state of the world and delta). Clients that see the same config
// share a view: one LinearCache per resource type, so that every type, indeed
// every resource, carries its own version (a route change sends no cluster).
// A resource that several views hold (one message) is encoded once for all
// of them and their streams (see encodings). The translation lives
// elsewhere; this package only stores, diffs and sends.
package transport

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"google.golang.org/protobuf/proto"

	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// Populator computes the resources of a view when its first client arrives.
// The generation orders snapshots: a view never goes back to an older one.
type Populator func(ctx context.Context, key string, n Node) (res generate.Resources, generation uint64)

// Views is the go-control-plane cache of the server: it sends each request to
// the view of its node, creating the view on first use.
type Views struct {
	populate Populator
	prefix   string
	logger   log.Logger

	mu    sync.Mutex
	views map[string]*View
	enc   encodings
}

var _ cache.Cache = (*Views)(nil)

// NewViews returns an empty set of views. Versions start with a prefix unique
// to this process, so a client that reconnects after a restart with an old
// version gets everything again.
func NewViews(populate Populator, logger log.Logger) *Views {
	return &Views{populate: populate, prefix: fmt.Sprintf("%x-", time.Now().UnixNano()), logger: logger, views: map[string]*View{}}
}

// View is the resources shared by the clients of one view key.
type View struct {
	Key    string
	Node   Node // the first node of the view, for re-translation
	caches map[string]*cache.LinearCache
	mux    *cache.MuxCache
	enc    *encodings

	mu      sync.Mutex
	current generate.Resources
	// dropped: the view's references to shared encodings are given back.
	dropped bool
	// changed records when each type's latest version was published, for
	// the push latency metric.
	changed map[string]publish
	// versions mirrors each LinearCache's version: it is bumped once per
	// UpdateResources call, and Apply is the only caller.
	versions map[string]uint64
	prefix   string
	gen      uint64
	// filled runs the populator once: a client that comes while another's
	// request fills the view waits for it rather than be answered from
	// the empty caches.
	filled sync.Once
}

type publish struct {
	version string
	at      time.Time
}

func (vs *Views) newView(key string, n Node) *View {
	v := &View{Key: key, Node: n, caches: map[string]*cache.LinearCache{}, enc: &vs.enc, current: generate.Resources{}, changed: map[string]publish{}, versions: map[string]uint64{}, prefix: vs.prefix}
	v.mux = &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return r.GetTypeUrl() },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return r.GetTypeUrl() },
		Caches:        map[string]cache.Cache{},
	}
	for _, t := range generate.Types {
		opts := []cache.LinearCacheOption{cache.WithVersionPrefix(vs.prefix)}
		if vs.logger != nil {
			opts = append(opts, cache.WithLogger(vs.logger))
		}
		c := cache.NewLinearCache(t, opts...)
		v.caches[t] = c
		v.mux.Caches[t] = c
	}
	return v
}

// view returns the view of a node, creating and filling it on first use.
func (vs *Views) view(n *core.Node) *View {
	node := ParseNode(n)
	key := node.ViewKey()
	vs.mu.Lock()
	v, ok := vs.views[key]
	if !ok {
		v = vs.newView(key, node)
		vs.views[key] = v
	}
	vs.mu.Unlock()
	v.filled.Do(func() {
		if vs.populate != nil {
			v.Apply(vs.populate(context.Background(), key, node))
		}
	})
	return v
}

// Ensure returns the view of a node, creating it as a first request would.
func (vs *Views) Ensure(n *core.Node) *View { return vs.view(n) }

// CreateWatch implements cache.ConfigWatcher.
//
// A NACK must not be answered with the response it rejects: a client that
// never accepted anything NACKs with an empty version, which LinearCache
// takes for a first request and answers at once, and the client NACKs again,
// thousands of times a second. Such a request is given a version of this
// process, so the cache compares what it holds with what it sent and answers
// only when something changed.
func (vs *Views) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if req.GetErrorDetail() != nil && !strings.HasPrefix(req.GetVersionInfo(), vs.prefix) {
		req = proto.Clone(req).(*cache.Request)
		req.VersionInfo = vs.prefix + "0"
	}
	return vs.view(req.GetNode()).mux.CreateWatch(req, sub, ch)
}

// CreateDeltaWatch implements cache.ConfigWatcher.
func (vs *Views) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	return vs.view(req.GetNode()).mux.CreateDeltaWatch(req, sub, ch)
}

// Fetch implements cache.ConfigFetcher; REST polling is not served.
func (vs *Views) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, fmt.Errorf("fetching is not supported: use ADS")
}

// Get returns the view with the key, or nil.
func (vs *Views) Get(key string) *View {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.views[key]
}

// All returns every view, sorted by key.
func (vs *Views) All() []*View {
	vs.mu.Lock()
	out := make([]*View, 0, len(vs.views))
	for _, v := range vs.views {
		out = append(out, v)
	}
	vs.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Drop forgets a view (its last client left); the next client rebuilds it.
func (vs *Views) Drop(key string) {
	vs.mu.Lock()
	v := vs.views[key]
	delete(vs.views, key)
	vs.mu.Unlock()
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropped = true
	for _, byName := range v.current {
		for _, m := range byName {
			v.enc.release(m)
		}
	}
}

// Encodings reports on the encodings the views share.
func (vs *Views) Encodings() EncodingStats { return vs.enc.stats() }

// Change is what Apply changed, by type.
type Change struct {
	Updated map[string][]string
	Removed map[string][]string
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Updated) == 0 && len(c.Removed) == 0 }

// Apply makes res the resources of the view. Only resources that differ
// from what the view holds are touched, so clients receive only those.
// Updates are published clusters, endpoints, routes, listeners in that
// order and removals in the reverse order: an ADS stream sends responses in
// the order they are published, so a client has the clusters a new route
// needs before the route, and stops using a route before its cluster goes
// (make-before-break).
//
// A generation older than the one applied last is ignored, and so is
// everything once the view is dropped (no client is left to send it to).
func (v *View) Apply(res generate.Resources, generation uint64) Change {
	v.mu.Lock()
	defer v.mu.Unlock()
	ch := Change{Updated: map[string][]string{}, Removed: map[string][]string{}}
	if generation < v.gen || v.dropped {
		return ch
	}
	v.gen = generation
	if reflect.ValueOf(res).UnsafePointer() == reflect.ValueOf(v.current).UnsafePointer() {
		// The very resources the view holds (resources are never modified
		// once built): a view no change touched costs nothing.
		return ch
	}
	removals := map[string][]string{}
	for _, t := range generate.Types {
		cur, next := v.current[t], res[t]
		upd := map[string]types.Resource{}
		for name, m := range next {
			// Unchanged resources are usually the very same message
			// (translation reuses what no change touched).
			old, ok := cur[name]
			if ok && old == m {
				continue
			}
			// The view references the encodings of what it holds,
			// so that they are shared while some view holds them.
			e := v.enc.acquire(m)
			if ok {
				v.enc.release(old)
				if proto.Equal(old, m) {
					// The cache keeps the old message, and its
					// encoding, which the clients have.
					continue
				}
			}
			upd[name] = e
		}
		for name, m := range cur {
			if _, ok := next[name]; !ok {
				removals[t] = append(removals[t], name)
				v.enc.release(m)
			}
		}
		if len(upd) > 0 {
			names := make([]string, 0, len(upd))
			for n := range upd {
				names = append(names, n)
			}
			sort.Strings(names)
			ch.Updated[t] = names
			// UpdateResources only fails for a nil resource, which
			// generate never produces.
			_ = v.caches[t].UpdateResources(upd, nil)
			v.published(t)
		}
	}
	for i := len(generate.Types) - 1; i >= 0; i-- {
		t := generate.Types[i]
		if names := removals[t]; len(names) > 0 {
			sort.Strings(names)
			ch.Removed[t] = names
			_ = v.caches[t].UpdateResources(nil, names)
			v.published(t)
		}
	}
	v.current = res
	return ch
}

// Resources returns what the view holds now. Callers must not modify it.
func (v *View) Resources() generate.Resources {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.current
}

func (v *View) published(typeURL string) {
	v.versions[typeURL]++
	v.changed[typeURL] = publish{version: v.versionLocked(typeURL), at: time.Now()}
}

func (v *View) versionLocked(typeURL string) string {
	return v.prefix + strconv.FormatUint(v.versions[typeURL], 10)
}

// Version returns the current version of a type in the view.
func (v *View) Version(typeURL string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.versionLocked(typeURL)
}

// publishedAt returns when the version of a type was published.
func (v *View) publishedAt(typeURL, version string) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.changed[typeURL]
	if !ok || p.version != version {
		return time.Time{}, false
	}
	return p.at, true
}
