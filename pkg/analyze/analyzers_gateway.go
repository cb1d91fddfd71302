package analyze

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"strings"
	"time"

	"istio.io/api/label"
	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/config"
)

func selectorString(sel map[string]string) string { return labels.SelectorFromSet(sel).String() }

var gatewayInputs = kinds(k(config.KindGateway, config.KindService, config.KindSecret, config.KindVirtualService), workloadKinds)

var gatewayAnalyzers = []*Analyzer{
	{
		Code: "MSH0201", Name: "GatewaySelectorMatchesNothing", Level: Error,
		Doc:    "A Gateway's selector matches no gateway workload, so its servers are not served anywhere.",
		Inputs: gatewayInputs,
		Run: func(c *Context) {
			if !c.hasWorkloads("") {
				return
			}
			for _, r := range c.Store.List(config.KindGateway, "") {
				gw := r.Gateway()
				if len(gw.Selector) == 0 || len(c.matching("", gw.Selector)) > 0 {
					continue
				}
				c.ReportLevel(c.selectorLevel(), r, "spec.selector", "fix the selector to match the labels of the ingress gateway pods (kubectl get pods --show-labels)",
					"Gateway selector %q matches no workload%s", selectorString(gw.Selector), c.noWorkloadNote())
			}
		},
	},
	{
		Code: "MSH0202", Name: "GatewayPortNotOnWorkload", Level: Error,
		Doc:    "A Gateway server listens on a port that neither the gateway pods nor their Service expose.",
		Inputs: gatewayInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindGateway, "") {
				gw := r.Gateway()
				if len(gw.Selector) == 0 {
					continue
				}
				pods := c.matching("", gw.Selector)
				if len(pods) == 0 {
					continue
				}
				ports := map[uint32]bool{}
				for _, w := range pods {
					for _, ct := range w.tmpl.Spec.Containers {
						for _, p := range ct.Ports {
							ports[uint32(p.ContainerPort)] = true
						}
					}
					for _, s := range c.Store.List(config.KindService, w.res.Namespace) {
						sel := s.Service().Spec.Selector
						if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(w.tmpl.Labels)) {
							continue
						}
						for _, p := range s.Service().Spec.Ports {
							ports[uint32(p.Port)] = true
							if p.TargetPort.IntVal > 0 {
								ports[uint32(p.TargetPort.IntVal)] = true
							}
						}
					}
				}
				for i, s := range gw.Servers {
					if s.Port == nil || ports[s.Port.Number] {
						continue
					}
					c.Report(r, field("spec.servers[%d].port.number", i), "expose the port on the gateway's Service, or use a port it has",
						"Gateway port %d is not exposed by the workload selected by %q", s.Port.Number, selectorString(gw.Selector))
				}
			}
		},
	},
	{
		Code: "MSH0203", Name: "GatewayCredentialNotFound", Level: Error,
		Doc:    "A Gateway's TLS credentialName names a Secret that does not exist in the gateway workload's namespace.",
		Inputs: gatewayInputs,
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindGateway, "") {
				gw := r.Gateway()
				nss := map[string]bool{}
				for _, w := range c.matching("", gw.Selector) {
					nss[w.res.Namespace] = true
				}
				if len(nss) == 0 {
					nss[r.Namespace] = true
				}
				for i, s := range gw.Servers {
					if s.Tls == nil {
						continue
					}
					names := append([]string{s.Tls.CredentialName}, s.Tls.CredentialNames...)
					for _, name := range names {
						if name == "" {
							continue
						}
						for _, ns := range sortedKeys(nss) {
							if !c.opts.Cluster && len(c.Store.List(config.KindSecret, ns)) == 0 {
								continue // no Secrets read for ns: cannot tell
							}
							if c.Store.Get(config.KindSecret, ns, name) != nil {
								continue
							}
							c.Report(r, field("spec.servers[%d].tls", i),
								fmt.Sprintf("create it: kubectl create -n %s secret tls %s --cert=CERT --key=KEY", ns, name),
								"TLS credential Secret %s/%s not found", ns, name)
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0204", Name: "ConflictingGatewayServers", Level: Warning,
		Doc:    "Two Gateways bind the same host on the same port of the same gateway workload; only one of them is used.",
		Inputs: k(config.KindGateway),
		Run: func(c *Context) {
			gws := c.Store.List(config.KindGateway, "")
			for i, a := range gws {
				for _, b := range gws[i+1:] {
					ga, gb := a.Gateway(), b.Gateway()
					if !maps.Equal(ga.Selector, gb.Selector) {
						continue
					}
					for si, sa := range ga.Servers {
						for _, sb := range gb.Servers {
							if sa.Port == nil || sb.Port == nil || sa.Port.Number != sb.Port.Number {
								continue
							}
							if h, ok := overlappingHost(sa.Hosts, sb.Hosts); ok {
								c.Report(a, field("spec.servers[%d]", si), "serve each host on a port from one Gateway only",
									"host %q on port %d is also bound by Gateway %s/%s", h, sa.Port.Number, b.Namespace, b.Name)
							}
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0205", Name: "GatewayNotReferenced", Level: Info,
		Doc:    "No VirtualService is bound to a Gateway, so it accepts connections it cannot route.",
		Inputs: k(config.KindGateway, config.KindVirtualService),
		Run: func(c *Context) {
			used := map[string]bool{}
			for _, r := range c.Store.List(config.KindVirtualService, "") {
				for _, g := range r.VirtualService().Gateways {
					ns, name := config.GatewayRef(g, r.Namespace)
					used[ns+"/"+name] = true
				}
			}
			for _, r := range c.Store.List(config.KindGateway, "") {
				if !used[r.Namespace+"/"+r.Name] {
					c.Report(r, "metadata.name", "bind a VirtualService to it (spec.gateways) or delete it",
						"Gateway %s/%s is not used by any VirtualService", r.Namespace, r.Name)
				}
			}
		},
	},
	{
		Code: "MSH0206", Name: "GatewayDuplicateCertificate", Level: Warning,
		Doc:    "Two Gateways on the same gateway workload serve the same certificate (credentialName, or certificate and key files): a browser reuses an HTTP/2 connection for every host of the certificate and gets 404 from the server that does not route the other Gateway's hosts.",
		Inputs: k(config.KindGateway),
		Run: func(c *Context) {
			type key struct{ selector, cert string }
			first := map[key]*config.Resource{}
			for _, r := range c.Store.List(config.KindGateway, "") {
				gw := r.Gateway()
				sel := selectorString(gw.Selector)
				for i, s := range gw.Servers {
					cert := serverCertificate(s.Tls)
					if cert == "" {
						continue
					}
					kk := key{sel, cert}
					o, ok := first[kk]
					if !ok {
						first[kk] = r
						continue
					}
					if o == r {
						continue // one Gateway's servers share their routes
					}
					c.Report(r, field("spec.servers[%d].tls", i), "serve the hosts that share a certificate from one Gateway, or give each Gateway its own certificate",
						"the certificate %s is also served by Gateway %s/%s on the same gateway workload (%s); clients reusing HTTP/2 connections across them get 404s", cert, o.Namespace, o.Name, sel)
				}
			}
		},
	},
	{
		Code: "MSH0207", Name: "GatewayCredentialInvalid", Level: Error,
		Doc:    "A Gateway's TLS credentialName names a Secret that holds no usable certificate: tls.crt or tls.key missing, not PEM, not a matching pair, or the certificate expired or not yet valid.",
		Inputs: gatewayInputs,
		Run: func(c *Context) {
			now := time.Now()
			for _, r := range c.Store.List(config.KindGateway, "") {
				gw := r.Gateway()
				nss := map[string]bool{}
				for _, w := range c.matching("", gw.Selector) {
					nss[w.res.Namespace] = true
				}
				if len(nss) == 0 {
					nss[r.Namespace] = true
				}
				for i, s := range gw.Servers {
					if s.Tls == nil || s.Tls.Mode == networking.ServerTLSSettings_PASSTHROUGH || s.Tls.Mode == networking.ServerTLSSettings_ISTIO_MUTUAL {
						continue
					}
					for _, name := range append([]string{s.Tls.CredentialName}, s.Tls.CredentialNames...) {
						if name == "" {
							continue
						}
						for _, ns := range sortedKeys(nss) {
							sec := c.Store.Get(config.KindSecret, ns, name)
							if sec == nil {
								continue // MSH0203
							}
							if problem := credentialProblem(sec.Secret(), now); problem != "" {
								c.Report(r, field("spec.servers[%d].tls", i),
									fmt.Sprintf("replace it: kubectl create -n %s secret tls %s --cert=CERT --key=KEY --dry-run=client -o yaml | kubectl apply -f -", ns, name),
									"TLS credential Secret %s/%s is unusable: %s", ns, name, problem)
							}
						}
					}
				}
			}
		},
	},
}

// topologyLabel reports label keys the mesh adds to endpoints from their
// node (region, zone, subzone, network, cluster, hostname): a subset may
// select by them, but no pod template carries them.
func topologyLabel(key string) bool {
	return strings.HasPrefix(key, "topology.kubernetes.io/") || strings.HasPrefix(key, "topology.istio.io/") ||
		key == corev1.LabelHostname || key == label.TopologySubzone.Name || key == label.TopologyNetwork.Name || key == label.TopologyCluster.Name
}

func overlappingHost(a, b []string) (string, bool) {
	for _, x := range a {
		for _, y := range b {
			// Servers on one port merge their hosts; only the very same host
			// makes one of them lose.
			if hx := stripNS(x); strings.EqualFold(hx, stripNS(y)) {
				return hx, true
			}
		}
	}
	return "", false
}

func stripNS(h string) string {
	if i := strings.Index(h, "/"); i >= 0 {
		return h[i+1:]
	}
	return h
}

var destinationRuleAnalyzers = []*Analyzer{
	{
		Code: "MSH0301", Name: "ConflictingDestinationRules", Level: Warning,
		Doc:    "Several DestinationRules in one namespace apply to the same host; their traffic policies do not merge.",
		Inputs: k(config.KindDestinationRule, config.KindNamespace),
		Run: func(c *Context) {
			type key struct{ ns, host string }
			byHost := map[key][]*config.Resource{}
			var keys []key
			for _, r := range c.Store.List(config.KindDestinationRule, "") {
				dr := r.DestinationRule()
				if dr.WorkloadSelector != nil {
					continue
				}
				kk := key{r.Namespace, c.hosts().Resolve(dr.Host, r.Namespace)}
				if len(byHost[kk]) == 0 {
					keys = append(keys, kk)
				}
				byHost[kk] = append(byHost[kk], r)
			}
			for _, kk := range keys {
				rs := byHost[kk]
				for _, r := range rs {
					if len(rs) < 2 {
						break
					}
					var others []string
					for _, o := range rs {
						if o != r {
							others = append(others, o.Name)
						}
					}
					c.Report(r, "spec.host", "keep one DestinationRule per host and merge the subsets and policies into it",
						"DestinationRule for host %q conflicts with %s in namespace %s", kk.host, describe(others), kk.ns)
				}
			}
		},
	},
	{
		Code: "MSH0302", Name: "SubsetSelectsNoPods", Level: Warning,
		Doc:    "A DestinationRule subset's labels select none of the host's pods; traffic routed to it fails.",
		Inputs: kinds(k(config.KindDestinationRule, config.KindService), workloadKinds),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindDestinationRule, "") {
				dr := r.DestinationRule()
				for _, e := range c.lookupHost(dr.Host, r.Namespace) {
					if e.Resource.Kind != config.KindService || len(e.Resource.Service().Spec.Selector) == 0 || !c.hasWorkloads(e.Resource.Namespace) {
						continue
					}
					for i, s := range dr.Subsets {
						sel := maps.Clone(e.Resource.Service().Spec.Selector)
						podLabels := 0
						for k, v := range s.Labels {
							if !topologyLabel(k) {
								sel[k] = v
								podLabels++
							}
						}
						if podLabels == 0 && len(s.Labels) > 0 {
							continue // selects by where pods run, which no pod label says
						}
						if len(c.matching(e.Resource.Namespace, sel)) > 0 {
							continue
						}
						c.ReportLevel(c.selectorLevel(), r, field("spec.subsets[%d].labels", i), "fix the subset labels or deploy pods that carry them",
							"subset %q (%s) selects no pods of Service %s/%s%s", s.Name, selectorString(s.Labels), e.Resource.Namespace, e.Resource.Name, c.noWorkloadNote())
					}
				}
			}
		},
	},
	{
		Code: "MSH0303", Name: "DestinationRuleHostNotFound", Level: Warning,
		Doc:    "A DestinationRule applies to a host that no Service or ServiceEntry defines.",
		Inputs: k(config.KindDestinationRule, config.KindService, config.KindServiceEntry, config.KindNamespace),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindDestinationRule, "") {
				h := r.DestinationRule().Host
				if h == "" || strings.HasPrefix(h, "*") || len(c.lookupHost(h, r.Namespace)) > 0 {
					continue
				}
				c.Report(r, "spec.host", "correct the host or create its Service or ServiceEntry", "DestinationRule host not found: %q", h)
			}
		},
	},
	{
		Code: "MSH0304", Name: "ServerCertificateNotVerified", Level: Info,
		Doc:    "A DestinationRule originates TLS (SIMPLE or MUTUAL) without caCertificates or credentialName, for the destination or one of its ports, and does not say insecureSkipVerify: the proxy checks the server's certificate against the system roots of its image only, so a server with a private CA is refused. Istio reports this as a warning because its older proxies accepted any certificate; meshctl's never do unless insecureSkipVerify says so.",
		Inputs: k(config.KindDestinationRule),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindDestinationRule, "") {
				dr := r.DestinationRule()
				check := func(p string, tls *networking.ClientTLSSettings, port string) {
					if tls == nil || tls.Mode != networking.ClientTLSSettings_SIMPLE && tls.Mode != networking.ClientTLSSettings_MUTUAL {
						return
					}
					if tls.CaCertificates != "" || tls.CredentialName != "" || tls.InsecureSkipVerify.GetValue() {
						return
					}
					c.Report(r, p+".tls", "for a server with a private CA, set caCertificates (or a credentialName whose Secret holds ca.crt)",
						"TLS mode %s towards %q%s verifies the server's certificate against the system roots only: neither caCertificates nor credentialName is set", tls.Mode, dr.Host, port)
				}
				visit := func(p, subset string, tp *networking.TrafficPolicy) {
					if tp == nil {
						return
					}
					check(p, tp.Tls, subset)
					for i, pl := range tp.PortLevelSettings {
						port := ""
						if pl.Port != nil {
							port = fmt.Sprintf(" port %d", pl.Port.Number)
						}
						port = subset + port
						check(field("%s.portLevelSettings[%d]", p, i), pl.Tls, port)
					}
				}
				visit("spec.trafficPolicy", "", dr.TrafficPolicy)
				for i, s := range dr.Subsets {
					visit(field("spec.subsets[%d].trafficPolicy", i), " subset "+s.Name, s.TrafficPolicy)
				}
			}
		},
	},
}

var serviceEntryAnalyzers = []*Analyzer{
	{
		Code: "MSH0801", Name: "ServiceEntryAddressConflict", Level: Error,
		Doc:    "Two ServiceEntries give the same address to different hosts; traffic to it goes to only one.",
		Inputs: k(config.KindServiceEntry),
		Run: func(c *Context) {
			seen := map[string]*config.Resource{}
			for _, r := range c.Store.List(config.KindServiceEntry, "") {
				se := r.ServiceEntry()
				for i, a := range se.Addresses {
					if o, ok := seen[a]; ok && !sameHosts(o.ServiceEntry(), se) {
						c.Report(r, field("spec.addresses[%d]", i), "give each ServiceEntry its own addresses",
							"address %s is also used by ServiceEntry %s/%s for other hosts", a, o.Namespace, o.Name)
						continue
					}
					seen[a] = r
				}
			}
		},
	},
	{
		Code: "MSH0802", Name: "ServiceEntryHostConflict", Level: Warning,
		Doc:    "Two ServiceEntries in one namespace define the same host and port; which endpoints and settings apply to that port is undefined. The same host on different ports is not a conflict: the mesh merges them.",
		Inputs: k(config.KindServiceEntry),
		Run: func(c *Context) {
			type key struct {
				ns, host string
				port     uint32
			}
			seen := map[key]*config.Resource{}
			for _, r := range c.Store.List(config.KindServiceEntry, "") {
				se := r.ServiceEntry()
				for i, h := range se.Hosts {
					var clash *config.Resource
					var clashPort uint32
					for _, p := range se.Ports {
						kk := key{r.Namespace, strings.ToLower(h), p.Number}
						if o, ok := seen[kk]; ok && o != r {
							if clash == nil {
								clash, clashPort = o, p.Number
							}
							continue
						}
						seen[kk] = r
					}
					if clash != nil {
						c.Report(r, field("spec.hosts[%d]", i), "define each host and port in one ServiceEntry",
							"host %q port %d is also defined by ServiceEntry %s/%s", h, clashPort, clash.Namespace, clash.Name)
					}
				}
			}
		},
	},
	{
		Code: "MSH0803", Name: "ServiceEntryAddressesRequired", Level: Warning,
		Doc:    "A ServiceEntry without addresses has a TCP port (protocol TCP or unset): plain TCP carries no host name, so the sidecar can only tell the service's connections apart by destination address, and without one it cannot route them to this entry.",
		Inputs: k(config.KindServiceEntry),
		Run: func(c *Context) {
			for _, r := range c.Store.List(config.KindServiceEntry, "") {
				se := r.ServiceEntry()
				if len(se.Addresses) > 0 {
					continue
				}
				for i, p := range se.Ports {
					if p.Protocol != "" && !strings.EqualFold(p.Protocol, "TCP") {
						continue
					}
					proto := p.Protocol
					if proto == "" {
						proto = "no protocol, so TCP"
					}
					c.Report(r, field("spec.ports[%d]", i), "add spec.addresses (the service's IPs or CIDR), or give the port the protocol it speaks (HTTP, TLS, …) if it carries a host name",
						"port %d (%s) of %s needs spec.addresses: a TCP connection carries no host name to match", p.Number, proto, describeHosts(se.Hosts))
				}
			}
		},
	},
	{
		Code: "MSH0804", Name: "ConflictingServiceEntryProtocols", Level: Warning,
		Doc:    "ServiceEntries visible in the same namespace give one host and port different protocols; the mesh serves the port with only one of them.",
		Inputs: k(config.KindServiceEntry),
		Run: func(c *Context) {
			type key struct {
				host string
				port uint32
			}
			type use struct {
				r      *config.Resource
				proto  string
				scopes []string // namespaces it is exported to; "*" for all
			}
			uses := map[key][]use{}
			var keys []key
			for _, r := range c.Store.List(config.KindServiceEntry, "") {
				se := r.ServiceEntry()
				scopes := exportScopes(se.ExportTo, r.Namespace)
				for _, h := range se.Hosts {
					for _, p := range se.Ports {
						kk := key{strings.ToLower(h), p.Number}
						if len(uses[kk]) == 0 {
							keys = append(keys, kk)
						}
						uses[kk] = append(uses[kk], use{r, serviceEntryProtocol(p), scopes})
					}
				}
			}
			reported := map[*config.Resource]bool{}
			for _, kk := range keys {
				us := uses[kk]
				for i, u := range us {
					if reported[u.r] {
						continue
					}
					// Few entries share a host and port: pairs are cheap.
					for j, o := range us {
						if i == j || o.r == u.r || o.proto == u.proto || !scopesOverlap(u.scopes, o.scopes) {
							continue
						}
						reported[u.r] = true
						c.Report(u.r, "metadata.name", "give the host and port one protocol in every ServiceEntry that defines it",
							"host %q port %d is %s here but %s in ServiceEntry %s/%s; the mesh uses only one of them", kk.host, kk.port, u.proto, o.proto, o.r.Namespace, o.r.Name)
						break
					}
				}
			}
		},
	},
}

func sameHosts(a, b *networking.ServiceEntry) bool {
	if len(a.Hosts) != len(b.Hosts) {
		return false
	}
	for i := range a.Hosts {
		if a.Hosts[i] != b.Hosts[i] {
			return false
		}
	}
	return true
}

// describeHosts names a ServiceEntry's hosts for messages.
func describeHosts(hosts []string) string {
	q := make([]string, len(hosts))
	for i, h := range hosts {
		q[i] = fmt.Sprintf("%q", h)
	}
	return describe(q)
}

// serviceEntryProtocol is a ServiceEntry port's protocol in upper case: as
// written, else as its name says (http-api), else TCP.
func serviceEntryProtocol(p *networking.ServicePort) string {
	if pr := config.ParseProtocol(p.Protocol); pr != "" {
		return strings.ToUpper(string(pr))
	}
	if p.Protocol != "" {
		return strings.ToUpper(p.Protocol)
	}
	if pr := config.PortProtocol(p.Name, ""); pr != "" {
		return strings.ToUpper(string(pr))
	}
	return "TCP"
}

// exportScopes are the namespaces an object exported with exportTo is
// visible in ("*" for all).
func exportScopes(exportTo []string, own string) []string {
	if len(exportTo) == 0 {
		return []string{"*"}
	}
	var out []string
	for _, e := range exportTo {
		switch e {
		case "*":
			return []string{"*"}
		case ".":
			out = append(out, own)
		case "~":
		default:
			out = append(out, e)
		}
	}
	return out
}

func scopesOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == "*" || y == "*" || x == y {
				return true
			}
		}
	}
	return false
}

