package validation

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// The Gateway API's rules: the OpenAPI constraints and CEL rules
// (x-kubernetes-validations) of its v1.6 standard CRDs that the typed
// decoding in config does not already enforce, in the CRDs' words where
// they have them. docs/gateway-api.md lists the rules left out.

// Patterns of the CRDs, compiled when a Gateway API object is first
// validated: compiled at package initialisation they cost every command's
// start-up, `meshctl version` included (cmd/meshctl TestStartupInitStaysLight).
type gatewayPatterns struct {
	hostname, path, duration, grpcService, grpcMethod, controller, headerName *regexp.Regexp
}

var gwRE = sync.OnceValue(func() *gatewayPatterns {
	return &gatewayPatterns{
		hostname:    regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`),
		path:        regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`),
		duration:    regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`),
		grpcService: regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`),
		grpcMethod:  regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`),
		controller:  regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$`),
		headerName:  regexp.MustCompile("^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$"),
	}
})

// Limits of the CRDs.
const (
	gwMaxParentRefs     = 32
	gwMaxRules          = 16
	gwMaxMatchesPerRule = 64
	gwMaxMatches        = 128
	gwMaxBackendRefs    = 16
	gwMaxListeners      = 64
	gwMaxWeight         = 1000000
)

func validateGatewayClass(l *issues, gc *gatewayv1.GatewayClass) {
	c := string(gc.Spec.ControllerName)
	switch {
	case c == "":
		l.errorf("spec.controllerName", "controllerName is required (a domain-prefixed path such as istio.io/gateway-controller)")
	case !gwRE().controller.MatchString(c) || len(c) > 253:
		l.errorf("spec.controllerName", "invalid controllerName %q: it must be a domain-prefixed path such as istio.io/gateway-controller", c)
	}
}

