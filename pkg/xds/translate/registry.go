package translate

import (
	"sort"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// service is one host the mesh can route to, with its ports and endpoints.
type service struct {
	Host      string
	Namespace string
	Source    string
	ExportTo  []string
	Ports     []*servicePort
	// Resolution of a ServiceEntry: STATIC (endpoints), DNS, NONE.
	Resolution   string
	MeshExternal bool
}

type servicePort struct {
	Number   uint32
	Name     string
	Protocol ir.Protocol
	// Endpoints that serve this port (already the target port).
	Endpoints []*endpoint
}

type endpoint struct {
	Address  string
	Port     uint32
	Labels   map[string]string
	Workload string
	Weight   uint32
	Locality string
}

// registry is the services of one snapshot, by host.
type registry struct {
	byHost map[string]*service
	hosts  []string
	suffix string
	// names is the one host resolution of pkg/config.
	names *config.Hosts
}

// buildRegistry collects Services (with their EndpointSlices and the labels
// of the pods behind them) and ServiceEntries (with their endpoints or the
// WorkloadEntries they select).
func buildRegistry(s Reader, suffix string) *registry {
	reg := &registry{byHost: map[string]*service{}, suffix: suffix, names: config.NewHosts(s, suffix)}
	pods := map[string]*corev1.Pod{}
	for _, r := range s.List(config.KindPod, "") {
		if p := r.Pod(); p != nil {
			pods[r.Namespace+"/"+r.Name] = p
		}
	}
	slices := map[string][]*discoveryv1.EndpointSlice{}
	for _, r := range s.List(config.KindEndpointSlice, "") {
		es := r.EndpointSlice()
		if es == nil {
			continue
		}
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		slices[r.Namespace+"/"+svc] = append(slices[r.Namespace+"/"+svc], es)
	}
	for _, r := range s.List(config.KindService, "") {
		k := r.Service()
		if k == nil {
			continue
		}
		sv := &service{
			Host:       k.Name + "." + k.Namespace + ".svc." + suffix,
			Namespace:  k.Namespace,
			Source:     r.String(),
			ExportTo:   splitExportTo(k.Annotations["networking.istio.io/exportTo"]),
			Resolution: "STATIC",
		}
		for _, p := range k.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			sp := &servicePort{Number: uint32(p.Port), Name: p.Name, Protocol: portProtocol(p.Name, p.AppProtocol)}
			for _, es := range slices[k.Namespace+"/"+k.Name] {
				var target int32
				for _, ep := range es.Ports {
					if ep.Name != nil && *ep.Name == p.Name && ep.Port != nil {
						target = *ep.Port
					}
				}
				if target == 0 {
					continue
				}
				for _, e := range es.Endpoints {
					if e.Conditions.Ready != nil && !*e.Conditions.Ready {
						continue
					}
					var labels map[string]string
					workload := ""
					if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
						workload = k.Namespace + "/" + e.TargetRef.Name
						if pod := pods[workload]; pod != nil {
							labels = pod.Labels
						}
					}
					for _, a := range e.Addresses {
						sp.Endpoints = append(sp.Endpoints, &endpoint{Address: a, Port: uint32(target), Labels: labels, Workload: workload, Weight: 1})
					}
				}
			}
			sortEndpoints(sp.Endpoints)
			sv.Ports = append(sv.Ports, sp)
		}
		reg.add(sv)
	}
	workloadEntries := s.List(config.KindWorkloadEntry, "")
	for _, r := range s.List(config.KindServiceEntry, "") {
		se := r.ServiceEntry()
		if se == nil {
			continue
		}
		for _, h := range se.Hosts {
			sv := &service{
				Host:         h,
				Namespace:    r.Namespace,
				Source:       r.String(),
				ExportTo:     se.ExportTo,
				Resolution:   se.Resolution.String(),
				MeshExternal: se.Location == networking.ServiceEntry_MESH_EXTERNAL,
			}
			for _, p := range se.Ports {
				sp := &servicePort{Number: p.Number, Name: p.Name, Protocol: portProtocol(p.Name, strPtr(p.Protocol))}
				target := p.Number
				if p.TargetPort != 0 {
					target = p.TargetPort
				}
				add := func(addr string, ports map[string]uint32, labels map[string]string, weight uint32, workload, locality string) {
					port := target
					if pp, ok := ports[p.Name]; ok && pp != 0 {
						port = pp
					}
					if weight == 0 {
						weight = 1
					}
					sp.Endpoints = append(sp.Endpoints, &endpoint{Address: addr, Port: port, Labels: labels, Weight: weight, Workload: workload, Locality: locality})
				}
				for _, we := range se.Endpoints {
					add(we.Address, we.Ports, we.Labels, we.Weight, "", we.Locality)
				}
				if se.WorkloadSelector != nil {
					for _, wr := range workloadEntries {
						we := wr.WorkloadEntry()
						if wr.Namespace != r.Namespace || we == nil || !labelsMatch(se.WorkloadSelector.Labels, we.Labels) {
							continue
						}
						add(we.Address, we.Ports, we.Labels, we.Weight, wr.Namespace+"/"+wr.Name, we.Locality)
					}
				}
				sortEndpoints(sp.Endpoints)
				sv.Ports = append(sv.Ports, sp)
			}
			reg.add(sv)
		}
	}
	sort.Strings(reg.hosts)
	return reg
}