// serverCertificate identifies the certificate a server presents, "" when
// it presents none of its own.
func serverCertificate(t *networking.ServerTLSSettings) string {
	switch {
	case t == nil || t.Mode == networking.ServerTLSSettings_PASSTHROUGH || t.Mode == networking.ServerTLSSettings_ISTIO_MUTUAL:
		return ""
	case t.CredentialName != "":
		return "of Secret " + t.CredentialName
	case t.ServerCertificate != "" && t.PrivateKey != "":
		return "in " + t.ServerCertificate
	}
	return ""
}

// credentialProblem says what makes a gateway's TLS Secret unusable, "" if
// nothing does. Gateways read tls.crt/tls.key (kubernetes.io/tls) or
// cert/key (Istio's generic form).
func credentialProblem(sec *corev1.Secret, now time.Time) string {
	get := func(keys ...string) ([]byte, string) {
		for _, k := range keys {
			if v, ok := sec.Data[k]; ok {
				return v, k
			}
			if v, ok := sec.StringData[k]; ok {
				return []byte(v), k
			}
		}
		return nil, ""
	}
	certPEM, certKey := get(corev1.TLSCertKey, "cert")
	keyPEM, keyKey := get(corev1.TLSPrivateKeyKey, "key")
	switch {
	case certKey == "":
		return "it has no tls.crt (or cert)"
	case keyKey == "":
		return "it has no tls.key (or key)"
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Sprintf("%s and %s are not a PEM certificate and its private key: %v", certKey, keyKey, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Sprintf("%s: %v", certKey, err)
	}
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.DateOnly))
	}
	return ""
}