func validateKubernetesGateway(l *issues, gw *gatewayv1.Gateway) {
	s := gw.Spec
	if s.GatewayClassName == "" {
		l.errorf("spec.gatewayClassName", "gatewayClassName is required; name the GatewayClass of the controller that serves this Gateway (istio for the mesh)")
	}
	if len(s.Listeners) == 0 {
		l.errorf("spec.listeners", "at least one listener is required")
	}
	if len(s.Listeners) > gwMaxListeners {
		l.errorf("spec.listeners", "%d listeners; at most %d are allowed", len(s.Listeners), gwMaxListeners)
	}
	names := map[gatewayv1.SectionName]int{}
	type portKey struct {
		port     gatewayv1.PortNumber
		protocol gatewayv1.ProtocolType
		hostname string
	}
	combos := map[portKey]int{}
	for i, ls := range s.Listeners {
		f := fmt.Sprintf("spec.listeners[%d]", i)
		validateSectionName(l, f+".name", string(ls.Name), true)
		if j, dup := names[ls.Name]; dup && ls.Name != "" {
			l.errorf(f+".name", "Listener name must be unique within the Gateway: %q is also the name of listeners[%d]", ls.Name, j)
		} else {
			names[ls.Name] = i
		}
		validateGWPort(l, f+".port", int32(ls.Port), true)
		host := ""
		if ls.Hostname != nil {
			host = string(*ls.Hostname)
		}
		k := portKey{ls.Port, ls.Protocol, host}
		if j, dup := combos[k]; dup {
			l.errorf(f, "Combination of port, protocol and hostname must be unique for each listener: listeners[%d] has the same port %d, protocol %s and hostname %q", j, ls.Port, ls.Protocol, host)
		} else {
			combos[k] = i
		}
		p := ls.Protocol
		switch p {
		case "":
			l.errorf(f+".protocol", "protocol is required (HTTP, HTTPS, TLS, TCP or UDP)")
		case gatewayv1.HTTPProtocolType, gatewayv1.HTTPSProtocolType, gatewayv1.TLSProtocolType, gatewayv1.TCPProtocolType, gatewayv1.UDPProtocolType:
		default:
			// Implementation-specific protocols must be domain-prefixed.
			if !strings.Contains(string(p), "/") {
				l.errorf(f+".protocol", "unknown protocol %q: use HTTP, HTTPS, TLS, TCP or UDP (others must be domain-prefixed, example.com/proto)", p)
			}
		}
		if ls.Hostname != nil {
			switch {
			case p == gatewayv1.TCPProtocolType || p == gatewayv1.UDPProtocolType:
				if host != "" {
					l.errorf(f+".hostname", "hostname must not be specified for protocols ['TCP', 'UDP']")
				}
			default:
				validateGWHostname(l, f+".hostname", host)
			}
		}
		tls := ls.TLS
		switch p {
		case gatewayv1.HTTPProtocolType, gatewayv1.TCPProtocolType, gatewayv1.UDPProtocolType:
			if tls != nil {
				l.errorf(f+".tls", "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']")
			}
		case gatewayv1.HTTPSProtocolType:
			if tls == nil {
				l.errorf(f+".tls", "an HTTPS listener needs tls with certificateRefs: the Gateway terminates TLS with them")
			} else if tls.Mode != nil && *tls.Mode != "" && *tls.Mode != gatewayv1.TLSModeTerminate {
				l.errorf(f+".tls.mode", "tls mode must be Terminate for protocol HTTPS (use protocol TLS for Passthrough)")
			}
		case gatewayv1.TLSProtocolType:
			if tls == nil || tls.Mode == nil || *tls.Mode == "" {
				l.errorf(f+".tls", "tls mode must be set for protocol TLS (Terminate or Passthrough)")
			}
		}
		if tls != nil {
			mode := gatewayv1.TLSModeTerminate // the API's default
			if tls.Mode != nil && *tls.Mode != "" {
				mode = *tls.Mode
			}
			switch mode {
			case gatewayv1.TLSModeTerminate:
				if len(tls.CertificateRefs) == 0 && len(tls.Options) == 0 {
					l.errorf(f+".tls", "certificateRefs or options must be specified when mode is Terminate")
				}
			case gatewayv1.TLSModePassthrough:
			default:
				l.errorf(f+".tls.mode", "unknown tls mode %q: use Terminate or Passthrough", mode)
			}
			for j, c := range tls.CertificateRefs {
				validateObjectName(l, fmt.Sprintf("%s.tls.certificateRefs[%d].name", f, j), string(c.Name))
			}
		}
		if ar := ls.AllowedRoutes; ar != nil {
			if ns := ar.Namespaces; ns != nil && ns.From != nil {
				switch *ns.From {
				case gatewayv1.NamespacesFromAll, gatewayv1.NamespacesFromSame:
				case gatewayv1.NamespacesFromSelector:
					if ns.Selector == nil {
						l.errorf(f+".allowedRoutes.namespaces.selector", "from: Selector needs a selector of the namespaces whose routes may attach")
					}
				default:
					l.errorf(f+".allowedRoutes.namespaces.from", "unknown value %q: use All, Same or Selector", *ns.From)
				}
			}
			for j, k := range ar.Kinds {
				if k.Kind == "" {
					l.errorf(fmt.Sprintf("%s.allowedRoutes.kinds[%d].kind", f, j), "kind is required")
				}
			}
		}
	}
	seen := map[string]int{}
	for i, a := range s.Addresses {
		f := fmt.Sprintf("spec.addresses[%d]", i)
		t := gatewayv1.IPAddressType
		if a.Type != nil {
			t = *a.Type
		}
		if t == gatewayv1.HostnameAddressType && a.Value != "" && !gwRE().hostname.MatchString(a.Value) {
			l.errorf(f+".value", "invalid hostname %q", a.Value)
		}
		if a.Value == "" {
			continue
		}
		k := string(t) + "/" + a.Value
		if j, dup := seen[k]; dup && (t == gatewayv1.IPAddressType || t == gatewayv1.HostnameAddressType) {
			l.errorf(f+".value", "%s values must be unique: addresses[%d] is also %q", t, j, a.Value)
		} else {
			seen[k] = i
		}
	}
}

// routeRules is a route kind's own checks of its rules (of type R), which
// validateRoute calls among the checks both kinds share, in the order the
// rule's fields are written.
type routeRules[R any] interface {
	rules() []R
	matches(l *issues, rule R, f string)
	// filters checks the rule's filters (j < 0) or backendRef j's.
	filters(l *issues, rule R, j int, f string)
	// rest checks the fields only the kind has, after the backendRefs.
	rest(l *issues, rule R, f string)
}

