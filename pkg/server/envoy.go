package server

import (
	"reflect"
	"slices"
	"sync"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/ir"
	"github.com/meshctl/meshctl/pkg/xds/translate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

var sidecarPorts = generate.Ports{Outbound: vocab.OutboundPort, Inbound: vocab.InboundPort}

// envoyGen generates the views of Envoy sidecars and gateways from pieces
// kept across rounds, keyed by what each was generated from: a cluster (with
// its endpoints) by its IR, a virtual host by its route table, a port's
// route config by its virtual hosts, a port's listener by the port, and a
// proxy's own inbound listener or gateway listeners by its workload part.
// An event therefore regenerates what it touches and nothing else; every
// untouched resource keeps its identity, so each view's diff skips it at
// once, and the proxies of a namespace share one message per resource.
type envoyGen struct {
	mu       sync.Mutex
	parts    memo[*translate.HostPart, *envoyPart]
	clusters memo[*ir.Cluster, generated]
	vhosts   memo[*ir.RouteTable, *route.VirtualHost]
	tcp      memo[*ir.RouteTable, generated]
	routes   memo[[]*route.VirtualHost, generated]
	ports    memo[uint32, generated]
	inbound  memo[inboundClusterKey, generated]
	gwRoutes memo[*ir.GatewayRoutes, generated]
	gwLis    memo[*ir.GatewayListener, generated]
	// fixed are what every sidecar (false) or gateway (true) has.
	fixed map[bool]generated
	// views is the last assembly of each Envoy view, by view key.
	views map[string]*envoyView
}

type inboundClusterKey struct {
	name string
	port uint32
}

// envoyPart is what one host part gives an Envoy proxy.
type envoyPart struct {
	res generate.Resources // clusters and endpoints
	// listeners of its TCP and TLS ports, for sidecars
	listeners generate.Resources
	vhosts    map[uint32][]*route.VirtualHost
	problems  []ir.Problem
}

type envoyView struct {
	parts         []*translate.HostPart
	workload      *translate.WorkloadPart
	indexProblems []ir.Problem
	own           generated // the inbound listener, or the gateway's listeners and routes
	res           generate.Resources
	problems      []ir.Problem
}

// memo keeps values by the name of a resource and what it was generated
// from (compared with ==, or deeply for pointers and slices, so that an
// equal IR built again finds the old value). A name keeps its few most
// recently used variants (the current one, and one per workload whose
// routes match on the client); when the memo has grown to twice its size
// after the last sweep, what the last two rounds did not use is dropped
// (deleted resources, and variants of views that were themselves
// rebuilt). A proxy that no event touched for a long time thus still finds
// the values its view holds, and memory stays bounded.
type memo[K any, V any] struct {
	entries map[string][]memoEntry[K, V]
	round   uint64
	size    int
	sweepAt int
}

type memoEntry[K any, V any] struct {
	key  K
	val  V
	used uint64
}

const memoVariants = 4

func (m *memo[K, V]) begin() { m.round++ }

func (m *memo[K, V]) end() {
	if m.size <= m.sweepAt {
		return
	}
	m.size = 0
	for name, es := range m.entries {
		es = slices.DeleteFunc(es, func(e memoEntry[K, V]) bool { return e.used+1 < m.round })
		if len(es) == 0 {
			delete(m.entries, name)
			continue
		}
		m.entries[name] = es
		m.size += len(es)
	}
	m.sweepAt = max(2*m.size, 1024)
}

// lookup finds the value of name and key; the caller holds envoyGen.mu.
func (m *memo[K, V]) lookup(name string, key K) (V, bool) {
	es := m.entries[name]
	for i := range es {
		if same(es[i].key, key) {
			es[i].used = m.round
			return es[i].val, true
		}
	}
	var zero V
	return zero, false
}

func (m *memo[K, V]) store(name string, key K, val V) {
	if m.entries == nil {
		m.entries = map[string][]memoEntry[K, V]{}
		m.sweepAt = 1024
	}
	es := m.entries[name]
	if len(es) >= memoVariants {
		// Forget the least recently used variant.
		oldest := 0
		for i := range es {
			if es[i].used < es[oldest].used {
				oldest = i
			}
		}
		es = slices.Delete(es, oldest, oldest+1)
		m.size--
	}
	m.entries[name] = append(es, memoEntry[K, V]{key: key, val: val, used: m.round})
	m.size++
}

// same compares keys: host parts by identity (a part is rebuilt only when
// something it depends on changed), everything else by value.
func same[K any](a, b K) bool {
	if pa, ok := any(a).(*translate.HostPart); ok {
		return pa == any(b).(*translate.HostPart)
	}
	if va, ok := any(a).([]*route.VirtualHost); ok {
		return slices.Equal(va, any(b).([]*route.VirtualHost))
	}
	return reflect.DeepEqual(a, b)
}

// memoized returns the value of name and key, generating it outside
// the lock when missing.
func memoized[K any, V any](e *envoyGen, m *memo[K, V], name string, key K, gen func() V) V {
	e.mu.Lock()
	v, ok := m.lookup(name, key)
	e.mu.Unlock()
	if ok {
		return v
	}
	v = gen()
	e.mu.Lock()
	if w, ok := m.lookup(name, key); ok {
		v = w // generated concurrently: keep one identity
	} else {
		m.store(name, key, v)
	}
	e.mu.Unlock()
	return v
}

func (e *envoyGen) beginRound() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.parts.begin()
	e.clusters.begin()
	e.vhosts.begin()
	e.tcp.begin()
	e.routes.begin()
	e.ports.begin()
	e.inbound.begin()
	e.gwRoutes.begin()
	e.gwLis.begin()
}

