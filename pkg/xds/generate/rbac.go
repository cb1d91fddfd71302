package generate

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacconfig "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// RBACFilterName is the HTTP filter that enforces AuthorizationPolicies,
// in Envoy sidecars and in xDS-enabled gRPC servers alike; the DENY and the
// ALLOW filter are told apart by a suffix (grpc-go rejects a listener that
// names two filters alike).
const RBACFilterName = "envoy.filters.http.rbac"

// rbacFilters turns AuthorizationPolicies into RBAC HTTP filters for one
// kind of client: DENY policies first, then ALLOW ones (Istio's order).
//
// What a client cannot check fails closed, as in Istio: an ALLOW rule that
// uses it is left out (it allows nothing), a DENY rule is kept without it
// (it denies more). Each such rule is reported, naming its policy, so that
// the server logs it and counts it in its problems metric. Both kinds lack
// requestPrincipals and request.auth.* (no JWT filter is generated); grpc-go
// also refuses header matchers on grpc-* headers and :scheme (it would reject
// the whole listener, so they are never sent to it).
func rbacFilters(policies []*ir.AuthzPolicy, kind clientKind) ([]*hcm.HttpFilter, []Problem) {
	byAction := map[string]*rbacconfig.RBAC{}
	var problems []Problem
	for _, p := range policies {
		action := rbacconfig.RBAC_ALLOW
		if p.Action == "DENY" {
			action = rbacconfig.RBAC_DENY
		}
		r := byAction[p.Action]
		if r == nil {
			r = &rbacconfig.RBAC{Action: action, Policies: map[string]*rbacconfig.Policy{}}
			byAction[p.Action] = r
		}
		ns, name, _ := strings.Cut(p.Name, "/")
		for i, rule := range p.Rules {
			b := &rbacBuilder{kind: kind}
			pol := &rbacconfig.Policy{
				Principals:  []*rbacconfig.Principal{b.principal(rule)},
				Permissions: []*rbacconfig.Permission{b.permission(rule)},
			}
			if len(b.unsupported) > 0 {
				what := "left out: it allows nothing"
				if p.Action == "DENY" {
					what = "kept without them: it denies more"
				}
				problems = append(problems, Problem{
					Object:  "AuthorizationPolicy " + p.Name,
					Message: fmt.Sprintf("rules[%d]: %s cannot check %s; the rule is %s", i, kind, strings.Join(b.unsupported, ", "), what),
				})
				if p.Action != "DENY" {
					continue
				}
			}
			r.Policies[fmt.Sprintf("ns[%s]-policy[%s]-rule[%d]", ns, name, i)] = pol
		}
	}
	var out []*hcm.HttpFilter
	for _, a := range []string{"DENY", "ALLOW"} {
		if r := byAction[a]; r != nil {
			out = append(out, &hcm.HttpFilter{Name: RBACFilterName + "." + strings.ToLower(a), ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: anyOf(&rbac.RBAC{Rules: r})}})
		}
	}
	return out, problems
}

// rbacBuilder builds one rule and collects what it could not express.
type rbacBuilder struct {
	kind        clientKind
	unsupported []string
}

func (b *rbacBuilder) cannot(what string) {
	for _, u := range b.unsupported {
		if u == what {
			return
		}
	}
	b.unsupported = append(b.unsupported, what)
}

// principal is: some source matches, and every source-side condition.
func (b *rbacBuilder) principal(rule *ir.AuthzRule) *rbacconfig.Principal {
	var and []*rbacconfig.Principal
	if len(rule.From) > 0 {
		var or []*rbacconfig.Principal
		for _, s := range rule.From {
			or = append(or, b.source(s))
		}
		and = append(and, orIDs(or))
	}
	for _, c := range rule.When {
		if p, ok := b.conditionPrincipal(c); ok && p != nil {
			and = append(and, p)
		}
	}
	return andIDs(and)
}