// validateRoute checks an HTTPRoute or a GRPCRoute, rt being the view of
// kind's rules: parentRefs, hostnames, the rule, match and backendRef
// limits and the backendRefs, with the kind's own checks of each rule.
func validateRoute[R any](l *issues, rt *config.GatewayRoute, kind routeRules[R]) {
	validateRouteCommon(l, rt.ParentRefs, rt.Hostnames)
	if len(rt.Rules) > gwMaxRules {
		l.errorf("spec.rules", "%d rules; at most %d are allowed", len(rt.Rules), gwMaxRules)
	}
	rules := kind.rules()
	total := 0
	for i, rule := range rt.Rules {
		f := fmt.Sprintf("spec.rules[%d]", i)
		if rule.Name != nil {
			validateSectionName(l, f+".name", string(*rule.Name), false)
		}
		total += rule.Matches
		if rule.Matches > gwMaxMatchesPerRule {
			l.errorf(f+".matches", "%d matches; at most %d are allowed per rule", rule.Matches, gwMaxMatchesPerRule)
		}
		kind.matches(l, rules[i], f)
		kind.filters(l, rules[i], -1, f+".filters")
		if len(rule.BackendRefs) > gwMaxBackendRefs {
			l.errorf(f+".backendRefs", "%d backendRefs; at most %d are allowed", len(rule.BackendRefs), gwMaxBackendRefs)
		}
		for j, b := range rule.BackendRefs {
			bf := fmt.Sprintf("%s.backendRefs[%d]", f, j)
			validateBackendRef(l, bf, b.BackendRef)
			kind.filters(l, rules[i], j, bf+".filters")
		}
		kind.rest(l, rules[i], f)
	}
	if total >= gwMaxMatches {
		l.errorf("spec.rules", "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128 (this route has %d)", total)
	}
}

// httpRouteRules are an HTTPRoute's own rule checks.
type httpRouteRules struct{ *gatewayv1.HTTPRoute }

func (r httpRouteRules) rules() []gatewayv1.HTTPRouteRule { return r.Spec.Rules }

func (httpRouteRules) matches(l *issues, rule gatewayv1.HTTPRouteRule, f string) {
	for j, m := range rule.Matches {
		validateHTTPMatch(l, fmt.Sprintf("%s.matches[%d]", f, j), m)
	}
}

func (httpRouteRules) filters(l *issues, rule gatewayv1.HTTPRouteRule, j int, f string) {
	if j >= 0 {
		validateHTTPFilters(l, f, rule.BackendRefs[j].Filters, rule.Matches)
		return
	}
	validateHTTPFilters(l, f, rule.Filters, rule.Matches)
	if len(rule.BackendRefs) > 0 {
		for k, fl := range rule.Filters {
			if fl.Type == gatewayv1.HTTPRouteFilterRequestRedirect {
				l.errorf(fmt.Sprintf("%s[%d]", f, k), "RequestRedirect filter must not be used together with backendRefs: a redirect answers the request itself")
			}
		}
	}
}

func (httpRouteRules) rest(l *issues, rule gatewayv1.HTTPRouteRule, f string) {
	if t := rule.Timeouts; t != nil {
		req := validateGWDuration(l, f+".timeouts.request", t.Request)
		be := validateGWDuration(l, f+".timeouts.backendRequest", t.BackendRequest)
		if req > 0 && be > req {
			l.errorf(f+".timeouts.backendRequest", "backendRequest timeout cannot be longer than request timeout (%s > %s)", *t.BackendRequest, *t.Request)
		}
	}
	if rt := rule.Retry; rt != nil {
		if rt.Attempts != nil && *rt.Attempts < 0 {
			l.errorf(f+".retry.attempts", "attempts must not be negative")
		}
		validateGWDuration(l, f+".retry.backoff", rt.Backoff)
		for j, c := range rt.Codes {
			if c < 400 || c > 599 {
				l.errorf(fmt.Sprintf("%s.retry.codes[%d]", f, j), "retry code %d is out of range; use 400-599", c)
			}
		}
	}
}