// endRound drops what the round did not use, and the views whose clients
// left.
func (e *envoyGen) endRound(views []*transport.View) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.parts.end()
	e.clusters.end()
	e.vhosts.end()
	e.tcp.end()
	e.routes.end()
	e.ports.end()
	e.inbound.end()
	e.gwRoutes.end()
	e.gwLis.end()
	live := map[string]bool{}
	for _, v := range views {
		live[v.Key] = true
	}
	for k := range e.views {
		if !live[k] {
			delete(e.views, k)
		}
	}
}

func generatedOf(res generate.Resources, gp []generate.Problem) generated {
	return generated{res: res, problems: generateProblems(gp)}
}

// part returns what a host part gives an Envoy proxy.
// Names are qualified with the namespace of the view: a host means
// something else in each namespace (visibility, short domains).
func (e *envoyGen) part(ns string, hp *translate.HostPart) *envoyPart {
	return memoized(e, &e.parts, ns+"/"+hp.Host, hp, func() *envoyPart {
		p := &envoyPart{res: generate.NewResources(), listeners: generate.NewResources(), vhosts: map[uint32][]*route.VirtualHost{}}
		for _, cl := range hp.Clusters {
			g := memoized(e, &e.clusters, ns+"/"+cl.Name, cl, func() generated {
				return generatedOf(generate.EnvoyClusters([]*ir.Cluster{cl}))
			})
			g.addTo(p.res)
			p.problems = append(p.problems, g.problems...)
		}
		for _, rt := range hp.RouteTables {
			if rt.TCPRoutes != nil {
				g := memoized(e, &e.tcp, ns+"/"+rt.Name, rt, func() generated { return generatedOf(generate.SidecarTCPListener(rt)) })
				g.addTo(p.listeners)
				p.problems = append(p.problems, g.problems...)
				continue
			}
			vh := memoized(e, &e.vhosts, ns+"/"+rt.Name, rt, func() *route.VirtualHost { return generate.SidecarVirtualHost(rt) })
			p.vhosts[rt.Port] = append(p.vhosts[rt.Port], vh)
		}
		return p
	})
}

func (e *envoyGen) fixedOf(gateway bool) generated {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.fixed[gateway]
	if !ok {
		if gateway {
			g = generatedOf(generate.GatewayFixed())
		} else {
			g = generatedOf(generate.SidecarFixed(sidecarPorts))
		}
		if e.fixed == nil {
			e.fixed = map[bool]generated{}
		}
		e.fixed[gateway] = g
	}
	return g
}

