package server

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/vocab"
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

	mu       sync.Mutex
	index    *translate.Index
	store    translate.Reader
	pending  translate.Reader
	running  bool
	problems map[string]bool
	idle     *sync.Cond
	gen      uint64 // generation of index
	// valid holds the last version of each object that passed Validate.
	valid map[config.Key]*config.Resource
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
	x := translate.NewIndex(translate.Input{Store: s, Validate: p.validate, LastValid: p.lastValid})
	// The index is current before the views are listed: a view created
	// from now on is filled from it by Populate, the listed ones below.
	p.mu.Lock()
	p.index, p.store = x, s
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

// validate runs Validate and remembers each object's last valid version.
func (p *Pusher) validate(r *config.Resource) error {
	if p.Validate == nil {
		return nil
	}
	err := p.Validate(r)
	if err == nil {
		p.mu.Lock()
		if p.valid == nil {
			p.valid = map[config.Key]*config.Resource{}
		}
		p.valid[r.Key()] = r
		p.mu.Unlock()
	}
	return err
}

func (p *Pusher) lastValid(k config.Key) *config.Resource {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.valid[k]
}

// resources translates one view; problems of one object never stop the rest.
func (p *Pusher) resources(x *translate.Index, n transport.Node) (generate.Resources, []ir.Problem) {
	v := translate.View{Namespace: n.Namespace, Labels: n.Labels, Servers: n.Kind == transport.KindGRPC}
	if n.Kind != transport.KindGRPC {
		v.Workload, v.Gateway = n.Pod, n.Kind == transport.KindGateway
	}
	cfg := x.Build(v)
	var res generate.Resources
	var gp []generate.Problem
	switch n.Kind {
	case transport.KindGRPC:
		res, gp = generate.GRPC(cfg)
	case transport.KindGateway:
		res, gp = generate.Gateway(cfg)
	default:
		res, gp = generate.Sidecar(cfg, generate.Ports{Outbound: vocab.OutboundPort, Inbound: vocab.InboundPort})
	}
	problems := cfg.Problems
	for _, g := range gp {
		problems = append(problems, ir.Problem{Object: generate.ShortType(g.Type) + " " + g.Name, Message: "fails validation, not sent: " + g.Message})
	}
	return res, problems
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
