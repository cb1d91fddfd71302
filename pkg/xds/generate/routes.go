package generate

import (
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// FaultFilterName is the HTTP filter name per-route fault configs are keyed by.
const FaultFilterName = "envoy.filters.http.fault"

// clientKind says what a route may contain.
type clientKind int

const (
	kindGRPC clientKind = iota
	kindEnvoy
)

func (k clientKind) String() string {
	if k == kindGRPC {
		return "proxyless gRPC"
	}
	return "Envoy"
}

// routes converts IR routes: one xDS route per match condition (xDS matches
// are AND only, Istio's match list is an OR), in order.
func routes(in []*ir.Route, kind clientKind) []*route.Route {
	var out []*route.Route
	for _, r := range in {
		matches := r.Match
		if len(matches) == 0 {
			matches = []*ir.Match{nil}
		}
		for _, m := range matches {
			out = append(out, convertRoute(r, m, kind))
		}
	}
	return out
}

func convertRoute(r *ir.Route, m *ir.Match, kind clientKind) *route.Route {
	out := &route.Route{Name: r.Name, Match: routeMatch(m)}
	switch {
	case r.Redirect != nil:
		rd := &route.RedirectAction{HostRedirect: r.Redirect.Authority, PortRedirect: r.Redirect.Port}
		if r.Redirect.URI != "" {
			rd.PathRewriteSpecifier = &route.RedirectAction_PathRedirect{PathRedirect: r.Redirect.URI}
		}
		if r.Redirect.Scheme != "" {
			rd.SchemeRewriteSpecifier = &route.RedirectAction_SchemeRedirect{SchemeRedirect: r.Redirect.Scheme}
		}
		switch r.Redirect.Code {
		case 302:
			rd.ResponseCode = route.RedirectAction_FOUND
		case 303:
			rd.ResponseCode = route.RedirectAction_SEE_OTHER
		case 307:
			rd.ResponseCode = route.RedirectAction_TEMPORARY_REDIRECT
		case 308:
			rd.ResponseCode = route.RedirectAction_PERMANENT_REDIRECT
		}
		out.Action = &route.Route_Redirect{Redirect: rd}
	case r.DirectResponse != nil:
		dr := &route.DirectResponseAction{Status: r.DirectResponse.Status}
		if r.DirectResponse.Body != "" {
			dr.Body = &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: r.DirectResponse.Body}}
		}
		out.Action = &route.Route_DirectResponse{DirectResponse: dr}
	default:
		out.Action = &route.Route_Route{Route: routeAction(r, kind)}
	}
	if kind == kindEnvoy {
		out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerOps(r.RequestHeaders)
		out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerOps(r.ResponseHeaders)
	}
	if r.Fault != nil {
		out.TypedPerFilterConfig = map[string]*anypb.Any{FaultFilterName: anyOf(httpFault(r.Fault))}
	}
	return out
}

func routeAction(r *ir.Route, kind clientKind) *route.RouteAction {
	a := &route.RouteAction{}
	if len(r.Destinations) == 1 && r.Destinations[0].RequestHeaders == nil && r.Destinations[0].ResponseHeaders == nil {
		a.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: r.Destinations[0].Cluster}
	} else {
		wc := &route.WeightedCluster{}
		for _, d := range r.Destinations {
			c := &route.WeightedCluster_ClusterWeight{Name: d.Cluster, Weight: wrapperspb.UInt32(d.Weight)}
			if kind == kindEnvoy {
				c.RequestHeadersToAdd, c.RequestHeadersToRemove = headerOps(d.RequestHeaders)
				c.ResponseHeadersToAdd, c.ResponseHeadersToRemove = headerOps(d.ResponseHeaders)
			}
			wc.Clusters = append(wc.Clusters, c)
		}
		a.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if r.TimeoutMillis != nil {
		d := durationpb.New(time.Duration(*r.TimeoutMillis) * time.Millisecond)
		if kind == kindGRPC {
			// grpc-go honours the stream duration, not Route.timeout.
			a.MaxStreamDuration = &route.RouteAction_MaxStreamDuration{MaxStreamDuration: d}
		} else {
			a.Timeout = d
		}
	} else if kind == kindEnvoy {
		// Istio disables Envoy's 15 s default route timeout.
		a.Timeout = durationpb.New(0)
	}
	if rp := retryPolicy(r.Retry, kind); rp != nil {
		a.RetryPolicy = rp
	}
	if rw := r.Rewrite; rw != nil {
		if rw.URI != "" {
			a.PrefixRewrite = rw.URI
		}
		if rw.URIRegex != nil {
			a.RegexRewrite = &matcher.RegexMatchAndSubstitute{Pattern: &matcher.RegexMatcher{Regex: rw.URIRegex.Pattern}, Substitution: rw.URIRegex.Substitution}
		}
		if rw.Authority != "" {
			a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Authority}
		}
	}
	if r.Mirror != nil && kind == kindEnvoy {
		a.RequestMirrorPolicies = []*route.RouteAction_RequestMirrorPolicy{{
			Cluster:         r.Mirror.Cluster,
			RuntimeFraction: &core.RuntimeFractionalPercent{DefaultValue: percent(r.Mirror.Percent)},
		}}
	}
	return a
}

