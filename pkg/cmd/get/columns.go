package get

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/meshctl/meshctl/pkg/config"
)

// columns of one kind: the headers between NAME and NAMESPACE, AGE, and a
// function giving their cells. Wide adds more at the end.
type columns struct {
	headers, wideHeaders []string
	cells                func(r *config.Resource) (cells, wide []string)
}

var columnsByKind = map[config.Kind]columns{
	config.KindVirtualService: {
		// The layout users know from `istioctl get virtualservices`.
		headers:     []string{"GATEWAYS", "HOSTS", "#HTTP", "#TCP"},
		wideHeaders: []string{"#TLS", "EXPORT-TO", "DESTINATIONS"},
		cells: func(r *config.Resource) ([]string, []string) {
			vs := r.VirtualService()
			var dests []string
			seen := map[string]bool{}
			add := func(host, subset string, weight int32, n int) {
				d := host
				if subset != "" {
					d += ":" + subset
				}
				if n > 1 {
					d += " " + strconv.Itoa(int(weight)) + "%"
				}
				if !seen[d] {
					seen[d] = true
					dests = append(dests, d)
				}
			}
			for _, h := range vs.GetHttp() {
				for _, d := range h.GetRoute() {
					add(d.GetDestination().GetHost(), d.GetDestination().GetSubset(), d.GetWeight(), len(h.GetRoute()))
				}
			}
			for _, t := range vs.GetTcp() {
				for _, d := range t.GetRoute() {
					add(d.GetDestination().GetHost(), d.GetDestination().GetSubset(), d.GetWeight(), len(t.GetRoute()))
				}
			}
			for _, t := range vs.GetTls() {
				for _, d := range t.GetRoute() {
					add(d.GetDestination().GetHost(), d.GetDestination().GetSubset(), d.GetWeight(), len(t.GetRoute()))
				}
			}
			return []string{csv(vs.GetGateways()), csv(vs.GetHosts()), strconv.Itoa(len(vs.GetHttp())), strconv.Itoa(len(vs.GetTcp()))},
				[]string{strconv.Itoa(len(vs.GetTls())), csv(vs.GetExportTo()), csv(dests)}
		},
	},
	config.KindDestinationRule: {
		headers:     []string{"HOST", "SUBSETS", "TLS-MODE"},
		wideHeaders: []string{"LOAD-BALANCER", "EXPORT-TO"},
		cells: func(r *config.Resource) ([]string, []string) {
			dr := r.DestinationRule()
			var subsets []string
			for _, s := range dr.GetSubsets() {
				subsets = append(subsets, s.GetName())
			}
			tp := dr.GetTrafficPolicy()
			tls := ""
			if tp.GetTls() != nil {
				tls = tp.GetTls().GetMode().String()
			}
			lb := ""
			if l := tp.GetLoadBalancer(); l != nil {
				switch {
				case l.GetConsistentHash() != nil:
					lb = "CONSISTENT_HASH"
				default:
					lb = l.GetSimple().String()
				}
			}
			return []string{dr.GetHost(), csv(subsets), dash(tls)}, []string{dash(lb), csv(dr.GetExportTo())}
		},
	},
	config.KindGateway: {
		headers:     []string{"SELECTOR", "SERVERS", "HOSTS"},
		wideHeaders: []string{"CREDENTIALS"},
		cells: func(r *config.Resource) ([]string, []string) {
			gw := r.Gateway()
			var servers, hosts, creds []string
			for _, s := range gw.GetServers() {
				servers = append(servers, fmt.Sprintf("%d/%s", s.GetPort().GetNumber(), s.GetPort().GetProtocol()))
				hosts = appendNew(hosts, s.GetHosts()...)
				if c := s.GetTls().GetCredentialName(); c != "" {
					creds = appendNew(creds, c)
				}
			}
			return []string{labels(gw.GetSelector()), csv(servers), csv(hosts)}, []string{csv(creds)}
		},
	},
	config.KindServiceEntry: {
		headers:     []string{"HOSTS", "LOCATION", "RESOLUTION", "PORTS"},
		wideHeaders: []string{"ADDRESSES", "#ENDPOINTS"},
		cells: func(r *config.Resource) ([]string, []string) {
			se := r.ServiceEntry()
			var ports []string
			for _, p := range se.GetPorts() {
				ports = append(ports, fmt.Sprintf("%d/%s", p.GetNumber(), p.GetProtocol()))
			}
			return []string{csv(se.GetHosts()), se.GetLocation().String(), se.GetResolution().String(), csv(ports)},
				[]string{csv(se.GetAddresses()), strconv.Itoa(len(se.GetEndpoints()))}
		},
	},
	config.KindSidecar: {
		headers: []string{"WORKLOAD-SELECTOR", "#INGRESS", "#EGRESS"},
		cells: func(r *config.Resource) ([]string, []string) {
			sc := r.Sidecar()
			return []string{labels(sc.GetWorkloadSelector().GetLabels()), strconv.Itoa(len(sc.GetIngress())), strconv.Itoa(len(sc.GetEgress()))}, nil
		},
	},
	config.KindWorkloadEntry: {
		headers:     []string{"ADDRESS", "LABELS"},
		wideHeaders: []string{"SERVICE-ACCOUNT", "NETWORK"},
		cells: func(r *config.Resource) ([]string, []string) {
			we := r.WorkloadEntry()
			return []string{dash(we.GetAddress()), labels(we.GetLabels())}, []string{dash(we.GetServiceAccount()), dash(we.GetNetwork())}
		},
	},
	config.KindPeerAuthentication: {
		headers:     []string{"MODE", "SELECTOR"},
		wideHeaders: []string{"PORT-MODES"},
		cells: func(r *config.Resource) ([]string, []string) {
			pa := r.PeerAuthentication()
			mode := "UNSET"
			if pa.GetMtls() != nil {
				mode = pa.GetMtls().GetMode().String()
			}
			var ports []string
			for p, m := range pa.GetPortLevelMtls() {
				ports = append(ports, fmt.Sprintf("%d=%s", p, m.GetMode()))
			}
			sort.Strings(ports)
			return []string{mode, labels(pa.GetSelector().GetMatchLabels())}, []string{csv(ports)}
		},
	},
	config.KindAuthorizationPolicy: {
		headers:     []string{"ACTION", "SELECTOR", "#RULES"},
		wideHeaders: []string{"PROVIDER"},
		cells: func(r *config.Resource) ([]string, []string) {
			ap := r.AuthorizationPolicy()
			return []string{ap.GetAction().String(), labels(ap.GetSelector().GetMatchLabels()), strconv.Itoa(len(ap.GetRules()))},
				[]string{dash(ap.GetProvider().GetName())}
		},
	},
	config.KindRequestAuthentication: {
		headers: []string{"SELECTOR", "ISSUERS"},
		cells: func(r *config.Resource) ([]string, []string) {
			ra := r.RequestAuthentication()
			var issuers []string
			for _, j := range ra.GetJwtRules() {
				issuers = append(issuers, j.GetIssuer())
			}
			return []string{labels(ra.GetSelector().GetMatchLabels()), csv(issuers)}, nil
		},
	},
}

// table builds the rows of rs: NAME, the kind's columns, NAMESPACE, AGE and,
// when wide, the wide columns.
func table(kind config.Kind, rs []*config.Resource, wide bool, now time.Time) ([]string, [][]string) {
	c := columnsByKind[kind]
	headers := append(append([]string{"NAME"}, c.headers...), "NAMESPACE", "AGE")
	if wide {
		headers = append(headers, c.wideHeaders...)
	}
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		cells, wideCells := c.cells(r)
		row := append(append([]string{r.Name}, cells...), r.Namespace, age(r, now))
		if wide {
			row = append(row, wideCells...)
		}
		rows = append(rows, row)
	}
	return headers, rows
}

func age(r *config.Resource, now time.Time) string {
	if r.CreationTimestamp.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(r.CreationTimestamp.Time))
}

// csv joins values with commas; an empty cell is "-" so that every row has
// the same number of fields for awk and cut.
func csv(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return csv(parts)
}

func appendNew(l []string, vs ...string) []string {
	for _, v := range vs {
		found := false
		for _, x := range l {
			if x == v {
				found = true
				break
			}
		}
		if !found {
			l = append(l, v)
		}
	}
	return l
}