func (b *rbacBuilder) source(s *ir.AuthzSource) *rbacconfig.Principal {
	var and []*rbacconfig.Principal
	field := func(values []string, not bool, one func(string) *rbacconfig.Principal) {
		if len(values) == 0 {
			return
		}
		var or []*rbacconfig.Principal
		for _, v := range values {
			or = append(or, one(v))
		}
		p := orIDs(or)
		if not {
			p = &rbacconfig.Principal{Identifier: &rbacconfig.Principal_NotId{NotId: p}}
		}
		and = append(and, p)
	}
	field(s.Principals, false, principalID)
	field(s.NotPrincipals, true, principalID)
	field(s.Namespaces, false, namespaceID)
	field(s.NotNamespaces, true, namespaceID)
	field(s.IPBlocks, false, directIP)
	field(s.NotIPBlocks, true, directIP)
	field(s.RemoteIPBlocks, false, remoteIP)
	field(s.NotRemoteIPBlocks, true, remoteIP)
	if len(s.RequestPrincipals)+len(s.NotRequestPrincipals) > 0 {
		b.cannot("requestPrincipals")
	}
	return andIDs(and)
}

// permission is: some operation matches, and every request-side condition.
func (b *rbacBuilder) permission(rule *ir.AuthzRule) *rbacconfig.Permission {
	var and []*rbacconfig.Permission
	if len(rule.To) > 0 {
		var or []*rbacconfig.Permission
		for _, op := range rule.To {
			or = append(or, b.operation(op))
		}
		and = append(and, orRules(or))
	}
	for _, c := range rule.When {
		if p, ok := b.conditionPermission(c); ok && p != nil {
			and = append(and, p)
		}
	}
	return andRules(and)
}

func (b *rbacBuilder) operation(op *ir.AuthzOperation) *rbacconfig.Permission {
	var and []*rbacconfig.Permission
	field := func(values []string, not bool, one func(string) *rbacconfig.Permission) {
		if len(values) == 0 {
			return
		}
		var or []*rbacconfig.Permission
		for _, v := range values {
			or = append(or, one(v))
		}
		p := orRules(or)
		if not {
			p = &rbacconfig.Permission{Rule: &rbacconfig.Permission_NotRule{NotRule: p}}
		}
		and = append(and, p)
	}
	host := func(v string) *rbacconfig.Permission {
		return headerPermission(":authority", istioPattern(v, true))
	}
	method := func(v string) *rbacconfig.Permission {
		return headerPermission(":method", istioPattern(v, false))
	}
	path := func(v string) *rbacconfig.Permission {
		sm := istioPattern(v, false)
		if sm == nil {
			return &rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}
		}
		return &rbacconfig.Permission{Rule: &rbacconfig.Permission_UrlPath{UrlPath: &matcher.PathMatcher{Rule: &matcher.PathMatcher_Path{Path: sm}}}}
	}
	port := func(v string) *rbacconfig.Permission {
		var n uint32
		_, _ = fmt.Sscan(v, &n)
		return &rbacconfig.Permission{Rule: &rbacconfig.Permission_DestinationPort{DestinationPort: n}}
	}
	field(op.Hosts, false, host)
	field(op.NotHosts, true, host)
	field(op.Methods, false, method)
	field(op.NotMethods, true, method)
	field(op.Paths, false, path)
	field(op.NotPaths, true, path)
	field(portStrings(op.Ports), false, port)
	field(portStrings(op.NotPorts), true, port)
	return andRules(and)
}

func portStrings(ps []uint32) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, fmt.Sprint(p))
	}
	return out
}

