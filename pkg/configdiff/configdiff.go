// Package configdiff compares two mesh configurations by what they do to
// traffic rather than by their text: for each host, how the weights of its
// routes move, which matches appear or disappear, which subsets and traffic
// policies change; and, for Gateways, ServiceEntries and the other mesh
// kinds, which fields change. Gateway API HTTPRoutes and GRPCRoutes are routes of the hosts
// they route (httproute.go); the other Gateway API kinds are compared field
// by field. Renaming a VirtualService, reordering YAML keys
// or splitting one file in two is no difference; moving 10% of reviews from
// v1 to v3 is one line.
//
// Both sides are config.Readers, so OLD and NEW may come from files, standard
// input or the cluster (a store of the cluster merged with files answers
// "what would applying these change?").
package configdiff

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// Op is what happened to a piece of config.
type Op string

const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// Symbol is the diff(1)-style marker of op: "+", "-" or "~".
func (o Op) Symbol() string {
	switch o {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

// What says which aspect of the config a Change is about.
type What string

const (
	WhatRoute   What = "route"   // a route added or removed
	WhatWeights What = "weights" // traffic shares of a route's destinations
	WhatOrder   What = "order"   // the order in which routes are tried
	WhatField   What = "field"   // another field of a route, host, subset or object
	WhatSubset  What = "subset"  // a DestinationRule subset added or removed
)

// WeightChange is the share of traffic one destination gets before and after,
// in percent; 0 means the destination is not routed to.
type WeightChange struct {
	Destination string `json:"destination"`
	Before      int32  `json:"before"`
	After       int32  `json:"after"`
}

// Change is one difference, with the line that says it.
type Change struct {
	Op   Op   `json:"op"`
	What What `json:"what"`
	// Route is the label of the route concerned ("end-user=jason", or the
	// host for its catch-all route).
	Route string `json:"route,omitempty"`
	// Subset is the DestinationRule subset concerned.
	Subset  string         `json:"subset,omitempty"`
	Field   string         `json:"field,omitempty"`
	Before  string         `json:"before,omitempty"`
	After   string         `json:"after,omitempty"`
	Weights []WeightChange `json:"weights,omitempty"`
	// At is where the change is written: the file and line in NEW, or in OLD
	// for removals; empty for objects from the cluster.
	At string `json:"at,omitempty"`
	// Text is the change as one line, without its Op symbol.
	Text string `json:"text"`
}

// ObjectRef names an object involved in a section and where each side has it
// ("" when that side does not have it).
type ObjectRef struct {
	Kind      config.Kind `json:"kind"`
	Namespace string      `json:"namespace,omitempty"`
	Name      string      `json:"name"`
	Old       string      `json:"old,omitempty"`
	New       string      `json:"new,omitempty"`
}

func (o ObjectRef) String() string {
	return config.Key{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}.String()
}

// Section groups the changes of one host (routing) or one object (other
// mesh kinds).
type Section struct {
	// Status is "added" or "removed" when only one side has the host or
	// object at all.
	Status Op `json:"status,omitempty"`
	// Host is set for routing sections: the host as written, and FQDN as the
	// proxy resolves it.
	Host    string      `json:"host,omitempty"`
	FQDN    string      `json:"fqdn,omitempty"`
	Objects []ObjectRef `json:"objects"`
	Changes []Change    `json:"changes"`
}

// Title is the heading of the section: the host, or the object.
func (s Section) Title() string {
	if s.Host != "" {
		return s.Host
	}
	return s.Objects[0].String()
}

// Report is the difference between two configurations.
type Report struct {
	Differences bool      `json:"differences"`
	Sections    []Section `json:"sections"`
}

// Diff compares two configurations. Only mesh kinds take part: Services and
// workloads are not routing config.
func Diff(old, cur config.Reader) *Report {
	r := &Report{Sections: []Section{}}
	oh, nh := hosts(old), hosts(cur)
	keys := map[string]bool{}
	for k := range oh {
		keys[k] = true
	}
	for k := range nh {
		keys[k] = true
	}
	var hs []Section
	for k := range keys {
		if s := diffHost(oh[k], nh[k]); len(s.Changes) > 0 {
			hs = append(hs, s)
		}
	}
	sort.Slice(hs, func(i, j int) bool {
		if hs[i].Host != hs[j].Host {
			return hs[i].Host < hs[j].Host
		}
		return hs[i].FQDN < hs[j].FQDN
	})
	r.Sections = append(r.Sections, hs...)
	for _, kind := range objectKinds() {
		r.Sections = append(r.Sections, diffObjects(kind, old, cur)...)
	}
	r.Differences = len(r.Sections) > 0
	return r
}

func at(r *config.Resource, path string) string {
	if r == nil || !r.Origin.FromFile() {
		return ""
	}
	return r.OriginAt(path).String()
}

func originOf(r *config.Resource) string {
	if r == nil {
		return ""
	}
	return r.Origin.String()
}

// objects lists the VirtualServices and DestinationRules behind a host on
// both sides.
func objects(o, n *host) []ObjectRef {
	refs := map[config.Key]*ObjectRef{}
	var order []config.Key
	add := func(rs []*config.Resource, isNew bool) {
		for _, r := range rs {
			k := r.Key()
			ref := refs[k]
			if ref == nil {
				ref = &ObjectRef{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name}
				refs[k] = ref
				order = append(order, k)
			}
			if isNew {
				ref.New = originOf(r)
			} else {
				ref.Old = originOf(r)
			}
		}
	}
	if o != nil {
		add(o.vs, false)
		add(o.hr, false)
		add(o.dr, false)
	}
	if n != nil {
		add(n.vs, true)
		add(n.hr, true)
		add(n.dr, true)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Kind != b.Kind {
			// VirtualServices first: routing before policy.
			return a.Kind > b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	out := make([]ObjectRef, len(order))
	for i, k := range order {
		out[i] = *refs[k]
	}
	return out
}

func diffHost(o, n *host) Section {
	empty := &host{subsets: map[string]*subset{}, drFields: fields{}}
	s := Section{}
	if n != nil {
		s.Host, s.FQDN = n.display, n.fqdn
	} else {
		s.Host, s.FQDN = o.display, o.fqdn
	}
	s.Objects = objects(o, n)
	switch {
	case o == nil:
		s.Status = Added
	case n == nil:
		s.Status = Removed
	}
	if o == nil {
		o = empty
	}
	if n == nil {
		n = empty
	}
	var cs []Change

	// Host-level settings of its VirtualServices (or HTTPRoutes, whose
	// parentRefs are their gateways).
	first := func(h *host, field string) (*config.Resource, string) {
		switch {
		case len(h.vs) > 0:
			return h.vs[0], "spec." + field
		case len(h.hr) > 0 && field == "gateways":
			return h.hr[0], "spec.parentRefs"
		case len(h.hr) > 0:
			return h.hr[0], "spec"
		}
		return nil, ""
	}
	for _, fc := range diffFields(hostFields(o, len(n.vs)+len(n.hr) > 0), hostFields(n, len(o.vs)+len(o.hr) > 0)) {
		r, path := first(n, fc.raw)
		if fc.op == Removed {
			r, path = first(o, fc.raw)
		}
		cs = append(cs, Change{Op: fc.op, What: WhatField, Field: fc.path, Before: fc.before, After: fc.after,
			At: at(r, path), Text: fc.text()})
	}
	cs = append(cs, diffRoutes(o, n)...)
	cs = append(cs, diffSubsets(o, n)...)
	for _, fc := range diffFields(o.drFields, n.drFields) {
		var r *config.Resource
		if fc.op == Removed {
			r = o.dr[0]
		} else {
			r = n.dr[0]
		}
		cs = append(cs, Change{Op: fc.op, What: WhatField, Field: fc.path, Before: fc.before, After: fc.after,
			At: at(r, "spec."+fc.raw), Text: fc.text()})
	}
	s.Changes = cs
	return s
}

// hostFields are the settings of the VirtualServices of a host that apply
// to all its routes. The implicit gateway "mesh" is left out of hosts that
// only one side routes: it says nothing the added or removed routes do not.
func hostFields(h *host, otherRoutes bool) fields {
	out := fields{}
	if len(h.gateways) > 0 && (otherRoutes || list(h.gateways) != "[mesh]") {
		out["gateways"] = value{v: list(h.gateways), raw: "gateways"}
	}
	if len(h.exportTo) > 0 {
		out["exportTo"] = value{v: list(h.exportTo), raw: "exportTo"}
	}
	return out
}

func diffRoutes(o, n *host) []Change {
	old := map[string]*route{}
	for _, r := range o.routes {
		old[r.key] = r
	}
	cur := map[string]*route{}
	for _, r := range n.routes {
		cur[r.key] = r
	}
	var cs []Change
	for i, r := range n.routes {
		p, ok := old[r.key]
		if !ok {
			text := r.label + " → " + destList(r.dests)
			if len(r.extra) > 0 {
				text += " (" + strings.Join(r.extra.pairs(), ", ") + ")"
			}
			if len(n.routes) > 1 {
				text += fmt.Sprintf(" [%s route %d of %d]", r.proto, indexIn(n.routes, i, r.proto), countProto(n.routes, r.proto))
			}
			cs = append(cs, Change{Op: Added, What: WhatRoute, Route: r.label, After: destList(r.dests),
				At: at(r.res, r.path), Text: text})
			continue
		}
		if wc := weightChanges(p.dests, r.dests); len(wc) > 0 {
			parts := make([]string, len(wc))
			for i, w := range wc {
				parts[i] = fmt.Sprintf("%s %d%% → %d%%", w.Destination, w.Before, w.After)
			}
			cs = append(cs, Change{Op: Changed, What: WhatWeights, Route: r.label, Weights: wc,
				Before: destList(p.dests), After: destList(r.dests),
				At: at(r.res, r.path+"."+r.destField), Text: r.label + ": " + strings.Join(parts, ", ")})
		}
		for _, fc := range diffFields(p.extra, r.extra) {
			res, path := r.res, r.path+"."+fc.raw
			if fc.op == Removed {
				res, path = p.res, p.path+"."+fc.raw
			}
			cs = append(cs, Change{Op: fc.op, What: WhatField, Route: r.label, Field: fc.path,
				Before: fc.before, After: fc.after, At: at(res, path), Text: r.label + ": " + fc.text()})
		}
	}
	for _, p := range o.routes {
		if _, ok := cur[p.key]; ok {
			continue
		}
		cs = append(cs, Change{Op: Removed, What: WhatRoute, Route: p.label, Before: destList(p.dests),
			At: at(p.res, p.path), Text: p.label + " → " + destList(p.dests)})
	}
	// The proxy takes the first route that matches, so moving a route ahead
	// of another changes behaviour even when no route changed.
	for _, proto := range []string{"http", "tcp", "tls"} {
		bk, bl := commonOrder(o.routes, cur, proto)
		ak, al := commonOrder(n.routes, old, proto)
		if strings.Join(bk, "\x00") != strings.Join(ak, "\x00") {
			b, a := "["+strings.Join(bl, ", ")+"]", "["+strings.Join(al, ", ")+"]"
			cs = append(cs, Change{Op: Changed, What: WhatOrder, Field: proto + " route order", Before: b, After: a,
				Text: proto + " route order: " + b + " → " + a})
		}
	}
	return cs
}

// commonOrder lists, in the order of rs, the keys and labels of the routes
// of proto that the other side also has.
func commonOrder(rs []*route, other map[string]*route, proto string) (keys, labels []string) {
	for _, r := range rs {
		if _, ok := other[r.key]; ok && r.proto == proto {
			keys = append(keys, r.key)
			labels = append(labels, r.label)
		}
	}
	return keys, labels
}

func indexIn(rs []*route, i int, proto string) int {
	n := 0
	for _, r := range rs[:i+1] {
		if r.proto == proto {
			n++
		}
	}
	return n
}

func countProto(rs []*route, proto string) int {
	n := 0
	for _, r := range rs {
		if r.proto == proto {
			n++
		}
	}
	return n
}

// destList is "v2" for a route that sends everything to one destination and
// "v1 90%, v3 10%" otherwise.
func destList(ds []dest) string {
	if len(ds) == 0 {
		return "(no destination)"
	}
	if len(ds) == 1 && ds[0].weight == 100 {
		return ds[0].label
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s %d%%", d.label, d.weight)
	}
	return strings.Join(parts, ", ")
}

// weightChanges lists the destinations whose share changed, in the order of
// OLD then the ones NEW adds.
func weightChanges(old, cur []dest) []WeightChange {
	after := map[string]int32{}
	for _, d := range cur {
		after[d.key] = d.weight
	}
	before := map[string]int32{}
	for _, d := range old {
		before[d.key] = d.weight
	}
	var out []WeightChange
	for _, d := range old {
		if a := after[d.key]; a != d.weight {
			out = append(out, WeightChange{Destination: d.label, Before: d.weight, After: a})
		}
	}
	for _, d := range cur {
		if _, ok := before[d.key]; !ok && d.weight != 0 {
			out = append(out, WeightChange{Destination: d.label, Before: 0, After: d.weight})
		}
	}
	return out
}

func diffSubsets(o, n *host) []Change {
	var cs []Change
	for _, name := range n.subOrder {
		ns := n.subsets[name]
		os, ok := o.subsets[name]
		if !ok {
			text := "subset " + name
			if ns.labels != "" {
				text += " (" + ns.labels + ")"
			}
			if len(ns.policy) > 0 {
				text += " trafficPolicy: " + strings.Join(ns.policy.pairs(), ", ")
			}
			cs = append(cs, Change{Op: Added, What: WhatSubset, Subset: name, After: ns.labels, At: at(ns.res, ns.path), Text: text})
			continue
		}
		if os.labels != ns.labels {
			cs = append(cs, Change{Op: Changed, What: WhatField, Subset: name, Field: "labels", Before: os.labels, After: ns.labels,
				At: at(ns.res, ns.path+".labels"), Text: "subset " + name + ": labels: " + os.labels + " → " + ns.labels})
		}
		for _, fc := range diffFields(os.policy, ns.policy) {
			res, path := ns.res, ns.path+".trafficPolicy."+fc.raw
			if fc.op == Removed {
				res, path = os.res, os.path+".trafficPolicy."+fc.raw
			}
			fc.path = "trafficPolicy." + fc.path
			cs = append(cs, Change{Op: fc.op, What: WhatField, Subset: name, Field: fc.path, Before: fc.before, After: fc.after,
				At: at(res, path), Text: "subset " + name + ": " + fc.text()})
		}
	}
	for _, name := range o.subOrder {
		if _, ok := n.subsets[name]; ok {
			continue
		}
		os := o.subsets[name]
		text := "subset " + name
		if os.labels != "" {
			text += " (" + os.labels + ")"
		}
		cs = append(cs, Change{Op: Removed, What: WhatSubset, Subset: name, Before: os.labels, At: at(os.res, os.path), Text: text})
	}
	return cs
}

// diffObjects compares the objects of a kind that is not routing by host, one
// section per object, field by field.
func diffObjects(kind config.Kind, old, cur config.Reader) []Section {
	type pair struct{ o, n *config.Resource }
	pairs := map[config.Key]*pair{}
	var keys []config.Key
	for i, s := range []config.Reader{old, cur} {
		for _, r := range s.List(kind, "") {
			p := pairs[r.Key()]
			if p == nil {
				p = &pair{}
				pairs[r.Key()] = p
				keys = append(keys, r.Key())
			}
			if i == 0 {
				p.o = r
			} else {
				p.n = r
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Namespace != keys[j].Namespace {
			return keys[i].Namespace < keys[j].Namespace
		}
		return keys[i].Name < keys[j].Name
	})
	var out []Section
	for _, k := range keys {
		p := pairs[k]
		ref := ObjectRef{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Old: originOf(p.o), New: originOf(p.n)}
		of, nf := specFields(p.o), specFields(p.n)
		var cs []Change
		var status Op
		switch {
		case p.o == nil:
			status = Added
		case p.n == nil:
			status = Removed
		}
		for _, fc := range diffFields(of, nf) {
			r := p.n
			if fc.op == Removed {
				r = p.o
			}
			cs = append(cs, Change{Op: fc.op, What: WhatField, Field: fc.path, Before: fc.before, After: fc.after,
				At: at(r, "spec."+fc.raw), Text: fc.text()})
		}
		if len(cs) > 0 {
			out = append(out, Section{Status: status, Objects: []ObjectRef{ref}, Changes: cs})
		}
	}
	return out
}

// InputKinds are the kinds Diff reads, for loading a cluster.
func InputKinds() []config.Kind {
	return append([]config.Kind{config.KindVirtualService, config.KindDestinationRule, config.KindHTTPRoute, config.KindGRPCRoute}, objectKinds()...)
}

// objectKinds are the kinds compared object by object: the mesh's and the
// Gateway API's, except those whose routes join the host sections.
func objectKinds() []config.Kind {
	var out []config.Kind
	for _, k := range config.Kinds() {
		switch {
		case k.Kind == config.KindVirtualService || k.Kind == config.KindDestinationRule || k.Kind == config.KindHTTPRoute || k.Kind == config.KindGRPCRoute:
		case !k.Namespaced: // GatewayClass: the class of an installation, not routing config
		case k.Mesh || k.Group == config.GroupGatewayAPI:
			out = append(out, k.Kind)
		}
	}
	return out
}

func specFields(r *config.Resource) fields {
	if r == nil {
		return fields{}
	}
	switch s := r.Spec.(type) {
	case proto.Message:
		return flatten(s)
	case *gatewayv1.Gateway:
		return flattenJSON(s.Spec)
	case *gatewayv1.ReferenceGrant:
		return flattenJSON(s.Spec)
	}
	return fields{}
}
