package translate

import (
	"strings"

	"cmp"
	"slices"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// policyFor resolves a DestinationRule traffic policy for one port: the port
// level settings of that port replace the top-level ones field group by field
// group, as in Istio.
func policyFor(tp *networking.TrafficPolicy, port uint32, host string) *ir.Policy {
	if tp == nil {
		return nil
	}
	lb, cp, od, tls := tp.LoadBalancer, tp.ConnectionPool, tp.OutlierDetection, tp.Tls
	for _, pl := range tp.PortLevelSettings {
		if pl.Port == nil || pl.Port.Number != port {
			continue
		}
		if pl.LoadBalancer != nil {
			lb = pl.LoadBalancer
		}
		if pl.ConnectionPool != nil {
			cp = pl.ConnectionPool
		}
		if pl.OutlierDetection != nil {
			od = pl.OutlierDetection
		}
		if pl.Tls != nil {
			tls = pl.Tls
		}
	}
	p := &ir.Policy{}
	if lb != nil {
		switch x := lb.LbPolicy.(type) {
		case *networking.LoadBalancerSettings_Simple:
			p.LB = x.Simple.String()
			if p.LB == "ROUND_ROBIN" || p.LB == "UNSPECIFIED" {
				p.LB = ""
			}
		case *networking.LoadBalancerSettings_ConsistentHash:
			p.LB = "RING_HASH"
			p.HashHeader = x.ConsistentHash.GetHttpHeaderName()
		}
	}
	if cp != nil {
		if t := cp.Tcp; t != nil {
			p.MaxConnections = uint32(t.MaxConnections)
			if t.ConnectTimeout != nil {
				p.ConnectTimeoutMillis = millis(t.ConnectTimeout)
			}
		}
		if h := cp.Http; h != nil {
			p.MaxPendingRequests = uint32(h.Http1MaxPendingRequests)
			p.MaxRequests = uint32(h.Http2MaxRequests)
			p.MaxRetries = uint32(h.MaxRetries)
			p.MaxRequestsPerConn = uint32(h.MaxRequestsPerConnection)
		}
	}
	if od != nil {
		o := &ir.Outlier{MaxEjectionPercent: uint32(od.MaxEjectionPercent)}
		if od.Consecutive_5XxErrors != nil {
			o.Consecutive5xx = od.Consecutive_5XxErrors.Value
		}
		if od.ConsecutiveGatewayErrors != nil {
			o.ConsecutiveGatewayErrors = od.ConsecutiveGatewayErrors.Value
		}
		if od.Interval != nil {
			o.IntervalMillis = millis(od.Interval)
		}
		if od.BaseEjectionTime != nil {
			o.BaseEjectionMillis = millis(od.BaseEjectionTime)
		}
		p.Outlier = o
	}
	if tls != nil && tls.Mode != networking.ClientTLSSettings_DISABLE {
		t := &ir.TLS{Mode: tls.Mode.String(), SNI: tls.Sni, SubjectAltNames: tls.SubjectAltNames, CredentialName: tls.CredentialName,
			CACertificates: tls.CaCertificates, ClientCertificate: tls.ClientCertificate, PrivateKey: tls.PrivateKey,
			InsecureSkipVerify: tls.GetInsecureSkipVerify().GetValue()}
		switch {
		case t.SNI != "":
		case t.Mode == "ISTIO_MUTUAL":
			t.SNI = ClusterName(port, "", host)
		case !strings.HasPrefix(host, "*"):
			// A server outside the mesh picks its certificate by server name;
			// without one, edition.cnn.com and its like answer with a default
			// certificate that fails the check.
			t.SNI = host
		}
		p.TLS = t
	} else if tls != nil {
		p.TLS = &ir.TLS{Mode: "DISABLE"}
	}
	if *p == (ir.Policy{}) {
		return nil
	}
	return p
}

// mergePolicy lays a subset's policy over the rule's: each field group set in
// the subset replaces the rule's.
func mergePolicy(base, over *ir.Policy) *ir.Policy {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	out := *base
	if over.LB != "" {
		out.LB, out.HashHeader = over.LB, over.HashHeader
	}
	out.ConnectTimeoutMillis = cmp.Or(over.ConnectTimeoutMillis, out.ConnectTimeoutMillis)
	out.MaxConnections = cmp.Or(over.MaxConnections, out.MaxConnections)
	out.MaxPendingRequests = cmp.Or(over.MaxPendingRequests, out.MaxPendingRequests)
	out.MaxRequests = cmp.Or(over.MaxRequests, out.MaxRequests)
	out.MaxRetries = cmp.Or(over.MaxRetries, out.MaxRetries)
	out.MaxRequestsPerConn = cmp.Or(over.MaxRequestsPerConn, out.MaxRequestsPerConn)
	if over.Outlier != nil {
		out.Outlier = over.Outlier
	}
	if over.TLS != nil {
		out.TLS = over.TLS
	}
	return &out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
