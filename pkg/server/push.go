package server

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/ir"
	"github.com/meshctl/meshctl/pkg/xds/translate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// Pusher turns config snapshots into the resources of every view and
// publishes them. A new snapshot is translated at once (no debounce: a lone
// change goes out as soon as it is translated); snapshots that arrive while a
// translation runs are coalesced into the next one, so a burst costs one
// translation per round, not one per event.
type Pusher struct {
	Views    *transport.Views
	Metrics  *transport.Metrics
	Log      logr.Logger
	Validate func(*config.Resource) error
	// RootNamespace holds mesh-wide policies; "" is translate's default.
	RootNamespace string
	// TrustDomain of workload identities; "" is translate's default.
	TrustDomain string
	// MeshConfig, if set, reads the mesh config's rootNamespace,
	// trustDomain and trustDomainAliases from each snapshot (the mesh
	// ConfigMap is watched): a change re-translates everything with them
	// instead of RootNamespace and TrustDomain, which stay in force until it
	// is first read and while it does not parse.
	MeshConfig func(translate.Reader) (MeshSettings, bool)

	mu       sync.Mutex
	index    *translate.Index
	store    translate.Reader
	pending  translate.Reader
	running  bool
	problems map[string]bool
	idle     *sync.Cond
	gen      uint64 // generation of index
	snap     *config.Snapshot
	// valid holds the last version of each object that passed Validate.
	valid map[config.Key]*config.Resource
	// verdicts caches Validate per object version, generated the gRPC
	// resources per host part; each with the previous round's (…Prev).
	verdicts, verdictsPrev map[*config.Resource]error
	generated, partsPrev   map[*translate.HostPart]generated
	// serverListeners are the gRPC server listeners per namespace part.
	serverListeners, serversPrev map[*translate.ServersPart]generated
	// assembled is the last gRPC view of each namespace.
	assembled map[string]assembly
	// envoy generates the views of Envoy proxies.
	envoy envoyGen
}

// Populate is the transport.Populator: the resources of a new view, from the
// latest snapshot.
func (p *Pusher) Populate(_ context.Context, _ string, n transport.Node) (generate.Resources, uint64) {
	p.mu.Lock()
	x, gen := p.index, p.gen
	p.mu.Unlock()
	if x == nil {
		return generate.Resources{}, 0
	}
	res, _ := p.resources(x, n)
	return res, gen
}

// Ready reports whether a first snapshot has been published.
func (p *Pusher) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.index != nil
}

// Update publishes a new snapshot. It returns once the snapshot (or a newer
// one) is published to every view.
func (p *Pusher) Update(s translate.Reader) {
	p.mu.Lock()
	if p.idle == nil {
		p.idle = sync.NewCond(&p.mu)
	}
	p.pending = s
	if p.running {
		// The running round picks up the pending snapshot when it ends.
		for p.running {
			p.idle.Wait()
		}
		p.mu.Unlock()
		return
	}
	p.running = true
	for p.pending != nil {
		next := p.pending
		p.pending = nil
		p.mu.Unlock()
		p.publish(next)
		p.mu.Lock()
	}
	p.running = false
	p.idle.Broadcast()
	p.mu.Unlock()
}

func (p *Pusher) publish(s translate.Reader) {
	start := time.Now()
	snap := snapshotOf(s)
	p.mu.Lock()
	prev, prevSnap := p.index, p.snap
	p.mu.Unlock()
	p.beginRound()
	mesh := MeshSettings{RootNamespace: p.RootNamespace, TrustDomain: p.TrustDomain}
	if prev != nil {
		mesh = MeshSettings{RootNamespace: prev.RootNamespace(), TrustDomain: prev.TrustDomain(), TrustDomainAliases: prev.TrustDomainAliases()}
	}
	if p.MeshConfig != nil {
		if m, ok := p.MeshConfig(s); ok {
			mesh = m
		}
	}
	in := translate.Input{Store: s, Validate: p.validate, LastValid: p.lastValid, RootNamespace: mesh.RootNamespace, TrustDomain: mesh.TrustDomain,
		TrustDomainAliases: mesh.TrustDomainAliases}
	var x *translate.Index
	if prev != nil && snap != nil && prevSnap != nil && prev.SameMesh(in) {
		// Only what changed is translated again; the rest is shared.
		changes := snap.ChangesSince(prevSnap)
		p.forgetDeleted(changes)
		x = prev.Next(in, changes)
	} else {
		x = translate.NewIndex(in)
		p.forgetAbsent(s)
	}
	// The index is current before the views are listed: a view created
	// from now on is filled from it by Populate, the listed ones below.
	p.mu.Lock()
	p.index, p.store, p.snap = x, s, snap
	p.gen++
	gen := p.gen
	p.mu.Unlock()
	views := p.Views.All()
	type result struct {
		v   *transport.View
		res generate.Resources
	}
	results := make([]result, len(views))
	var problems []ir.Problem
	for i, v := range views {
		res, probs := p.resources(x, v.Node)
		results[i] = result{v, res}
		problems = append(problems, probs...)
	}
	if len(views) == 0 {
		problems = x.Problems()
	}
	p.mu.Lock()
	for ns := range p.assembled {
		if !slices.ContainsFunc(views, func(v *transport.View) bool { return v.Node.Kind == transport.KindGRPC && v.Node.Namespace == ns }) {
			delete(p.assembled, ns) // its last client left
		}
	}
	p.mu.Unlock()
	p.endRound()
	p.envoy.endRound(views)
	if p.Metrics != nil {
		p.Metrics.Translation.Observe(time.Since(start).Seconds())
	}
	p.reportProblems(problems)
	for _, r := range results {
		ch := r.v.Apply(r.res, gen)
		if !ch.Empty() {
			p.Log.V(1).Info("pushed", "view", r.v.Key, "updated", ch.Updated, "removed", ch.Removed)
		}
	}
}

