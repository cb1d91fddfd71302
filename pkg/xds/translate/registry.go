package translate

import (
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// The service registry, host resolution, exportTo visibility, port
// protocols and DestinationRule merging are pkg/config's (config.Registry):
// translation only reads them. What is here adapts them to xDS.

// validated is the snapshot as translation reads it: VirtualServices,
// DestinationRules and Gateways that validation rejects are replaced by
// their last valid version or left out, so the registry built over it
// never indexes a rejected object.
type validated struct {
	config.Reader
	kinds map[config.Kind][]*config.Resource // sorted by namespace and name
}

func (v *validated) List(kind config.Kind, ns string) []*config.Resource {
	all, ok := v.kinds[kind]
	if !ok {
		return v.Reader.List(kind, ns)
	}
	out := make([]*config.Resource, 0, len(all))
	for _, r := range all {
		if ns == "" || r.Namespace == ns {
			out = append(out, r)
		}
	}
	return out
}

func (v *validated) Get(kind config.Kind, ns, name string) *config.Resource {
	all, ok := v.kinds[kind]
	if !ok {
		return v.Reader.Get(kind, ns, name)
	}
	for _, r := range all {
		if r.Namespace == ns && r.Name == name {
			return r
		}
	}
	return nil
}

// primary is the service that owns host: a Kubernetes Service before a
// ServiceEntry of the same host (the registry's order), nil if none.
func primary(ss []*config.Service) *config.Service {
	if len(ss) == 0 {
		return nil
	}
	return ss[0]
}

// routable reports whether translation makes clusters for a service port:
// Kubernetes Service ports of another transport than TCP (UDP, SCTP) are
// not proxied.
func routable(s *config.Service, p config.Port) bool {
	if s.Resource != nil && s.Resource.Kind == config.KindService {
		return p.RawProtocol == "" || p.RawProtocol == "TCP"
	}
	return true
}

// protocol is the port's protocol for routing. A port whose protocol is
// left to detection is routed as HTTP: what a proxyless gRPC client needs
// and what a sidecar's sniffing finds for HTTP.
func protocol(p config.Protocol) ir.Protocol {
	if p == "" {
		return ir.ProtocolHTTP
	}
	return ir.Protocol(p)
}

// selects reports whether a label selector (match labels) selects labels.
func selects(selector, l map[string]string) bool {
	return labels.SelectorFromSet(selector).Matches(labels.Set(l))
}

func workloadName(r *config.Resource) string {
	if r == nil {
		return ""
	}
	return r.Namespace + "/" + r.Name
}

func sortEndpoints(es []ir.Endpoint) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Address != es[j].Address {
			return es[i].Address < es[j].Address
		}
		return es[i].Port < es[j].Port
	})
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