func strPtr(s string) *string { return &s }

func (r *registry) add(s *service) {
	if old, ok := r.byHost[s.Host]; ok {
		// A Kubernetes Service wins over a ServiceEntry of the same host, as in
		// Istio; among ServiceEntries the first (namespace, name order) wins.
		_ = old
		return
	}
	r.byHost[s.Host] = s
	r.hosts = append(r.hosts, s.Host)
}

// visible reports whether a service may be used from namespace ns.
func (s *service) visible(ns string) bool {
	return exportedTo(s.ExportTo, s.Namespace, ns)
}

func exportedTo(exportTo []string, owner, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && owner == ns) {
			return true
		}
	}
	return false
}

func splitExportTo(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// resolveHost turns a host as written in an object of namespace ns into the
// name services are registered under (pkg/config's resolution).
func (r *registry) resolveHost(host, ns string) string { return r.names.Resolve(host, ns) }

// hostMatches reports whether pattern (an FQDN or wildcard) covers host.
func hostMatches(pattern, host string) bool { return config.HostMatches(host, pattern) }

func (s *service) port(n uint32) *servicePort {
	for _, p := range s.Ports {
		if p.Number == n {
			return p
		}
	}
	return nil
}

// portProtocol infers the protocol from the port name ("http-web",
// "grpc") or appProtocol, as Istio does.
func portProtocol(name string, appProtocol *string) ir.Protocol {
	p := ""
	if appProtocol != nil && *appProtocol != "" {
		p = *appProtocol
	} else {
		p = name
		if i := strings.Index(p, "-"); i >= 0 {
			p = p[:i]
		}
	}
	switch strings.ToLower(p) {
	case "http", "http1":
		return ir.ProtocolHTTP
	case "http2", "h2c", "kubernetes.io/h2c":
		return ir.ProtocolHTTP2
	case "grpc", "grpc-web":
		return ir.ProtocolGRPC
	case "https":
		return ir.ProtocolHTTPS
	case "tls":
		return ir.ProtocolTLS
	case "tcp", "mongo", "mysql", "redis":
		return ir.ProtocolTCP
	}
	// Unnamed ports are sniffed by Istio's sidecars; routing them as HTTP is
	// what a proxyless gRPC client needs and what sniffing finds for HTTP.
	return ir.ProtocolHTTP
}

func sortEndpoints(es []*endpoint) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Address != es[j].Address {
			return es[i].Address < es[j].Address
		}
		return es[i].Port < es[j].Port
	})
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