// snapshotOf returns the immutable snapshot behind a Reader, if it has one
// (a live store's Snapshot, or a Store), for ChangesSince.
func snapshotOf(s translate.Reader) *config.Snapshot {
	switch r := s.(type) {
	case *config.Snapshot:
		return r
	case interface{ Snapshot() *config.Snapshot }:
		return r.Snapshot()
	}
	return nil
}

// Caches live for two rounds: what a round used is kept for the next one,
// the rest is dropped, so they hold only what the current snapshot uses.
func (p *Pusher) beginRound() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verdictsPrev, p.verdicts = p.verdicts, map[*config.Resource]error{}
	p.partsPrev, p.generated = p.generated, map[*translate.HostPart]generated{}
	p.serversPrev, p.serverListeners = p.serverListeners, map[*translate.ServersPart]generated{}
	p.envoy.beginRound()
}

func (p *Pusher) endRound() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verdictsPrev, p.partsPrev, p.serversPrev = nil, nil, nil
}

// forgetDeleted drops the last valid version of deleted objects: a deleted
// object must not come back as "last valid", nor stay in memory.
func (p *Pusher) forgetDeleted(changes config.Changes) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range changes {
		if c.New == nil {
			delete(p.valid, c.Key)
		}
	}
}

// forgetAbsent keeps only the last valid versions of objects s holds.
func (p *Pusher) forgetAbsent(s translate.Reader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.valid {
		if s.Get(k.Kind, k.Namespace, k.Name) == nil {
			delete(p.valid, k)
		}
	}
}

// LastValidLen is the number of objects whose last valid version is kept.
func (p *Pusher) LastValidLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.valid)
}

// validate runs Validate and remembers each object's last valid version.
func (p *Pusher) validate(r *config.Resource) error {
	if p.Validate == nil {
		return nil
	}
	// Objects are immutable and shared between snapshots: one verdict per
	// object version.
	p.mu.Lock()
	err, ok := p.verdicts[r]
	if !ok {
		err, ok = p.verdictsPrev[r]
	}
	p.mu.Unlock()
	if !ok {
		err = p.Validate(r)
	}
	p.mu.Lock()
	if p.verdicts != nil {
		p.verdicts[r] = err
	}
	if err == nil {
		if p.valid == nil {
			p.valid = map[config.Key]*config.Resource{}
		}
		p.valid[r.Key()] = r
	}
	p.mu.Unlock()
	return err
}

func (p *Pusher) lastValid(k config.Key) *config.Resource {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.valid[k]
}

// resources translates one view; problems of one object never stop the rest.
func (p *Pusher) resources(x *translate.Index, n transport.Node) (generate.Resources, []ir.Problem) {
	if n.Kind == transport.KindGRPC {
		return p.grpcResources(x, n.Namespace)
	}
	return p.envoyResources(x, n)
}

// generated is the gRPC resources of one host part.
type generated struct {
	res      generate.Resources
	problems []ir.Problem
	// withheld are resources not generated because they would have lowered
	// security (generate.Problem.Withheld), by type.
	withheld map[string][]string
}

// addTo adds g's resources to a view being assembled.
func (g generated) addTo(out generate.Resources) {
	for t, byName := range g.res {
		for name, m := range byName {
			out[t][name] = m
		}
	}
}