func validateHTTPMatch(l *issues, f string, m gatewayv1.HTTPRouteMatch) {
	if p := m.Path; p != nil {
		t := gatewayv1.PathMatchPathPrefix
		if p.Type != nil {
			t = *p.Type
		}
		v := "/"
		if p.Value != nil {
			v = *p.Value
		}
		switch t {
		case gatewayv1.PathMatchExact, gatewayv1.PathMatchPathPrefix:
			if !strings.HasPrefix(v, "/") {
				l.errorf(f+".path.value", "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']: write /%s", v)
				break
			}
			for _, bad := range []string{"//", "/./", "/../", "%2f", "%2F", "#"} {
				if strings.Contains(v, bad) {
					l.errorf(f+".path.value", "must not contain '%s' when type one of ['Exact', 'PathPrefix']", bad)
				}
			}
			for _, bad := range []string{"/..", "/."} {
				if strings.HasSuffix(v, bad) {
					l.errorf(f+".path.value", "must not end with '%s' when type one of ['Exact', 'PathPrefix']", bad)
				}
			}
			if !gwRE().path.MatchString(v) {
				l.errorf(f+".path.value", "path %q has characters a URL path cannot hold unescaped; percent-encode them", v)
			}
		case gatewayv1.PathMatchRegularExpression:
			validateRegex(l, f+".path.value", v)
		default:
			l.errorf(f+".path.type", "type must be one of ['Exact', 'PathPrefix', 'RegularExpression'], got %q", t)
		}
	}
	names := map[string]bool{}
	for i, h := range m.Headers {
		hf := fmt.Sprintf("%s.headers[%d]", f, i)
		validateHeaderName(l, hf+".name", string(h.Name))
		// The API server keys this list by name, case-insensitively for HTTP.
		if n := strings.ToLower(string(h.Name)); names[n] {
			l.errorf(hf+".name", "header %q is matched twice in one match; the API keeps only one match per header name", h.Name)
		} else {
			names[n] = true
		}
		if h.Type != nil {
			switch *h.Type {
			case gatewayv1.HeaderMatchExact:
			case gatewayv1.HeaderMatchRegularExpression:
				validateRegex(l, hf+".value", h.Value)
			default:
				l.errorf(hf+".type", "unknown header match type %q: use Exact or RegularExpression", *h.Type)
			}
		}
	}
	qnames := map[string]bool{}
	for i, q := range m.QueryParams {
		qf := fmt.Sprintf("%s.queryParams[%d]", f, i)
		if q.Name == "" {
			l.errorf(qf+".name", "name is required")
		}
		if qnames[string(q.Name)] {
			l.errorf(qf+".name", "query parameter %q is matched twice in one match", q.Name)
		}
		qnames[string(q.Name)] = true
		if q.Type != nil {
			switch *q.Type {
			case gatewayv1.QueryParamMatchExact:
			case gatewayv1.QueryParamMatchRegularExpression:
				validateRegex(l, qf+".value", q.Value)
			default:
				l.errorf(qf+".type", "unknown query parameter match type %q: use Exact or RegularExpression", *q.Type)
			}
		}
	}
	if m.Method != nil {
		switch *m.Method {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		default:
			l.errorf(f+".method", "unknown method %q: use GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE or PATCH", *m.Method)
		}
	}
}

// validateHTTPFilters checks the filters of a rule or of one backendRef.
func validateHTTPFilters(l *issues, f string, filters []gatewayv1.HTTPRouteFilter, matches []gatewayv1.HTTPRouteMatch) {
	count := map[gatewayv1.HTTPRouteFilterType]int{}
	for i, fl := range filters {
		ff := fmt.Sprintf("%s[%d]", f, i)
		count[fl.Type]++
		if count[fl.Type] == 2 {
			switch fl.Type {
			case gatewayv1.HTTPRouteFilterRequestHeaderModifier, gatewayv1.HTTPRouteFilterResponseHeaderModifier,
				gatewayv1.HTTPRouteFilterRequestRedirect, gatewayv1.HTTPRouteFilterURLRewrite, gatewayv1.HTTPRouteFilterCORS:
				l.errorf(ff+".type", "%s filter cannot be repeated; merge the two into one", fl.Type)
			}
		}
		set := map[gatewayv1.HTTPRouteFilterType]bool{
			gatewayv1.HTTPRouteFilterRequestHeaderModifier:  fl.RequestHeaderModifier != nil,
			gatewayv1.HTTPRouteFilterResponseHeaderModifier: fl.ResponseHeaderModifier != nil,
			gatewayv1.HTTPRouteFilterRequestMirror:          fl.RequestMirror != nil,
			gatewayv1.HTTPRouteFilterRequestRedirect:        fl.RequestRedirect != nil,
			gatewayv1.HTTPRouteFilterURLRewrite:             fl.URLRewrite != nil,
			gatewayv1.HTTPRouteFilterCORS:                   fl.CORS != nil,
			gatewayv1.HTTPRouteFilterExternalAuth:           fl.ExternalAuth != nil,
			gatewayv1.HTTPRouteFilterExtensionRef:           fl.ExtensionRef != nil,
		}
		checkFilterFields(l, ff, string(fl.Type), filterFieldNames, set)
		if rr := fl.RequestRedirect; rr != nil {
			if rr.Scheme != nil && *rr.Scheme != "http" && *rr.Scheme != "https" {
				l.errorf(ff+".requestRedirect.scheme", "scheme must be http or https, got %q", *rr.Scheme)
			}
			if rr.StatusCode != nil && *rr.StatusCode != 301 && *rr.StatusCode != 302 && *rr.StatusCode != 303 && *rr.StatusCode != 307 && *rr.StatusCode != 308 {
				l.errorf(ff+".requestRedirect.statusCode", "statusCode must be 301, 302, 303, 307 or 308, got %d", *rr.StatusCode)
			}
			if rr.Port != nil {
				validateGWPort(l, ff+".requestRedirect.port", int32(*rr.Port), true)
			}
			validatePathModifier(l, ff+".requestRedirect.path", rr.Path, matches, "RequestRedirect")
		}
		if rw := fl.URLRewrite; rw != nil {
			validatePathModifier(l, ff+".urlRewrite.path", rw.Path, matches, "URLRewrite")
		}
		if m := fl.RequestMirror; m != nil {
			validateMirror(l, ff+".requestMirror", m)
		}
		if c := fl.CORS; c != nil {
			star := func(field string, n int, has bool, what string) {
				if has && n > 1 {
					l.errorf(ff+".cors."+field, "%s cannot contain '*' alongside other %s", strings.ToUpper(field[:1])+field[1:], what)
				}
			}
			hasStar := func(n int, at func(int) string) bool {
				for i := range n {
					if at(i) == "*" {
						return true
					}
				}
				return false
			}
			star("allowOrigins", len(c.AllowOrigins), hasStar(len(c.AllowOrigins), func(i int) string { return string(c.AllowOrigins[i]) }), "origins")
			star("allowMethods", len(c.AllowMethods), hasStar(len(c.AllowMethods), func(i int) string { return string(c.AllowMethods[i]) }), "methods")
			star("allowHeaders", len(c.AllowHeaders), hasStar(len(c.AllowHeaders), func(i int) string { return string(c.AllowHeaders[i]) }), "headers")
		}
		validateHeaderFilter(l, ff+".requestHeaderModifier", fl.RequestHeaderModifier)
		validateHeaderFilter(l, ff+".responseHeaderModifier", fl.ResponseHeaderModifier)
	}
	if count[gatewayv1.HTTPRouteFilterRequestRedirect] > 0 && count[gatewayv1.HTTPRouteFilterURLRewrite] > 0 {
		l.errorf(f, "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both: a redirect sends the client elsewhere, a rewrite forwards the changed request")
	}
}