// grpcRetryOn are the retry conditions grpc-go understands; it ignores the others.
var grpcRetryOn = map[string]bool{"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true}

func retryPolicy(r *ir.Retry, kind clientKind) *route.RetryPolicy {
	if r == nil || r.Attempts == 0 {
		// grpc-go rejects num_retries 0 (NACK); no policy means no retries
		// for gRPC and Envoy's default of none for a route.
		return nil
	}
	rp := &route.RetryPolicy{NumRetries: wrapperspb.UInt32(r.Attempts)}
	on := ""
	for _, c := range r.RetryOn {
		if kind == kindGRPC && !grpcRetryOn[c] {
			continue
		}
		if on != "" {
			on += ","
		}
		on += c
	}
	if on == "" {
		return nil
	}
	rp.RetryOn = on
	if r.PerTryTimeoutMillis > 0 {
		rp.PerTryTimeout = durationpb.New(time.Duration(r.PerTryTimeoutMillis) * time.Millisecond)
	}
	return rp
}

func routeMatch(m *ir.Match) *route.RouteMatch {
	rm := &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}}
	if m == nil {
		return rm
	}
	if u := m.URI; u != nil {
		switch {
		case u.Exact != "":
			rm.PathSpecifier = &route.RouteMatch_Path{Path: u.Exact}
		case u.Prefix != "":
			rm.PathSpecifier = &route.RouteMatch_Prefix{Prefix: u.Prefix}
		case u.Regex != "":
			rm.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: u.Regex}}
		}
		if m.IgnoreURICase {
			rm.CaseSensitive = wrapperspb.Bool(false)
		}
	}
	if m.Method != nil {
		rm.Headers = append(rm.Headers, headerMatcher(":method", *m.Method, false))
	}
	if m.Authority != nil {
		rm.Headers = append(rm.Headers, headerMatcher(":authority", *m.Authority, false))
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatcher(h.Name, h.Match, false))
	}
	for _, h := range m.WithoutHeaders {
		rm.Headers = append(rm.Headers, headerMatcher(h.Name, h.Match, true))
	}
	for _, q := range m.QueryParams {
		qm := &route.QueryParameterMatcher{Name: q.Name}
		if q.Match.Present {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &route.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q.Match)}
		}
		rm.QueryParameters = append(rm.QueryParameters, qm)
	}
	return rm
}

func headerMatcher(name string, m ir.StringMatch, invert bool) *route.HeaderMatcher {
	hm := &route.HeaderMatcher{Name: name, InvertMatch: invert}
	if m.Present {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else {
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: stringMatcher(m)}
	}
	return hm
}

func stringMatcher(m ir.StringMatch) *matcher.StringMatcher {
	switch {
	case m.Prefix != "":
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: m.Prefix}}
	case m.Regex != "":
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: m.Regex}}}
	}
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: m.Exact}}
}

func headerOps(h *ir.HeaderOps) ([]*core.HeaderValueOption, []string) {
	if h == nil {
		return nil, nil
	}
	var add []*core.HeaderValueOption
	for _, kv := range h.Set {
		add = append(add, &core.HeaderValueOption{Header: &core.HeaderValue{Key: kv.Key, Value: kv.Value}, AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, kv := range h.Add {
		add = append(add, &core.HeaderValueOption{Header: &core.HeaderValue{Key: kv.Key, Value: kv.Value}, AppendAction: core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, h.Remove
}

func httpFault(f *ir.Fault) *fault.HTTPFault {
	out := &fault.HTTPFault{}
	if f.DelayMillis > 0 {
		out.Delay = &faultcommon.FaultDelay{
			FaultDelaySecifier: &faultcommon.FaultDelay_FixedDelay{FixedDelay: durationpb.New(time.Duration(f.DelayMillis) * time.Millisecond)},
			Percentage:         percent(f.DelayPercent),
		}
	}
	if f.HTTPStatus != 0 || f.GRPCStatus != nil {
		a := &fault.FaultAbort{Percentage: percent(f.AbortPercent)}
		if f.GRPCStatus != nil {
			a.ErrorType = &fault.FaultAbort_GrpcStatus{GrpcStatus: *f.GRPCStatus}
		} else {
			a.ErrorType = &fault.FaultAbort_HttpStatus{HttpStatus: f.HTTPStatus}
		}
		out.Abort = a
	}
	return out
}

// percent keeps fractions of a percent (Istio allows 0.1%).
func percent(p float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: uint32(p*10000 + 0.5), Denominator: typev3.FractionalPercent_MILLION}
}

// anyOf wraps a generated message; marshalling one cannot fail, and a nil
// result would be caught by Validate before anything is sent. It packs
// deterministically: map fields (RBAC policies) would otherwise come out in
// a random order, the same config packed twice would differ byte for byte,
// and proto.Equal (which compares an Any by its bytes) would take it for a
// change and send it again.
func anyOf(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	_ = anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	return a
}
