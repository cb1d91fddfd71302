package transport

import (
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// ClientKind is the kind of xDS client, which decides what it is sent.
type ClientKind string

const (
	// KindGRPC is a proxyless gRPC client (node metadata GENERATOR=grpc).
	KindGRPC ClientKind = "grpc"
	// KindSidecar is an Envoy sidecar (node id "sidecar~…").
	KindSidecar ClientKind = "sidecar"
	// KindGateway is an Envoy gateway (node id "router~…").
	KindGateway ClientKind = "router"
)

// Node is what the server knows of a client from its xDS node, following
// Istio's conventions: id "<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>"
// and metadata NAMESPACE, GENERATOR, LABELS.
type Node struct {
	ID        string
	Kind      ClientKind
	Namespace string
	IP        string
	Pod       string
	Labels    map[string]string
}

// ParseNode reads a node. A node that names no namespace is put in
// "default", as Istio does for proxyless clients without metadata.
func ParseNode(n *core.Node) Node {
	out := Node{ID: n.GetId(), Kind: KindSidecar, Namespace: "default"}
	parts := strings.Split(n.GetId(), "~")
	if len(parts) == 4 {
		switch parts[0] {
		case "router":
			out.Kind = KindGateway
		}
		out.IP = parts[1]
		if pod, ns, ok := strings.Cut(parts[2], "."); ok {
			out.Pod, out.Namespace = pod, ns
		}
	}
	md := n.GetMetadata().GetFields()
	if ns := md["NAMESPACE"].GetStringValue(); ns != "" {
		out.Namespace = ns
	}
	if md["GENERATOR"].GetStringValue() == "grpc" {
		out.Kind = KindGRPC
	}
	if l := md["LABELS"].GetStructValue(); l != nil {
		out.Labels = map[string]string{}
		for k, v := range l.GetFields() {
			out.Labels[k] = v.GetStringValue()
		}
	}
	return out
}

// ViewKey names the set of resources a node shares with others: all gRPC
// clients of a namespace see the same config; each Envoy proxy has its own
// (its inbound listener and gateway servers depend on the workload).
func (n Node) ViewKey() string {
	if n.Kind == KindGRPC {
		return "grpc/" + n.Namespace
	}
	return string(n.Kind) + "/" + n.ID
}