var filterFieldNames = map[gatewayv1.HTTPRouteFilterType]string{
	gatewayv1.HTTPRouteFilterRequestHeaderModifier:  "requestHeaderModifier",
	gatewayv1.HTTPRouteFilterResponseHeaderModifier: "responseHeaderModifier",
	gatewayv1.HTTPRouteFilterRequestMirror:          "requestMirror",
	gatewayv1.HTTPRouteFilterRequestRedirect:        "requestRedirect",
	gatewayv1.HTTPRouteFilterURLRewrite:             "urlRewrite",
	gatewayv1.HTTPRouteFilterCORS:                   "cors",
	gatewayv1.HTTPRouteFilterExternalAuth:           "externalAuth",
	gatewayv1.HTTPRouteFilterExtensionRef:           "extensionRef",
}

// checkFilterFields: a filter's type names the one field that must be set
// (filter.X must be specified for X filter.type / must be nil otherwise).
func checkFilterFields[T ~string](l *issues, f, typ string, fields map[T]string, set map[T]bool) {
	if _, known := fields[T(typ)]; !known {
		var types []string
		for _, t := range slices.Sorted(maps.Keys(fields)) {
			types = append(types, string(t))
		}
		l.errorf(f+".type", "unknown filter type %q: use one of %s", typ, strings.Join(types, ", "))
	}
	// In a fixed order, so that the same input gives the same report.
	for _, t := range slices.Sorted(maps.Keys(fields)) {
		field := fields[t]
		switch {
		case set[t] && string(t) != typ:
			l.errorf(f+"."+field, "filter.%s must be nil if the filter.type is not %s", field, t)
		case !set[t] && string(t) == typ:
			l.errorf(f, "filter.%s must be specified for %s filter.type", field, t)
		}
	}
}

