package validation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
)

// Each case breaks one rule of the Gateway API's CRDs (a CEL rule or an
// OpenAPI constraint the typed decoding does not enforce) and must give
// exactly that one issue, on that field.
func TestValidateGatewayAPI(t *testing.T) {
	gw := func(listeners string) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n" + listeners
	}
	route := func(spec string) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n" + spec
	}
	grpc := func(spec string) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: default}\nspec:\n" + spec
	}
	cases := []struct {
		name, yaml, field, want string
	}{
		{"valid gateway", gw(`  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: 9000, protocol: TCP}
`), "", ""},
		{"listener names unique", gw("  - {name: http, port: 80, protocol: HTTP}\n  - {name: http, port: 8080, protocol: HTTP}\n"),
			"spec.listeners[1].name", "Listener name must be unique"},
		{"port protocol hostname unique", gw("  - {name: a, port: 80, protocol: HTTP}\n  - {name: b, port: 80, protocol: HTTP}\n"),
			"spec.listeners[1]", "Combination of port, protocol and hostname must be unique"},
		{"hostname on TCP", gw("  - {name: t, port: 9000, protocol: TCP, hostname: a.example.com}\n"),
			"spec.listeners[0].hostname", "hostname must not be specified for protocols ['TCP', 'UDP']"},
		{"hostname is an IP", gw("  - {name: h, port: 80, protocol: HTTP, hostname: 10.0.0.1}\n"),
			"spec.listeners[0].hostname", "is an IP address"},
		{"tls on HTTP", gw("  - {name: h, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}\n"),
			"spec.listeners[0].tls", "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"},
		{"HTTPS without tls", gw("  - {name: h, port: 443, protocol: HTTPS}\n"),
			"spec.listeners[0].tls", "an HTTPS listener needs tls"},
		{"HTTPS passthrough", gw("  - {name: h, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}\n"),
			"spec.listeners[0].tls.mode", "tls mode must be Terminate for protocol HTTPS"},
		{"TLS without mode", gw("  - {name: h, port: 443, protocol: TLS, tls: {certificateRefs: [{name: c}]}}\n"),
			"spec.listeners[0].tls", "tls mode must be set for protocol TLS"},
		{"Terminate without certificates", gw("  - {name: h, port: 443, protocol: TLS, tls: {mode: Terminate}}\n"),
			"spec.listeners[0].tls", "certificateRefs or options must be specified when mode is Terminate"},
		{"listener port out of range", gw("  - {name: h, port: 70000, protocol: HTTP}\n"),
			"spec.listeners[0].port", "out of range"},
		{"selector missing", gw("  - {name: h, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector}}}\n"),
			"spec.listeners[0].allowedRoutes.namespaces.selector", "needs a selector"},
		{"no gatewayClassName", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  listeners: [{name: h, port: 80, protocol: HTTP}]\n",
			"spec.gatewayClassName", "gatewayClassName is required"},

		{"valid route", route(`  parentRefs: [{name: gw, namespace: infra, sectionName: http}, {name: gw, namespace: infra, sectionName: https}]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: "1"}]}}
    backendRefs: [{name: a, port: 80, weight: 0}, {name: b, port: 80, weight: 1000000}]
    timeouts: {request: 10s, backendRequest: 2s}
`), "", ""},
		{"path without slash", route("  rules:\n  - matches: [{path: {type: PathPrefix, value: api}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].matches[0].path.value", "value must be an absolute path and start with '/'"},
		{"path with //", route("  rules:\n  - matches: [{path: {type: Exact, value: /a//b}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].matches[0].path.value", "must not contain '//'"},
		{"bad path regex", route("  rules:\n  - matches: [{path: {type: RegularExpression, value: '/a('}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].matches[0].path.value", "invalid regular expression"},
		{"header modifier twice", route("  rules:\n  - filters:\n    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}}\n    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: c, value: d}]}}\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[1].type", "RequestHeaderModifier filter cannot be repeated"},
		{"redirect and rewrite", route("  rules:\n  - filters:\n    - {type: RequestRedirect, requestRedirect: {scheme: https}}\n    - {type: URLRewrite, urlRewrite: {hostname: b.example.com}}\n"),
			"spec.rules[0].filters", "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both"},
		{"redirect with backendRefs", route("  rules:\n  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[0]", "RequestRedirect filter must not be used together with backendRefs"},
		{"filter field of another type", route("  rules:\n  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}, responseHeaderModifier: {set: [{name: a, value: b}]}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[0].responseHeaderModifier", "filter.responseHeaderModifier must be nil if the filter.type is not ResponseHeaderModifier"},
		{"filter type without its field", route("  rules:\n  - filters: [{type: URLRewrite}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[0]", "filter.urlRewrite must be specified for URLRewrite filter.type"},
		{"replacePrefixMatch without PathPrefix match", route("  rules:\n  - matches: [{path: {type: Exact, value: /a}}]\n    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[0].urlRewrite.path", "exactly one PathPrefix match must be specified"},
		{"weight too big", route("  rules:\n  - backendRefs: [{name: a, port: 80, weight: 1000001}]\n"),
			"spec.rules[0].backendRefs[0].weight", "out of range"},
		{"negative weight", route("  rules:\n  - backendRefs: [{name: a, port: 80, weight: -1}]\n"),
			"spec.rules[0].backendRefs[0].weight", "out of range"},
		{"service backend without port", route("  rules:\n  - backendRefs: [{name: a}]\n"),
			"spec.rules[0].backendRefs[0].port", "Must have port for Service reference"},
		{"backendRequest longer than request", route("  rules:\n  - backendRefs: [{name: a, port: 80}]\n    timeouts: {request: 1s, backendRequest: 2s}\n"),
			"spec.rules[0].timeouts.backendRequest", "backendRequest timeout cannot be longer than request timeout"},
		{"bad duration", route("  rules:\n  - backendRefs: [{name: a, port: 80}]\n    timeouts: {request: 1.5s}\n"),
			"spec.rules[0].timeouts.request", "invalid duration"},
		{"same parent twice without sectionName", route("  parentRefs: [{name: gw}, {name: gw}]\n"),
			"spec.parentRefs[1]", "sectionName must be unique when parentRefs includes 2 or more references to the same parent"},
		{"same parent with and without sectionName", route("  parentRefs: [{name: gw, sectionName: http}, {name: gw}]\n"),
			"spec.parentRefs[1]", "sectionName must be specified when parentRefs includes 2 or more references to the same parent"},
		{"parentRef port out of range", route("  parentRefs: [{name: gw, port: 0}]\n"),
			"spec.parentRefs[0].port", "out of range"},
		{"parentRef sectionName invalid", route("  parentRefs: [{name: gw, sectionName: Web_1}]\n"),
			"spec.parentRefs[0].sectionName", "invalid name"},
		{"hostname with port", route("  hostnames: ['a.example.com:80']\n"),
			"spec.hostnames[0]", "invalid hostname"},
		{"mirror percent and fraction", route("  rules:\n  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, percent: 10, fraction: {numerator: 1}}}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].filters[0].requestMirror", "Only one of percent or fraction"},
		{"header matched twice", route("  rules:\n  - matches: [{headers: [{name: X-A, value: a}, {name: x-a, value: b}]}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].matches[0].headers[1].name", "matched twice"},

		{"header match type", route("  rules:\n  - matches: [{headers: [{name: a, value: b, type: Prefix}]}]\n    backendRefs: [{name: a, port: 80}]\n"),
			"spec.rules[0].matches[0].headers[0].type", "unknown header match type"},
		{"valid grpc", grpc("  rules:\n  - matches: [{method: {service: echo.Echo, method: Ping}}]\n    backendRefs: [{name: echo, port: 50051}]\n"), "", ""},
		{"grpc method match empty", grpc("  rules:\n  - matches: [{method: {type: Exact}}]\n    backendRefs: [{name: echo, port: 50051}]\n"),
			"spec.rules[0].matches[0].method", "One or both of 'service' or 'method' must be specified"},
		{"grpc service name", grpc("  rules:\n  - matches: [{method: {service: echo/Echo}}]\n    backendRefs: [{name: echo, port: 50051}]\n"),
			"spec.rules[0].matches[0].method.service", "not a gRPC service name"},
		{"grpc backend without port", grpc("  rules:\n  - backendRefs: [{name: echo}]\n"),
			"spec.rules[0].backendRefs[0].port", "Must have port for Service reference"},

		{"reference grant without namespace", "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: rg, namespace: infra}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ''}]\n  to: [{group: '', kind: Service}]\n",
			"spec.from[0].namespace", "namespace is required"},
		{"gateway class controller", "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: istio}\n",
			"spec.controllerName", "domain-prefixed path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Validate(parseOne(t, c.yaml))
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("valid object has issues: %v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Field != c.field || !strings.Contains(got[0].Message, c.want) || got[0].Severity != SeverityError {
				t.Fatalf("got %v, want one error at %s: …%s…", got, c.field, c.want)
			}
		})
	}
}

// The published examples of the Gateway API and Istio's Gateway API samples
// are valid: not one issue.
func TestValidateGatewayAPIExamples(t *testing.T) {
	var files []string
	for _, pat := range []string{"gateway-api/v1.6.3/*.yaml", "istio/gateway-api/*.yaml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "testdata", "upstream", pat))
		if err != nil || len(m) == 0 {
			t.Fatalf("no files for %s: %v", pat, err)
		}
		files = append(files, m...)
	}
	modelled := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, errs := config.Parse(f, data)
		for _, e := range errs {
			t.Errorf("%v", e)
		}
		for _, r := range rs {
			if info, ok := config.InfoFor(r.Kind); ok && info.Group == config.GroupGatewayAPI {
				modelled++
			}
			for _, is := range Validate(r) {
				t.Errorf("%s: %s: %s", r.OriginAt(is.Field), r, is)
			}
		}
	}
	if modelled < 90 {
		t.Errorf("only %d Gateway API objects read from %d files", modelled, len(files))
	}
}
