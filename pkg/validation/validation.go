// Package validation holds the schema and semantic rules of mesh
// configuration, in one place for `meshctl validate`, the schema analyzer of
// `meshctl analyze` and the validation webhook of `meshctl server`.
//
// Validate checks one object and returns Issues that name the offending
// field by path ("spec.http[0].route[1].weight"); config.Resource.Line turns
// the path into a line. Decoding errors (unknown fields, wrong types) are
// found earlier, by config.Parse; these rules check what the schema alone
// cannot express.
package validation

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"

	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// Severity of an issue: an Error is rejected by the webhook, a Warning is
// admitted with a warning.
type Severity string

const (
	SeverityError   Severity = "Error"
	SeverityWarning Severity = "Warning"
)

// Issue is one broken rule.
type Issue struct {
	Severity Severity `json:"severity"`
	// Field is the path of the offending field, "" for the whole object.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (i Issue) String() string {
	if i.Field == "" {
		return i.Message
	}
	return i.Field + ": " + i.Message
}

type issues []Issue

func (l *issues) errorf(field, format string, args ...any) {
	*l = append(*l, Issue{Severity: SeverityError, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l *issues) warnf(field, format string, args ...any) {
	*l = append(*l, Issue{Severity: SeverityWarning, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate checks one object. Objects of unmodelled kinds have no rules.
func Validate(r *config.Resource) []Issue {
	var l issues
	info, ok := config.InfoFor(r.Kind)
	if !ok || !r.Known() {
		return nil
	}
	if r.Name == "" && r.GenerateName == "" {
		l.errorf("metadata.name", "metadata.name is required")
	} else if r.Name != "" {
		for _, msg := range dns1123Subdomain(r.Name) {
			l.errorf("metadata.name", "invalid name %q: %s", r.Name, msg)
		}
	}
	if info.Namespaced && r.Namespace != "" {
		for _, msg := range dns1123Label(r.Namespace) {
			l.errorf("metadata.namespace", "invalid namespace %q: %s", r.Namespace, msg)
		}
	}
	switch s := r.Spec.(type) {
	case *networking.VirtualService:
		validateVirtualService(&l, s)
	case *networking.DestinationRule:
		validateDestinationRule(&l, s)
	case *networking.Gateway:
		validateGateway(&l, s)
	case *networking.ServiceEntry:
		validateServiceEntry(&l, s)
	case *networking.Sidecar:
		validateSidecar(&l, s)
	case *networking.WorkloadEntry:
		if s.Address == "" && s.Network == "" {
			l.errorf("spec.address", "address is required unless network is set; give the IP or DNS name of the workload")
		}
		validatePortMap(&l, "spec.ports", s.Ports)
		validateLabels(&l, "spec.labels", s.Labels)
	case *security.PeerAuthentication:
		validatePeerAuthentication(&l, s)
	case *security.AuthorizationPolicy:
		validateAuthorizationPolicy(&l, s)
	case *security.RequestAuthentication:
		validateRequestAuthentication(&l, s)
	case *corev1.Service:
		validateService(&l, s)
	case *gatewayv1.Gateway:
		validateKubernetesGateway(&l, s)
	case *gatewayv1.GatewayClass:
		validateGatewayClass(&l, s)
	case *gatewayv1.HTTPRoute:
		validateRoute[gatewayv1.HTTPRouteRule](&l, r.GatewayRoute(), httpRouteRules{s})
	case *gatewayv1.GRPCRoute:
		validateRoute[gatewayv1.GRPCRouteRule](&l, r.GatewayRoute(), grpcRouteRules{s})
	case *gatewayv1.ReferenceGrant:
		validateReferenceGrant(&l, s)
	}
	return l
}

// ---- shared helpers

func validatePort(l *issues, field string, p uint32) {
	if p == 0 || p > 65535 {
		l.errorf(field, "port %d is out of range; use 1-65535", p)
	}
}

func validatePortMap(l *issues, field string, m map[string]uint32) {
	for name, p := range m {
		validatePort(l, field+"."+name, p)
	}
}

func validateLabels(l *issues, field string, m map[string]string) {
	for k, v := range m {
		for _, msg := range qualifiedName(k) {
			l.errorf(field, "invalid label key %q: %s", k, msg)
		}
		for _, msg := range labelValue(v) {
			l.errorf(field+"."+k, "invalid label value %q: %s", v, msg)
		}
	}
}

// validateHost checks a host as written in hosts fields: a DNS name, an
// optional leading "*." wildcard, or "*".
func validateHost(l *issues, field, host string, allowNamespacePrefix bool) {
	h := host
	if allowNamespacePrefix {
		if i := strings.Index(h, "/"); i >= 0 {
			ns := h[:i]
			if ns != "*" && ns != "." && ns != "~" {
				for _, msg := range dns1123Label(ns) {
					l.errorf(field, "invalid namespace %q in %q: %s", ns, host, msg)
				}
			}
			h = h[i+1:]
		}
	}
	if h == "" {
		l.errorf(field, "empty host; give a service name such as reviews or reviews.default.svc.cluster.local")
		return
	}
	if h == "*" {
		return
	}
	if net.ParseIP(h) != nil {
		return
	}
	h = strings.TrimPrefix(h, "*.")
	if strings.Contains(h, "*") {
		l.errorf(field, "invalid host %q: a wildcard is only allowed as the leading label (*.example.com)", host)
		return
	}
	for _, msg := range dns1123Subdomain(strings.ToLower(h)) {
		l.errorf(field, "invalid host %q: %s", host, msg)
		return
	}
}

func validateRegex(l *issues, field, re string) {
	if _, err := regexp.Compile(re); err != nil {
		l.errorf(field, "invalid regular expression %q: %v", re, err)
	}
}

func validateStringMatch(l *issues, field string, m *networking.StringMatch) {
	if m == nil {
		return
	}
	if re, ok := m.MatchType.(*networking.StringMatch_Regex); ok {
		validateRegex(l, field+".regex", re.Regex)
	}
}

func validatePercent(l *issues, field string, p *networking.Percent) {
	if p != nil && (p.Value < 0 || p.Value > 100) {
		l.errorf(field, "percentage %v is out of range; use 0-100", p.Value)
	}
}

// ---- VirtualService

func validateVirtualService(l *issues, vs *networking.VirtualService) {
	if len(vs.Hosts) == 0 && len(vs.Http)+len(vs.Tcp)+len(vs.Tls) > 0 {
		// A VirtualService without hosts is only valid as a delegate.
		l.warnf("spec.hosts", "no hosts: this VirtualService is only used as a delegate of another one")
	}
	for i, h := range vs.Hosts {
		validateHost(l, fmt.Sprintf("spec.hosts[%d]", i), h, false)
	}
	for i, g := range vs.Gateways {
		if g != "mesh" && !isGatewayRef(g) {
			l.errorf(fmt.Sprintf("spec.gateways[%d]", i), "invalid gateway reference %q; use NAME or NAMESPACE/NAME, or mesh", g)
		}
	}
	if len(vs.Http)+len(vs.Tcp)+len(vs.Tls) == 0 {
		l.errorf("spec", "no http, tcp or tls routes; a VirtualService must route something")
	}
	for i, h := range vs.Http {
		f := fmt.Sprintf("spec.http[%d]", i)
		n := 0
		if len(h.Route) > 0 {
			n++
		}
		if h.Redirect != nil {
			n++
		}
		if h.DirectResponse != nil {
			n++
		}
		if h.Delegate != nil {
			n++
		}
		if n == 0 {
			l.errorf(f, "HTTP route has no route, redirect, directResponse or delegate; add a route with a destination")
		} else if n > 1 {
			l.errorf(f, "HTTP route sets more than one of route, redirect, directResponse and delegate; keep one")
		}
		for j, m := range h.Match {
			mf := fmt.Sprintf("%s.match[%d]", f, j)
			validateStringMatch(l, mf+".uri", m.Uri)
			validateStringMatch(l, mf+".authority", m.Authority)
			validateStringMatch(l, mf+".method", m.Method)
			validateStringMatch(l, mf+".scheme", m.Scheme)
			for k, hm := range m.Headers {
				validateStringMatch(l, mf+".headers."+k, hm)
				if strings.ToLower(k) != k {
					l.warnf(mf+".headers."+k, "header name %q has upper-case letters; HTTP/2 header names are lower case, so it never matches; write %q", k, strings.ToLower(k))
				}
			}
			for k, qm := range m.QueryParams {
				validateStringMatch(l, mf+".queryParams."+k, qm)
			}
			if m.Port > 65535 {
				l.errorf(mf+".port", "port %d is out of range; use 1-65535", m.Port)
			}
		}
		for j, d := range h.Route {
			df := fmt.Sprintf("%s.route[%d]", f, j)
			validateDestination(l, df+".destination", d.Destination)
			if d.Weight < 0 || d.Weight > 100 {
				l.errorf(df+".weight", "weight %d is out of range; use 0-100", d.Weight)
			}
		}
		if h.Mirror != nil {
			validateDestination(l, f+".mirror", h.Mirror)
		}
		validatePercent(l, f+".mirrorPercentage", h.MirrorPercentage)
		if h.Timeout != nil && (h.Timeout.Seconds < 0 || h.Timeout.Nanos < 0) {
			l.errorf(f+".timeout", "timeout must not be negative")
		}
		if h.Retries != nil && h.Retries.Attempts < 0 {
			l.errorf(f+".retries.attempts", "retry attempts must not be negative")
		}
		if h.Fault != nil {
			if h.Fault.Abort != nil {
				validatePercent(l, f+".fault.abort.percentage", h.Fault.Abort.Percentage)
				if hs, ok := h.Fault.Abort.ErrorType.(*networking.HTTPFaultInjection_Abort_HttpStatus); ok && (hs.HttpStatus < 200 || hs.HttpStatus > 599) {
					l.errorf(f+".fault.abort.httpStatus", "HTTP status %d is not valid; use 200-599", hs.HttpStatus)
				}
			}
			if h.Fault.Delay != nil {
				validatePercent(l, f+".fault.delay.percentage", h.Fault.Delay.Percentage)
			}
		}
	}
	for i, t := range vs.Tcp {
		f := fmt.Sprintf("spec.tcp[%d]", i)
		if len(t.Route) == 0 {
			l.errorf(f, "TCP route has no destination; add route with a destination")
		}
		for j, m := range t.Match {
			validateSubnets(l, fmt.Sprintf("%s.match[%d].destinationSubnets", f, j), m.DestinationSubnets)
		}
		for j, d := range t.Route {
			validateDestination(l, fmt.Sprintf("%s.route[%d].destination", f, j), d.Destination)
		}
	}
	for i, t := range vs.Tls {
		f := fmt.Sprintf("spec.tls[%d]", i)
		if len(t.Match) == 0 {
			l.errorf(f+".match", "TLS route needs a match with sniHosts")
		}
		for j, m := range t.Match {
			if len(m.SniHosts) == 0 {
				l.errorf(fmt.Sprintf("%s.match[%d].sniHosts", f, j), "TLS match needs at least one SNI host")
			}
			validateSubnets(l, fmt.Sprintf("%s.match[%d].destinationSubnets", f, j), m.DestinationSubnets)
		}
		for j, d := range t.Route {
			validateDestination(l, fmt.Sprintf("%s.route[%d].destination", f, j), d.Destination)
		}
	}
}

// validateSubnets checks the destinationSubnets of a tcp or tls match: the
// proxy's filter chains match on them, so one that does not parse would
// leave the match out of the config the server sends.
func validateSubnets(l *issues, field string, subnets []string) {
	for k, s := range subnets {
		validateIPOrCIDR(l, fmt.Sprintf("%s[%d]", field, k), s)
	}
}

func validateIPOrCIDR(l *issues, field, s string) {
	if net.ParseIP(s) != nil {
		return
	}
	if _, _, err := net.ParseCIDR(s); err != nil {
		l.errorf(field, "%q is not an IP address or CIDR (e.g. 10.0.0.0/16)", s)
	}
}

func validateDestination(l *issues, field string, d *networking.Destination) {
	if d == nil {
		l.errorf(field, "destination is required; give at least its host")
		return
	}
	if d.Host == "" {
		l.errorf(field+".host", "destination host is required")
	} else {
		validateHost(l, field+".host", d.Host, false)
	}
	if d.Subset != "" {
		for _, msg := range dns1123Label(d.Subset) {
			l.errorf(field+".subset", "invalid subset name %q: %s", d.Subset, msg)
		}
	}
	if d.Port != nil && d.Port.Number > 65535 {
		l.errorf(field+".port.number", "port %d is out of range; use 1-65535", d.Port.Number)
	}
}

// ---- DestinationRule

func validateDestinationRule(l *issues, dr *networking.DestinationRule) {
	if dr.Host == "" {
		l.errorf("spec.host", "host is required; name the service this rule applies to")
	} else {
		validateHost(l, "spec.host", dr.Host, false)
	}
	validateTrafficPolicy(l, "spec.trafficPolicy", dr.TrafficPolicy)
	seen := map[string]int{}
	for i, s := range dr.Subsets {
		f := fmt.Sprintf("spec.subsets[%d]", i)
		if s.Name == "" {
			l.errorf(f+".name", "subset name is required")
		} else {
			for _, msg := range dns1123Label(s.Name) {
				l.errorf(f+".name", "invalid subset name %q: %s", s.Name, msg)
			}
			if j, ok := seen[s.Name]; ok {
				l.errorf(f+".name", "subset %q is defined twice (also spec.subsets[%d]); rename or merge them", s.Name, j)
			}
			seen[s.Name] = i
		}
		validateLabels(l, f+".labels", s.Labels)
		validateTrafficPolicy(l, f+".trafficPolicy", s.TrafficPolicy)
	}
}

func validateTrafficPolicy(l *issues, field string, tp *networking.TrafficPolicy) {
	if tp == nil {
		return
	}
	validateTLS(l, field+".tls", tp.Tls)
	if od := tp.OutlierDetection; od != nil {
		if od.MaxEjectionPercent < 0 || od.MaxEjectionPercent > 100 {
			l.errorf(field+".outlierDetection.maxEjectionPercent", "%d is out of range; use 0-100", od.MaxEjectionPercent)
		}
	}
	for i, p := range tp.PortLevelSettings {
		f := fmt.Sprintf("%s.portLevelSettings[%d]", field, i)
		if p.Port == nil || p.Port.Number == 0 {
			l.errorf(f+".port", "port-level settings need a port number")
		}
		validateTLS(l, f+".tls", p.Tls)
	}
}

func validateTLS(l *issues, field string, tls *networking.ClientTLSSettings) {
	if tls == nil {
		return
	}
	if tls.Mode == networking.ClientTLSSettings_MUTUAL && tls.CredentialName == "" && (tls.ClientCertificate == "" || tls.PrivateKey == "") {
		l.errorf(field, "mode MUTUAL needs credentialName, or clientCertificate and privateKey")
	}
	if (tls.Mode == networking.ClientTLSSettings_DISABLE || tls.Mode == networking.ClientTLSSettings_ISTIO_MUTUAL) &&
		(tls.CredentialName != "" || tls.ClientCertificate != "" || tls.PrivateKey != "" || tls.CaCertificates != "") {
		l.errorf(field, "mode %s takes no certificates; remove them or use mode SIMPLE or MUTUAL", tls.Mode)
	}
}

// ---- Gateway

func validateGateway(l *issues, gw *networking.Gateway) {
	if len(gw.Servers) == 0 {
		l.errorf("spec.servers", "a Gateway needs at least one server")
	}
	validateLabels(l, "spec.selector", gw.Selector)
	names := map[string]bool{}
	for i, s := range gw.Servers {
		f := fmt.Sprintf("spec.servers[%d]", i)
		if s.Port == nil {
			l.errorf(f+".port", "server port is required")
		} else {
			validatePort(l, f+".port.number", s.Port.Number)
			if s.Port.Protocol == "" {
				l.errorf(f+".port.protocol", "protocol is required (HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or TLS)")
			}
			if s.Port.Name != "" {
				if names[s.Port.Name] {
					l.errorf(f+".port.name", "port name %q is used by another server; names must be unique", s.Port.Name)
				}
				names[s.Port.Name] = true
			}
		}
		if len(s.Hosts) == 0 {
			l.errorf(f+".hosts", "server needs at least one host (\"*\" for any)")
		}
		for j, h := range s.Hosts {
			validateHost(l, fmt.Sprintf("%s.hosts[%d]", f, j), h, true)
		}
		if s.Port != nil {
			proto := strings.ToUpper(s.Port.Protocol)
			if (proto == "HTTPS" || proto == "TLS") && s.Tls == nil {
				l.errorf(f+".tls", "%s server needs tls settings (mode and credentialName)", proto)
			}
		}
		if t := s.Tls; t != nil {
			needsCert := t.Mode == networking.ServerTLSSettings_SIMPLE || t.Mode == networking.ServerTLSSettings_MUTUAL
			if needsCert && t.CredentialName == "" && len(t.CredentialNames) == 0 && (t.ServerCertificate == "" || t.PrivateKey == "") {
				l.errorf(f+".tls", "mode %s needs credentialName (a Secret with the certificate) or serverCertificate and privateKey", t.Mode)
			}
		}
	}
}

// ---- ServiceEntry

func validateServiceEntry(l *issues, se *networking.ServiceEntry) {
	if len(se.Hosts) == 0 {
		l.errorf("spec.hosts", "at least one host is required")
	}
	for i, h := range se.Hosts {
		if h == "*" {
			l.errorf(fmt.Sprintf("spec.hosts[%d]", i), "host \"*\" is not allowed in a ServiceEntry; name the hosts")
			continue
		}
		validateHost(l, fmt.Sprintf("spec.hosts[%d]", i), h, false)
	}
	for i, a := range se.Addresses {
		validateIPOrCIDR(l, fmt.Sprintf("spec.addresses[%d]", i), a)
	}
	numbers, names := map[uint32]bool{}, map[string]bool{}
	for i, p := range se.Ports {
		f := fmt.Sprintf("spec.ports[%d]", i)
		validatePort(l, f+".number", p.Number)
		if numbers[p.Number] {
			l.errorf(f+".number", "port %d is listed twice", p.Number)
		}
		numbers[p.Number] = true
		if p.Name == "" {
			l.errorf(f+".name", "port name is required")
		} else if names[p.Name] {
			l.errorf(f+".name", "port name %q is listed twice", p.Name)
		}
		names[p.Name] = true
	}
	if se.Resolution == networking.ServiceEntry_NONE && len(se.Endpoints) > 0 && len(se.Addresses) == 0 {
		l.warnf("spec.resolution", "endpoints are ignored with resolution NONE; use STATIC")
	}
	if se.Resolution == networking.ServiceEntry_STATIC && len(se.Endpoints) == 0 && se.WorkloadSelector == nil {
		l.errorf("spec.endpoints", "resolution STATIC needs endpoints or a workloadSelector")
	}
	for i, e := range se.Endpoints {
		f := fmt.Sprintf("spec.endpoints[%d]", i)
		if se.Resolution == networking.ServiceEntry_STATIC && e.Address != "" && net.ParseIP(e.Address) == nil && !strings.HasPrefix(e.Address, "unix://") {
			l.errorf(f+".address", "resolution STATIC needs IP addresses, got %q; use resolution DNS for host names", e.Address)
		}
		validatePortMap(l, f+".ports", e.Ports)
		validateLabels(l, f+".labels", e.Labels)
	}
}

// ---- Sidecar

func validateSidecar(l *issues, sc *networking.Sidecar) {
	if sc.WorkloadSelector != nil {
		if len(sc.WorkloadSelector.Labels) == 0 {
			l.errorf("spec.workloadSelector.labels", "workloadSelector needs labels; remove it to apply to the whole namespace")
		}
		validateLabels(l, "spec.workloadSelector.labels", sc.WorkloadSelector.Labels)
	}
	for i, e := range sc.Egress {
		f := fmt.Sprintf("spec.egress[%d]", i)
		if len(e.Hosts) == 0 {
			l.errorf(f+".hosts", "egress listener needs hosts in NAMESPACE/HOST form, for example ./* or mesh-system/*")
		}
		for j, h := range e.Hosts {
			hf := fmt.Sprintf("%s.hosts[%d]", f, j)
			if !strings.Contains(h, "/") {
				l.errorf(hf, "egress host %q must be NAMESPACE/HOST, for example ./%s or */%s", h, h, h)
				continue
			}
			validateHost(l, hf, h, true)
		}
		if e.Port != nil {
			validatePort(l, f+".port.number", e.Port.Number)
		}
	}
	for i, in := range sc.Ingress {
		f := fmt.Sprintf("spec.ingress[%d]", i)
		if in.Port == nil {
			l.errorf(f+".port", "ingress listener needs a port")
		} else {
			validatePort(l, f+".port.number", in.Port.Number)
		}
	}
}

// ---- security

func validateSelector(l *issues, field string, s interface{ GetMatchLabels() map[string]string }) {
	if s == nil {
		return
	}
	validateLabels(l, field+".matchLabels", s.GetMatchLabels())
}

func validatePeerAuthentication(l *issues, pa *security.PeerAuthentication) {
	if pa.Selector != nil {
		validateSelector(l, "spec.selector", pa.Selector)
	}
	if len(pa.PortLevelMtls) > 0 && (pa.Selector == nil || len(pa.Selector.MatchLabels) == 0) {
		l.errorf("spec.portLevelMtls", "portLevelMtls needs a selector: ports are only known for selected workloads")
	}
	for p := range pa.PortLevelMtls {
		validatePort(l, fmt.Sprintf("spec.portLevelMtls.%d", p), p)
	}
}

// Compiled on first use, not at package initialisation, which every meshctl
// command pays.
var principalRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^/]+/ns/[^/]+/sa/[^/]+$`) })

func validateAuthorizationPolicy(l *issues, ap *security.AuthorizationPolicy) {
	if ap.Selector != nil {
		validateSelector(l, "spec.selector", ap.Selector)
	}
	if ap.Action == security.AuthorizationPolicy_CUSTOM {
		if ap.GetProvider() == nil || ap.GetProvider().Name == "" {
			l.errorf("spec.provider", "action CUSTOM needs provider.name")
		}
	} else if ap.GetProvider() != nil {
		l.errorf("spec.provider", "provider is only allowed with action CUSTOM")
	}
	for i, r := range ap.Rules {
		f := fmt.Sprintf("spec.rules[%d]", i)
		for j, from := range r.From {
			ff := fmt.Sprintf("%s.from[%d]", f, j)
			if from.Source == nil {
				l.errorf(ff+".source", "from needs a source")
				continue
			}
			for k, p := range append(append([]string{}, from.Source.Principals...), from.Source.NotPrincipals...) {
				if p == "*" || strings.HasPrefix(p, "*") || strings.HasSuffix(p, "*") {
					continue
				}
				if strings.HasPrefix(p, "spiffe://") {
					l.errorf(fmt.Sprintf("%s.source.principals[%d]", ff, k), "principal %q must not start with spiffe://; write %q", p, strings.TrimPrefix(p, "spiffe://"))
				}
			}
			for k, ip := range from.Source.IpBlocks {
				validateIPOrCIDR(l, fmt.Sprintf("%s.source.ipBlocks[%d]", ff, k), ip)
			}
		}
		for j, to := range r.To {
			tf := fmt.Sprintf("%s.to[%d]", f, j)
			if to.Operation == nil {
				l.errorf(tf+".operation", "to needs an operation")
				continue
			}
			for k, p := range to.Operation.Ports {
				var n uint32
				if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n == 0 || n > 65535 {
					l.errorf(fmt.Sprintf("%s.operation.ports[%d]", tf, k), "%q is not a port number", p)
				}
			}
		}
		for j, c := range r.When {
			if c.Key == "" {
				l.errorf(fmt.Sprintf("%s.when[%d].key", f, j), "condition key is required")
			}
			if len(c.Values) == 0 && len(c.NotValues) == 0 {
				l.errorf(fmt.Sprintf("%s.when[%d]", f, j), "condition needs values or notValues")
			}
		}
	}
}

// PrincipalWellFormed reports whether p can match a workload identity
// (TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT, or a pattern with a leading or
// trailing *).
func PrincipalWellFormed(p string) bool {
	if strings.HasPrefix(p, "*") || strings.HasSuffix(p, "*") {
		return true
	}
	return principalRE().MatchString(p)
}

func validateRequestAuthentication(l *issues, ra *security.RequestAuthentication) {
	if ra.Selector != nil {
		validateSelector(l, "spec.selector", ra.Selector)
	}
	issuers := map[string]bool{}
	for i, j := range ra.JwtRules {
		f := fmt.Sprintf("spec.jwtRules[%d]", i)
		if j.Issuer == "" {
			l.errorf(f+".issuer", "issuer is required")
		} else if issuers[j.Issuer] {
			l.errorf(f+".issuer", "issuer %q is configured twice", j.Issuer)
		}
		issuers[j.Issuer] = true
		if j.JwksUri != "" {
			u, err := url.Parse(j.JwksUri)
			if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
				l.errorf(f+".jwksUri", "jwksUri %q is not an http(s) URL", j.JwksUri)
			}
		}
		if j.JwksUri != "" && j.Jwks != "" {
			l.errorf(f, "set jwksUri or jwks, not both")
		}
	}
}

// ---- core

func validateService(l *issues, s *corev1.Service) {
	for i, p := range s.Spec.Ports {
		if p.Port <= 0 || p.Port > 65535 {
			l.errorf(fmt.Sprintf("spec.ports[%d].port", i), "port %d is out of range; use 1-65535", p.Port)
		}
	}
	if s.Spec.Type == corev1.ServiceTypeExternalName && s.Spec.ExternalName == "" {
		l.errorf("spec.externalName", "type ExternalName needs externalName")
	}
}

// ValidateDocument checks one object as the validation webhook receives it
// (JSON, or YAML): schema problems such as unknown fields come back as
// Issues, like the rules of Validate. The error is for input that is not an
// object at all.
func ValidateDocument(data []byte) ([]Issue, error) {
	rs, errs := config.Parse("object", data)
	var out []Issue
	for _, e := range errs {
		if e.Kind == config.ErrSyntax {
			return nil, fmt.Errorf("%s", e.Message)
		}
		out = append(out, Issue{Severity: SeverityError, Field: e.Field, Message: e.Message})
	}
	for _, r := range rs {
		out = append(out, Validate(r)...)
	}
	return out, nil
}