func validatePathModifier(l *issues, f string, p *gatewayv1.HTTPPathModifier, matches []gatewayv1.HTTPRouteMatch, filter string) {
	if p == nil {
		return
	}
	switch p.Type {
	case gatewayv1.FullPathHTTPPathModifier:
		if p.ReplaceFullPath == nil {
			l.errorf(f+".replaceFullPath", "replaceFullPath must be specified when type is set to 'ReplaceFullPath'")
		}
		if p.ReplacePrefixMatch != nil {
			l.errorf(f+".replacePrefixMatch", "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set")
		}
	case gatewayv1.PrefixMatchHTTPPathModifier:
		if p.ReplacePrefixMatch == nil {
			l.errorf(f+".replacePrefixMatch", "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'")
		}
		if p.ReplaceFullPath != nil {
			l.errorf(f+".replaceFullPath", "type must be 'ReplaceFullPath' when replaceFullPath is set")
		}
		// Which prefix would be replaced must be unambiguous.
		ok := len(matches) == 1 && matches[0].Path != nil &&
			(matches[0].Path.Type == nil || *matches[0].Path.Type == gatewayv1.PathMatchPathPrefix)
		if !ok {
			l.errorf(f, "When using %s filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified", filter)
		}
	default:
		l.errorf(f+".type", "type must be ReplaceFullPath or ReplacePrefixMatch, got %q", p.Type)
	}
}

func validateMirror(l *issues, f string, m *gatewayv1.HTTPRequestMirrorFilter) {
	validateBackendObjectRef(l, f+".backendRef", m.BackendRef)
	if m.Percent != nil && m.Fraction != nil {
		l.errorf(f, "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter")
	}
	if m.Percent != nil && (*m.Percent < 0 || *m.Percent > 100) {
		l.errorf(f+".percent", "percent %d is out of range; use 0-100", *m.Percent)
	}
	if fr := m.Fraction; fr != nil {
		den := int32(100)
		if fr.Denominator != nil {
			den = *fr.Denominator
		}
		if den < 1 {
			l.errorf(f+".fraction.denominator", "denominator must be at least 1")
		}
		if fr.Numerator < 0 || fr.Numerator > den {
			l.errorf(f+".fraction.numerator", "numerator must be between 0 and the denominator (%d)", den)
		}
	}
}

func validateHeaderFilter(l *issues, f string, h *gatewayv1.HTTPHeaderFilter) {
	if h == nil {
		return
	}
	seen := map[string]string{}
	note := func(field, name string) {
		validateHeaderName(l, field, name)
		n := strings.ToLower(name)
		if prev, dup := seen[n]; dup {
			l.errorf(field, "header %q is modified twice (also at %s); the API allows each header once per filter", name, prev)
		}
		seen[n] = field
	}
	for i, s := range h.Set {
		note(fmt.Sprintf("%s.set[%d].name", f, i), string(s.Name))
	}
	for i, a := range h.Add {
		note(fmt.Sprintf("%s.add[%d].name", f, i), string(a.Name))
	}
	for i, r := range h.Remove {
		note(fmt.Sprintf("%s.remove[%d]", f, i), r)
	}
}

// grpcRouteRules are a GRPCRoute's own rule checks; it has no fields
// beyond those validateRoute and these check.
type grpcRouteRules struct{ *gatewayv1.GRPCRoute }

func (r grpcRouteRules) rules() []gatewayv1.GRPCRouteRule { return r.Spec.Rules }

func (grpcRouteRules) matches(l *issues, rule gatewayv1.GRPCRouteRule, f string) {
	for j, m := range rule.Matches {
		validateGRPCMatch(l, fmt.Sprintf("%s.matches[%d]", f, j), m)
	}
}

func (grpcRouteRules) filters(l *issues, rule gatewayv1.GRPCRouteRule, j int, f string) {
	fs := rule.Filters
	if j >= 0 {
		fs = rule.BackendRefs[j].Filters
	}
	validateGRPCFilters(l, f, fs)
}

func (grpcRouteRules) rest(*issues, gatewayv1.GRPCRouteRule, string) {}

func validateGRPCMatch(l *issues, mf string, m gatewayv1.GRPCRouteMatch) {
	if mm := m.Method; mm != nil {
		exact := mm.Type == nil || *mm.Type == gatewayv1.GRPCMethodMatchExact
		if !exact && *mm.Type != gatewayv1.GRPCMethodMatchRegularExpression {
			l.errorf(mf+".method.type", "unknown method match type %q: use Exact or RegularExpression", *mm.Type)
			return
		}
		if mm.Service == nil && mm.Method == nil {
			l.errorf(mf+".method", "One or both of 'service' or 'method' must be specified")
		}
		if exact && mm.Service != nil && !gwRE().grpcService.MatchString(*mm.Service) {
			l.errorf(mf+".method.service", "service %q is not a gRPC service name (package.Service)", *mm.Service)
		}
		if exact && mm.Method != nil && !gwRE().grpcMethod.MatchString(*mm.Method) {
			l.errorf(mf+".method.method", "method %q is not a gRPC method name", *mm.Method)
		}
		if !exact {
			if mm.Service != nil {
				validateRegex(l, mf+".method.service", *mm.Service)
			}
			if mm.Method != nil {
				validateRegex(l, mf+".method.method", *mm.Method)
			}
		}
	}
	for k, h := range m.Headers {
		validateHeaderName(l, fmt.Sprintf("%s.headers[%d].name", mf, k), string(h.Name))
	}
}

