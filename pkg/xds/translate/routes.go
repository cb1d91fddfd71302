package translate

import (
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// httpRoutes translates the http section of a VirtualService for one port of
// a host. Routes whose every match names another port are left out, as in
// Istio; a route with no usable destination is reported and left out, the
// others still apply.
func (b *builder) httpRoutes(r *config.Resource, svc *config.Service, port uint32) []*ir.Route {
	vs := r.VirtualService()
	var out []*ir.Route
	for i, h := range vs.Http {
		route, ok := b.httpRoute(r, i, h, port)
		if ok {
			out = append(out, route)
		}
	}
	return out
}

func (b *builder) httpRoute(r *config.Resource, i int, h *networking.HTTPRoute, port uint32) (*ir.Route, bool) {
	route := &ir.Route{Name: h.Name}
	if route.Name == "" {
		route.Name = "route-" + itoa(uint32(i))
	}
	for _, m := range h.Match {
		if m.Port != 0 && m.Port != port {
			continue
		}
		if len(m.Gateways) > 0 && !b.inContext(m.Gateways, r.Namespace) {
			continue
		}
		if len(m.SourceLabels) > 0 || m.SourceNamespace != "" {
			// Client-dependent matches are decided here, for one workload;
			// a view shared by a namespace (no workload) cannot honour
			// them, so for it they never match.
			b.sourceDependent = true
			if b.source == nil || !selects(m.SourceLabels, b.source) || (m.SourceNamespace != "" && m.SourceNamespace != b.view.Namespace) {
				continue
			}
		}
		route.Match = append(route.Match, convertMatch(m))
	}
	if len(h.Match) > 0 && len(route.Match) == 0 {
		return nil, false
	}
	ns := r.Namespace
	switch {
	case h.Redirect != nil:
		rd := &ir.Redirect{URI: h.Redirect.Uri, Authority: h.Redirect.Authority, Scheme: h.Redirect.Scheme, Code: h.Redirect.RedirectCode}
		if p, ok := h.Redirect.RedirectPort.(*networking.HTTPRedirect_Port); ok {
			rd.Port = p.Port
		}
		if rd.Code == 0 {
			rd.Code = 301
		}
		route.Redirect = rd
	case h.DirectResponse != nil:
		dr := &ir.DirectResponse{Status: h.DirectResponse.Status}
		if h.DirectResponse.Body != nil {
			switch s := h.DirectResponse.Body.Specifier.(type) {
			case *networking.HTTPBody_String_:
				dr.Body = s.String_
			case *networking.HTTPBody_Bytes:
				dr.Body = string(s.Bytes)
			}
		}
		route.DirectResponse = dr
	default:
		var total uint32
		for _, d := range h.Route {
			total += uint32(d.Weight)
		}
		for _, d := range h.Route {
			w := uint32(d.Weight)
			if total == 0 {
				// Without weights Istio gives the single destination 100.
				w = 100 / uint32(len(h.Route))
			}
			if w == 0 {
				continue
			}
			cluster, ok := b.destinationCluster(r, d.Destination, ns, port)
			if !ok {
				continue
			}
			route.Destinations = append(route.Destinations, &ir.Destination{
				Cluster:         cluster,
				Weight:          w,
				RequestHeaders:  headerOps(d.Headers.GetRequest()),
				ResponseHeaders: headerOps(d.Headers.GetResponse()),
			})
		}
		if len(route.Destinations) == 0 {
			b.problem(r, "http[%d] has no destination that can be routed to; route left out", i)
			return nil, false
		}
	}
	if h.Rewrite != nil {
		route.Rewrite = &ir.Rewrite{URI: h.Rewrite.Uri, Authority: h.Rewrite.Authority}
		if rx := h.Rewrite.UriRegexRewrite; rx != nil {
			route.Rewrite.URIRegex = &ir.RegexRewrite{Pattern: rx.Match, Substitution: rx.Rewrite}
		}
	}
	if h.Timeout != nil {
		ms := millis(h.Timeout)
		route.TimeoutMillis = &ms
	}
	if h.Retries != nil {
		route.Retry = retry(h.Retries)
	}
	if h.Fault != nil {
		route.Fault = fault(h.Fault)
	}
	if h.Mirror != nil {
		if cluster, ok := b.destinationCluster(r, h.Mirror, ns, port); ok {
			pct := 100.0
			if h.MirrorPercentage != nil {
				pct = h.MirrorPercentage.Value
			}
			route.Mirror = &ir.Mirror{Cluster: cluster, Percent: pct}
		}
	}
	route.RequestHeaders = headerOps(h.Headers.GetRequest())
	route.ResponseHeaders = headerOps(h.Headers.GetResponse())
	return route, true
}

// destinationCluster resolves a route destination to a cluster name. The port
// is the destination's, or the only port of the service, or the port being
// routed.
func (b *builder) destinationCluster(r *config.Resource, d *networking.Destination, ns string, port uint32) (string, bool) {
	if d == nil || d.Host == "" {
		return "", false
	}
	svc := primary(b.x.reg.Lookup(d.Host, ns))
	// The route depends on the destination even when it does not resolve:
	// a service of that name appearing later must rebuild it.
	b.deps = append(b.deps, b.x.reg.Hosts.Resolve(d.Host, ns))
	if svc != nil {
		b.deps = append(b.deps, svc.Host)
	}
	if svc == nil {
		b.problem(r, "destination host %q is not a known service or ServiceEntry", d.Host)
		return "", false
	}
	host := svc.Host
	p := port
	if d.Port != nil && d.Port.Number != 0 {
		p = d.Port.Number
	} else if len(svc.Ports) == 1 {
		p = svc.Ports[0].Number
	}
	if !svc.VisibleFrom(b.view.Namespace) {
		b.problem(r, "destination host %q is not exported to namespace %q", d.Host, b.view.Namespace)
		return "", false
	}
	if svc.Port(p) == nil {
		b.problem(r, "destination host %q has no port %d", d.Host, p)
		return "", false
	}
	if d.Subset != "" && b.destinationRule(host).Subset(d.Subset) == nil {
		b.problem(r, "destination host %q has no subset %q in any DestinationRule", d.Host, d.Subset)
		return "", false
	}
	return ClusterName(p, d.Subset, host), true
}

func convertMatch(m *networking.HTTPMatchRequest) *ir.Match {
	out := &ir.Match{
		URI:           stringMatch(m.Uri),
		Method:        stringMatch(m.Method),
		Authority:     stringMatch(m.Authority),
		IgnoreURICase: m.IgnoreUriCase,
	}
	out.Headers = namedMatches(m.Headers)
	out.WithoutHeaders = namedMatches(m.WithoutHeaders)
	out.QueryParams = namedMatches(m.QueryParams)
	return out
}

func namedMatches(in map[string]*networking.StringMatch) []*ir.NamedMatch {
	var out []*ir.NamedMatch
	for _, k := range sortedKeys(in) {
		sm := stringMatch(in[k])
		if sm == nil {
			sm = &ir.StringMatch{Present: true}
		}
		out = append(out, &ir.NamedMatch{Name: strings.ToLower(k), Match: *sm})
	}
	return out
}

func stringMatch(s *networking.StringMatch) *ir.StringMatch {
	if s == nil {
		return nil
	}
	switch m := s.MatchType.(type) {
	case *networking.StringMatch_Exact:
		return &ir.StringMatch{Exact: m.Exact}
	case *networking.StringMatch_Prefix:
		if m.Prefix == "" {
			return &ir.StringMatch{Present: true}
		}
		return &ir.StringMatch{Prefix: m.Prefix}
	case *networking.StringMatch_Regex:
		return &ir.StringMatch{Regex: m.Regex}
	}
	return &ir.StringMatch{Present: true}
}

func headerOps(h *networking.Headers_HeaderOperations) *ir.HeaderOps {
	if h == nil || len(h.Set)+len(h.Add)+len(h.Remove) == 0 {
		return nil
	}
	out := &ir.HeaderOps{Remove: h.Remove}
	for _, k := range sortedKeys(h.Set) {
		out.Set = append(out.Set, ir.KV{Key: k, Value: h.Set[k]})
	}
	for _, k := range sortedKeys(h.Add) {
		out.Add = append(out.Add, ir.KV{Key: k, Value: h.Add[k]})
	}
	return out
}

func retry(r *networking.HTTPRetry) *ir.Retry {
	out := &ir.Retry{Attempts: uint32(r.Attempts)}
	if r.PerTryTimeout != nil {
		out.PerTryTimeoutMillis = millis(r.PerTryTimeout)
	}
	on := r.RetryOn
	if on == "" {
		// Istio's default conditions.
		on = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	}
	for _, c := range strings.Split(on, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out.RetryOn = append(out.RetryOn, c)
		}
	}
	return out
}

func fault(f *networking.HTTPFaultInjection) *ir.Fault {
	out := &ir.Fault{}
	if d := f.Delay; d != nil {
		if fd := d.GetFixedDelay(); fd != nil {
			out.DelayMillis = millis(fd)
		}
		out.DelayPercent = 100
		if d.Percentage != nil {
			out.DelayPercent = d.Percentage.Value
		} else if d.Percent != 0 { //nolint:staticcheck // Istio still honours the deprecated field
			out.DelayPercent = float64(d.Percent) //nolint:staticcheck
		}
	}
	if a := f.Abort; a != nil {
		out.AbortPercent = 100
		if a.Percentage != nil {
			out.AbortPercent = a.Percentage.Value
		}
		switch e := a.ErrorType.(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			out.HTTPStatus = uint32(e.HttpStatus)
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			if c, ok := grpcCodes[strings.ToUpper(e.GrpcStatus)]; ok {
				out.GRPCStatus = &c
			}
		}
	}
	return out
}

// grpcCodes are the gRPC status names Istio accepts in abort.grpcStatus.
var grpcCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

func millis(d *durationpb.Duration) int64 { return d.AsDuration().Milliseconds() }