// grpcResources assembles a gRPC view from the resources of its host parts,
// generating (and validating) only parts not seen in the last round: a
// change costs the hosts it touches, and the unchanged resources keep their
// identity, so the view's diff skips them at once.
func (p *Pusher) grpcResources(x *translate.Index, ns string) (generate.Resources, []ir.Problem) {
	parts, servers := x.Parts(translate.View{Namespace: ns}), x.Servers(ns)
	p.mu.Lock()
	last, ok := p.assembled[ns]
	p.mu.Unlock()
	if ok && last.servers == servers && slices.Equal(last.parts, parts) && slices.Equal(last.indexProblems, x.Problems()) {
		// Nothing this namespace's clients see changed: the same
		// resources, which their views skip at once.
		return last.res, last.problems
	}
	res, problems := p.assemble(x, ns, parts, servers, last.res)
	p.mu.Lock()
	if p.assembled == nil {
		p.assembled = map[string]assembly{}
	}
	p.assembled[ns] = assembly{parts: parts, servers: servers, indexProblems: x.Problems(), res: res, problems: problems}
	p.mu.Unlock()
	return res, problems
}

// assembly is the last gRPC view assembled for a namespace.
type assembly struct {
	parts         []*translate.HostPart
	servers       *translate.ServersPart
	indexProblems []ir.Problem
	res           generate.Resources
	problems      []ir.Problem
}

// assemble builds the gRPC view of ns; last is the view assembled before,
// whose version of a withheld resource is kept.
func (p *Pusher) assemble(x *translate.Index, ns string, parts []*translate.HostPart, servers *translate.ServersPart, last generate.Resources) (generate.Resources, []ir.Problem) {
	out := generate.Resources{}
	for _, t := range generate.Types {
		out[t] = map[string]proto.Message{}
	}
	problems := x.Problems()
	for _, part := range parts {
		p.mu.Lock()
		g, ok := p.generated[part]
		if !ok {
			if g, ok = p.partsPrev[part]; ok && p.generated != nil {
				p.generated[part] = g
			}
		}
		p.mu.Unlock()
		if !ok {
			g = generateGRPC(&ir.Config{Namespace: ns, RouteTables: part.RouteTables, Clusters: part.Clusters}, part.Problems)
			p.mu.Lock()
			if p.generated != nil {
				p.generated[part] = g
			}
			p.mu.Unlock()
		}
		g.addTo(out)
		problems = append(problems, g.problems...)
		// A resource that would have lowered security keeps the version
		// the namespace's clients were sent; one never sent stays unsent.
		for t, names := range g.withheld {
			for _, name := range names {
				if m, ok := last[t][name]; ok {
					out[t][name] = m
				}
			}
		}
	}
	// What the namespace's xDS-enabled gRPC servers listen with.
	p.mu.Lock()
	g, ok := p.serverListeners[servers]
	if !ok {
		if g, ok = p.serversPrev[servers]; ok && p.serverListeners != nil {
			p.serverListeners[servers] = g
		}
	}
	p.mu.Unlock()
	if !ok {
		g = generateGRPC(&ir.Config{Namespace: ns, Servers: servers.Servers}, nil)
		p.mu.Lock()
		if p.serverListeners != nil {
			p.serverListeners[servers] = g
		}
		p.mu.Unlock()
	}
	g.addTo(out)
	problems = append(problems, g.problems...)
	return out, problems
}

// generateGRPC generates cfg's gRPC resources; what fails validation is not
// sent and becomes a problem beside those translation already found.
func generateGRPC(cfg *ir.Config, problems []ir.Problem) generated {
	res, gp := generate.GRPC(cfg)
	g := generated{res: res, problems: problems}
	for _, e := range gp {
		g.problems = append(g.problems, problemOf(e))
		if e.Withheld {
			if g.withheld == nil {
				g.withheld = map[string][]string{}
			}
			g.withheld[e.Type] = append(g.withheld[e.Type], e.Name)
		}
	}
	return g
}

// problemOf names the config object a generation problem is about: the
// object the client cannot be sent as written, or the resource that failed
// validation.
func problemOf(g generate.Problem) ir.Problem {
	if g.Object != "" {
		return ir.Problem{Object: g.Object, Message: g.Message}
	}
	return ir.Problem{Object: generate.ShortType(g.Type) + " " + g.Name, Message: "fails validation, not sent: " + g.Message}
}

// reportProblems logs each problem once when it appears and keeps the
// problems gauge equal to the current set.
func (p *Pusher) reportProblems(problems []ir.Problem) {
	now := map[string]bool{}
	for _, pr := range problems {
		key := pr.Object + ": " + pr.Message
		if now[key] {
			continue
		}
		now[key] = true
	}
	p.mu.Lock()
	old := p.problems
	p.problems = now
	p.mu.Unlock()
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !old[k] {
			p.Log.Info("config not translated", "problem", k)
		}
	}
	if p.Metrics == nil {
		return
	}
	objects := map[string]float64{}
	for _, pr := range problems {
		objects[pr.Object]++
	}
	p.Metrics.Problems.Reset()
	for o, n := range objects {
		p.Metrics.Problems.WithLabelValues(o).Set(n)
	}
}

// Problems returns the current translation problems, sorted.
func (p *Pusher) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.problems))
	for k := range p.problems {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