var grpcFilterFieldNames = map[gatewayv1.GRPCRouteFilterType]string{
	gatewayv1.GRPCRouteFilterRequestHeaderModifier:  "requestHeaderModifier",
	gatewayv1.GRPCRouteFilterResponseHeaderModifier: "responseHeaderModifier",
	gatewayv1.GRPCRouteFilterRequestMirror:          "requestMirror",
	gatewayv1.GRPCRouteFilterExtensionRef:           "extensionRef",
}

func validateGRPCFilters(l *issues, f string, filters []gatewayv1.GRPCRouteFilter) {
	count := map[gatewayv1.GRPCRouteFilterType]int{}
	for i, fl := range filters {
		ff := fmt.Sprintf("%s[%d]", f, i)
		count[fl.Type]++
		if count[fl.Type] == 2 && (fl.Type == gatewayv1.GRPCRouteFilterRequestHeaderModifier || fl.Type == gatewayv1.GRPCRouteFilterResponseHeaderModifier) {
			l.errorf(ff+".type", "%s filter cannot be repeated; merge the two into one", fl.Type)
		}
		checkFilterFields(l, ff, string(fl.Type), grpcFilterFieldNames, map[gatewayv1.GRPCRouteFilterType]bool{
			gatewayv1.GRPCRouteFilterRequestHeaderModifier:  fl.RequestHeaderModifier != nil,
			gatewayv1.GRPCRouteFilterResponseHeaderModifier: fl.ResponseHeaderModifier != nil,
			gatewayv1.GRPCRouteFilterRequestMirror:          fl.RequestMirror != nil,
			gatewayv1.GRPCRouteFilterExtensionRef:           fl.ExtensionRef != nil,
		})
		if m := fl.RequestMirror; m != nil {
			validateMirror(l, ff+".requestMirror", m)
		}
		validateHeaderFilter(l, ff+".requestHeaderModifier", fl.RequestHeaderModifier)
		validateHeaderFilter(l, ff+".responseHeaderModifier", fl.ResponseHeaderModifier)
	}
}

// validateRouteCommon checks parentRefs and hostnames, alike in every route.
func validateRouteCommon(l *issues, parents []gatewayv1.ParentReference, hostnames []gatewayv1.Hostname) {
	if len(parents) > gwMaxParentRefs {
		l.errorf("spec.parentRefs", "%d parentRefs; at most %d are allowed", len(parents), gwMaxParentRefs)
	}
	type parent struct{ group, kind, ns, name string }
	bySection := map[parent]map[string]int{}
	for i, p := range parents {
		f := fmt.Sprintf("spec.parentRefs[%d]", i)
		validateObjectName(l, f+".name", string(p.Name))
		if p.Port != nil {
			validateGWPort(l, f+".port", int32(*p.Port), true)
		}
		if p.SectionName != nil {
			validateSectionName(l, f+".sectionName", string(*p.SectionName), true)
		}
		// Namespace is compared as written: "" and absent are one.
		ref := config.ParentRefOf(p, "")
		k := parent{ref.Group, ref.Kind, ref.Namespace, ref.Name}
		sec := ""
		if p.SectionName != nil {
			sec = string(*p.SectionName)
		}
		if bySection[k] == nil {
			bySection[k] = map[string]int{}
		}
		if j, dup := bySection[k][sec]; dup {
			l.errorf(f, "sectionName must be unique when parentRefs includes 2 or more references to the same parent: parentRefs[%d] is the same %s %s%s", j, ref.Kind, ref.Name, sectionSuffix(sec))
			continue
		}
		if len(bySection[k]) > 0 && (sec == "" || hasEmpty(bySection[k])) {
			l.errorf(f, "sectionName must be specified when parentRefs includes 2 or more references to the same parent (%s %s)", ref.Kind, ref.Name)
		}
		bySection[k][sec] = i
	}
	for i, h := range hostnames {
		validateGWHostname(l, fmt.Sprintf("spec.hostnames[%d]", i), string(h))
	}
}