// Compiled on first use, not at package initialisation, which every meshctl
// command pays.
var headerKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^request\.headers\[(.+)\]$`) })

// conditionPrincipal expresses the source-side `when` keys; ok is false for
// keys that are not source-side.
func (b *rbacBuilder) conditionPrincipal(c *ir.AuthzCondition) (*rbacconfig.Principal, bool) {
	var one func(string) *rbacconfig.Principal
	switch c.Key {
	case "source.ip":
		one = directIP
	case "remote.ip":
		one = remoteIP
	case "source.namespace":
		one = namespaceID
	case "source.principal":
		one = principalID
	default:
		return nil, false
	}
	var and []*rbacconfig.Principal
	if len(c.Values) > 0 {
		var or []*rbacconfig.Principal
		for _, v := range c.Values {
			or = append(or, one(v))
		}
		and = append(and, orIDs(or))
	}
	if len(c.NotValues) > 0 {
		var or []*rbacconfig.Principal
		for _, v := range c.NotValues {
			or = append(or, one(v))
		}
		and = append(and, &rbacconfig.Principal{Identifier: &rbacconfig.Principal_NotId{NotId: orIDs(or)}})
	}
	return andIDs(and), true
}

// conditionPermission expresses the request-side `when` keys, and records
// the keys no client can check.
func (b *rbacBuilder) conditionPermission(c *ir.AuthzCondition) (*rbacconfig.Permission, bool) {
	var one func(string) *rbacconfig.Permission
	switch {
	case c.Key == "source.ip" || c.Key == "remote.ip" || c.Key == "source.namespace" || c.Key == "source.principal":
		return nil, false
	case headerKey().MatchString(c.Key):
		name := strings.ToLower(headerKey().FindStringSubmatch(c.Key)[1])
		if b.kind == kindGRPC && (strings.HasPrefix(name, "grpc-") || name == ":scheme") {
			// grpc-go rejects the listener of such a matcher (gRPC A41).
			b.cannot(c.Key)
			return nil, true
		}
		one = func(v string) *rbacconfig.Permission { return headerPermission(name, istioPattern(v, false)) }
	case c.Key == "destination.ip":
		one = func(v string) *rbacconfig.Permission {
			return &rbacconfig.Permission{Rule: &rbacconfig.Permission_DestinationIp{DestinationIp: cidr(v)}}
		}
	case c.Key == "destination.port":
		one = func(v string) *rbacconfig.Permission {
			var n uint32
			_, _ = fmt.Sscan(v, &n)
			return &rbacconfig.Permission{Rule: &rbacconfig.Permission_DestinationPort{DestinationPort: n}}
		}
	case c.Key == "connection.sni":
		one = func(v string) *rbacconfig.Permission {
			sm := istioPattern(v, false)
			if sm == nil {
				return &rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}
			}
			return &rbacconfig.Permission{Rule: &rbacconfig.Permission_RequestedServerName{RequestedServerName: sm}}
		}
	default:
		// request.auth.* needs a JWT filter; other keys mean nothing here.
		b.cannot(c.Key)
		return nil, true
	}
	var and []*rbacconfig.Permission
	if len(c.Values) > 0 {
		var or []*rbacconfig.Permission
		for _, v := range c.Values {
			or = append(or, one(v))
		}
		and = append(and, orRules(or))
	}
	if len(c.NotValues) > 0 {
		var or []*rbacconfig.Permission
		for _, v := range c.NotValues {
			or = append(or, one(v))
		}
		and = append(and, &rbacconfig.Permission{Rule: &rbacconfig.Permission_NotRule{NotRule: orRules(or)}})
	}
	return andRules(and), true
}

// istioPattern is Istio's value syntax: "*" any (nil), "x*" a prefix, "*x" a
// suffix, else the exact value.
func istioPattern(v string, ignoreCase bool) *matcher.StringMatcher {
	var sm *matcher.StringMatcher
	switch {
	case v == "*":
		return nil
	case strings.HasSuffix(v, "*"):
		sm = &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: strings.TrimSuffix(v, "*")}}
	case strings.HasPrefix(v, "*"):
		sm = &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: strings.TrimPrefix(v, "*")}}
	default:
		sm = &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: v}}
	}
	sm.IgnoreCase = ignoreCase
	return sm
}

func headerPermission(name string, sm *matcher.StringMatcher) *rbacconfig.Permission {
	hm := &route.HeaderMatcher{Name: name}
	if sm == nil {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: sm}
	}
	return &rbacconfig.Permission{Rule: &rbacconfig.Permission_Header{Header: hm}}
}

func principalID(p string) *rbacconfig.Principal { return authenticated(spiffeMatch(p)) }

// namespaceID matches the namespace segment of the peer's SPIFFE id.
func namespaceID(ns string) *rbacconfig.Principal {
	var seg string
	switch {
	case ns == "*":
		seg = "[^/]+"
	case strings.HasSuffix(ns, "*"):
		seg = regexp.QuoteMeta(strings.TrimSuffix(ns, "*")) + "[^/]*"
	case strings.HasPrefix(ns, "*"):
		seg = "[^/]*" + regexp.QuoteMeta(strings.TrimPrefix(ns, "*"))
	default:
		seg = regexp.QuoteMeta(ns)
	}
	return authenticated(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: "spiffe://[^/]+/ns/" + seg + "/.*"}}})
}

func authenticated(m *matcher.StringMatcher) *rbacconfig.Principal {
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_Authenticated_{Authenticated: &rbacconfig.Principal_Authenticated{PrincipalName: m}}}
}

func directIP(v string) *rbacconfig.Principal {
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_DirectRemoteIp{DirectRemoteIp: cidr(v)}}
}

func remoteIP(v string) *rbacconfig.Principal {
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_RemoteIp{RemoteIp: cidr(v)}}
}

// cidr reads an address or CIDR (validation refused anything else).
func cidr(v string) *core.CidrRange {
	if ip, n, err := net.ParseCIDR(v); err == nil {
		ones, _ := n.Mask.Size()
		return &core.CidrRange{AddressPrefix: ip.String(), PrefixLen: wrapperspb.UInt32(uint32(ones))}
	}
	bits := uint32(32)
	if ip := net.ParseIP(v); ip != nil && ip.To4() == nil {
		bits = 128
	}
	return &core.CidrRange{AddressPrefix: v, PrefixLen: wrapperspb.UInt32(bits)}
}

func orIDs(ids []*rbacconfig.Principal) *rbacconfig.Principal {
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_OrIds{OrIds: &rbacconfig.Principal_Set{Ids: ids}}}
}

func andIDs(ids []*rbacconfig.Principal) *rbacconfig.Principal {
	switch len(ids) {
	case 0:
		return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_Any{Any: true}}
	case 1:
		return ids[0]
	}
	return &rbacconfig.Principal{Identifier: &rbacconfig.Principal_AndIds{AndIds: &rbacconfig.Principal_Set{Ids: ids}}}
}

func orRules(ps []*rbacconfig.Permission) *rbacconfig.Permission {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacconfig.Permission{Rule: &rbacconfig.Permission_OrRules{OrRules: &rbacconfig.Permission_Set{Rules: ps}}}
}

func andRules(ps []*rbacconfig.Permission) *rbacconfig.Permission {
	switch len(ps) {
	case 0:
		return &rbacconfig.Permission{Rule: &rbacconfig.Permission_Any{Any: true}}
	case 1:
		return ps[0]
	}
	return &rbacconfig.Permission{Rule: &rbacconfig.Permission_AndRules{AndRules: &rbacconfig.Permission_Set{Rules: ps}}}
}

// spiffeMatch matches Istio's principal forms: "cluster.local/ns/a/sa/b",
// "*" and prefix/suffix wildcards, against the spiffe:// URI.
func spiffeMatch(p string) *matcher.StringMatcher {
	switch {
	case p == "*":
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "spiffe://"}}
	case strings.HasSuffix(p, "*"):
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "spiffe://" + strings.TrimSuffix(p, "*")}}
	case strings.HasPrefix(p, "*"):
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: strings.TrimPrefix(p, "*")}}
	}
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "spiffe://" + p}}
}
