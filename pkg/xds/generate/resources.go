// Package generate is the second stage of the xDS pipeline: an ir.Config
// becomes the xDS resources of one kind of client (proxyless gRPC, Envoy
// sidecar, Envoy gateway). Each kind gets only what it accepts (grpc-go
// rejects some HTTP filters, Envoy needs listeners grpc-go would reject).
// Every resource passes its Validate() here, before any client can see it; a
// resource that does not is left out and reported.
package generate

import (
	"fmt"
	"sort"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Type URLs of the resources the server sends.
const (
	ListenerType = resourcev3.ListenerType
	RouteType    = resourcev3.RouteType
	ClusterType  = resourcev3.ClusterType
	EndpointType = resourcev3.EndpointType
)

// Types is the order in which resource types reach a client when several
// change together: what a route needs (clusters, endpoints) before the route,
// the route before the listener that uses it (make-before-break).
var Types = []string{ClusterType, EndpointType, RouteType, ListenerType}

// Resources are the resources of one view, by type URL and name.
type Resources map[string]map[string]proto.Message

// Problem is a resource that failed validation and was left out (Type and
// Name set), or a config object that a kind of client cannot be sent as
// written (Object set, "AuthorizationPolicy ns/name"): what it gets instead
// is said in Message.
type Problem struct {
	Type, Name, Message string
	Object              string
	// Withheld says the resource Type/Name was deliberately not generated
	// because the client would have received less security than the config
	// asks for: its clients should keep the version they have.
	Withheld bool
}

func (p Problem) String() string {
	if p.Object != "" {
		return p.Object + ": " + p.Message
	}
	return fmt.Sprintf("%s %s: %s", ShortType(p.Type), p.Name, p.Message)
}

// ShortType is the resource type's message name, for logs and metrics.
func ShortType(t string) string {
	switch t {
	case ListenerType:
		return "Listener"
	case RouteType:
		return "RouteConfiguration"
	case ClusterType:
		return "Cluster"
	case EndpointType:
		return "ClusterLoadAssignment"
	}
	return t
}

type validator interface{ ValidateAll() error }

// add validates m and adds it under name, or records why not.
func (r Resources) add(typ, name string, m proto.Message, problems *[]Problem) {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			*problems = append(*problems, Problem{Type: typ, Name: name, Message: err.Error()})
			return
		}
	}
	if r[typ] == nil {
		r[typ] = map[string]proto.Message{}
	}
	r[typ][name] = m
}

// Names returns the names of the resources of one type, sorted.
func (r Resources) Names(typ string) []string {
	out := make([]string, 0, len(r[typ]))
	for n := range r[typ] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Merge adds every resource of o to r (o's win on equal names).
func (r Resources) Merge(o Resources) {
	for t, byName := range o {
		if r[t] == nil {
			r[t] = map[string]proto.Message{}
		}
		for name, m := range byName {
			r[t][name] = m
		}
	}
}

// NewResources returns resources with every type present and empty.
func NewResources() Resources { return newResources() }

func newResources() Resources {
	return Resources{ListenerType: {}, RouteType: {}, ClusterType: {}, EndpointType: {}}
}