func sectionSuffix(sec string) string {
	if sec == "" {
		return " without a sectionName"
	}
	return " with sectionName " + sec
}

func hasEmpty(m map[string]int) bool {
	_, ok := m[""]
	return ok
}

func validateBackendRef(l *issues, f string, b gatewayv1.BackendRef) {
	validateBackendObjectRef(l, f, b.BackendObjectReference)
	if b.Weight != nil && (*b.Weight < 0 || *b.Weight > gwMaxWeight) {
		l.errorf(f+".weight", "weight %d is out of range; use 0-%d (weights are relative to the rule's other backends)", *b.Weight, gwMaxWeight)
	}
}

func validateBackendObjectRef(l *issues, f string, b gatewayv1.BackendObjectReference) {
	validateObjectName(l, f+".name", string(b.Name))
	ref := config.BackendRefOf(b, "")
	if ref.IsService() && b.Port == nil {
		l.errorf(f+".port", "Must have port for Service reference: give the Service port to send to")
	}
	if b.Port != nil {
		validateGWPort(l, f+".port", int32(*b.Port), true)
	}
}

func validateReferenceGrant(l *issues, rg *gatewayv1.ReferenceGrant) {
	if len(rg.Spec.From) == 0 {
		l.errorf("spec.from", "from is required: name the group, kind and namespace of the objects that may refer here")
	}
	if len(rg.Spec.To) == 0 {
		l.errorf("spec.to", "to is required: name the group and kind of the objects here that may be referred to")
	}
	for i, fr := range rg.Spec.From {
		f := fmt.Sprintf("spec.from[%d]", i)
		if fr.Kind == "" {
			l.errorf(f+".kind", "kind is required (HTTPRoute, GRPCRoute, Gateway, …)")
		}
		if fr.Namespace == "" {
			l.errorf(f+".namespace", "namespace is required: the namespace of the referring objects")
		} else {
			for _, msg := range dns1123Label(string(fr.Namespace)) {
				l.errorf(f+".namespace", "invalid namespace %q: %s", fr.Namespace, msg)
			}
		}
	}
	for i, to := range rg.Spec.To {
		f := fmt.Sprintf("spec.to[%d]", i)
		if to.Kind == "" {
			l.errorf(f+".kind", "kind is required (Service, Secret, …)")
		}
		if to.Name != nil {
			validateObjectName(l, f+".name", string(*to.Name))
		}
	}
}

// ---- Gateway API helpers

func validateGWPort(l *issues, f string, p int32, required bool) {
	if p == 0 && !required {
		return
	}
	if p < 1 || p > 65535 {
		l.errorf(f, "port %d is out of range; use 1-65535", p)
	}
}

func validateGWHostname(l *issues, f, h string) {
	switch {
	case h == "":
		l.errorf(f, "hostname must not be empty")
	case len(h) > 253:
		l.errorf(f, "hostname %q is longer than 253 characters", h)
	case net.ParseIP(h) != nil:
		l.errorf(f, "hostname %q is an IP address; the Gateway API matches hostnames only (leave it out to match every request)", h)
	case !gwRE().hostname.MatchString(h):
		l.errorf(f, "invalid hostname %q: lower-case DNS names only, optionally starting with '*.', without a port", h)
	}
}

func validateSectionName(l *issues, f, name string, required bool) {
	if name == "" {
		if required {
			l.errorf(f, "name is required")
		}
		return
	}
	for _, msg := range dns1123Subdomain(name) {
		l.errorf(f, "invalid name %q: %s", name, msg)
	}
}

func validateObjectName(l *issues, f, name string) {
	if name == "" {
		l.errorf(f, "name is required")
		return
	}
	if len(name) > 253 {
		l.errorf(f, "name is longer than 253 characters")
	}
}

func validateHeaderName(l *issues, f, name string) {
	switch {
	case name == "":
		l.errorf(f, "header name is required")
	case !gwRE().headerName.MatchString(name):
		l.errorf(f, "invalid header name %q (RFC 7230 token characters only)", name)
	}
}

// validateGWDuration checks a Gateway API duration ("10s", "1h30m", "500ms";
// Go-like but without fractions or other units) and returns it, 0 when
// absent or invalid.
func validateGWDuration(l *issues, f string, d *gatewayv1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	if !gwRE().duration.MatchString(string(*d)) {
		l.errorf(f, "invalid duration %q: write up to four parts of 1-5 digits with h, m, s or ms (10s, 1m30s, 500ms)", *d)
		return 0
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil {
		l.errorf(f, "invalid duration %q: %v", *d, err)
		return 0
	}
	return v
}