// envoyResources assembles the view of an Envoy sidecar or gateway.
func (p *Pusher) envoyResources(x *translate.Index, n transport.Node) (generate.Resources, []ir.Problem) {
	e := &p.envoy
	gateway := n.Kind == transport.KindGateway
	v := translate.View{Namespace: n.Namespace, Labels: n.Labels, Workload: n.Pod, Gateway: gateway}
	parts, w := x.ViewParts(v), x.Workload(v)
	if w == nil {
		// A node id that names no pod: the outbound config of its
		// namespace, nothing of its own.
		w = &translate.WorkloadPart{}
	}
	key := n.ViewKey()
	e.mu.Lock()
	last := e.views[key]
	e.mu.Unlock()
	sameWorkload := last != nil && reflect.DeepEqual(last.workload, w)
	if sameWorkload && slices.Equal(last.parts, parts) && slices.Equal(last.indexProblems, x.Problems()) {
		// Nothing this proxy sees changed: the very resources its view
		// holds, which it skips at once.
		return last.res, last.problems
	}
	out := generate.NewResources()
	problems := x.Problems()
	byPort := map[uint32][]*route.VirtualHost{}
	for _, hp := range parts {
		g := e.part(n.Namespace, hp)
		out.Merge(g.res)
		problems = append(append(problems, hp.Problems...), g.problems...)
		if gateway {
			continue // a gateway's routes are its listeners'
		}
		out.Merge(g.listeners)
		for port, vhs := range g.vhosts {
			byPort[port] = append(byPort[port], vhs...)
		}
	}
	for port, vhs := range byPort {
		name := generate.RouteName(port)
		for _, g := range []generated{
			memoized(e, &e.routes, n.Namespace+"/"+name, vhs, func() generated { return generatedOf(generate.SidecarRoute(port, vhs)) }),
			memoized(e, &e.ports, name, port, func() generated { return generatedOf(generate.SidecarListener(port)) }),
		} {
			g.addTo(out)
			problems = append(problems, g.problems...)
		}
	}
	var own generated
	switch {
	case sameWorkload:
		own = last.own
	case gateway:
		own = generated{res: generate.NewResources()}
		for _, gl := range w.Gateways {
			// The listener reads only the name of its route table: a route
			// change leaves it as it is.
			lkey := *gl
			if gl.RouteTable != nil {
				lkey.RouteTable = &ir.GatewayRoutes{Name: gl.RouteTable.Name}
			}
			name := key + "/" + gl.Name
			for _, g := range []generated{
				memoized(e, &e.gwRoutes, name, gl.RouteTable, func() generated { return generatedOf(generate.GatewayRoute(gl.RouteTable)) }),
				memoized(e, &e.gwLis, name, &lkey, func() generated { return generatedOf(generate.GatewayListener(&lkey)) }),
			} {
				g.addTo(own.res)
				own.problems = append(own.problems, g.problems...)
			}
		}
	default:
		own = generatedOf(generate.SidecarInbound(w.Inbound, sidecarPorts))
	}
	own.addTo(out)
	problems = append(append(problems, w.Problems...), own.problems...)
	if w.Inbound != nil {
		for _, ip := range w.Inbound.Ports {
			g := memoized(e, &e.inbound, ip.Cluster, inboundClusterKey{ip.Cluster, ip.Port}, func() generated { return generatedOf(generate.InboundCluster(ip)) })
			g.addTo(out)
			problems = append(problems, g.problems...)
		}
	}
	fixed := e.fixedOf(gateway)
	fixed.addTo(out)
	problems = append(problems, fixed.problems...)
	e.mu.Lock()
	if e.views == nil {
		e.views = map[string]*envoyView{}
	}
	e.views[key] = &envoyView{parts: parts, workload: w, indexProblems: x.Problems(), own: own, res: out, problems: problems}
	e.mu.Unlock()
	return out, problems
}

// generateProblems names what generation could not send (problemOf).
func generateProblems(gp []generate.Problem) []ir.Problem {
	var out []ir.Problem
	for _, g := range gp {
		out = append(out, problemOf(g))
	}
	return out
}
