package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/config"
)

// fuzzSeeds are documents of every kind the model knows (a bare one each, and
// filled-in Gateway API ones whose references point at each other and at
// nothing), kinds it does not (some sharing names with modelled ones), and
// the real samples.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, k := range config.Kinds() {
		ns := "\n  namespace: ns"
		if !k.Namespaced {
			ns = ""
		}
		seeds = append(seeds, fmt.Appendf(nil, "apiVersion: %s\nkind: %s\nmetadata:\n  name: x%s\n  labels: {app: x}\nspec:\n  selector: {app: x}\n",
			k.GroupVersion(), k.Name, ns))
	}
	for _, doc := range []string{
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: reviews, port: 9080}]}]\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: https, port: 443, protocol: HTTPS, hostname: '*.example.com', tls: {mode: Terminate, certificateRefs: [{name: cert, namespace: certs}]}, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {a: b}}}, kinds: [{kind: GRPCRoute}]}}\n  - {name: tcp, port: 9000, protocol: TCP}\n",
		"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n  hostnames: [a.example.com, '*.example.com']\n  parentRefs: [{name: gw, namespace: infra, sectionName: https, port: 443}, {kind: Service, group: '', name: reviews, port: 9080}, {name: missing}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: x, value: y}], queryParams: [{name: q, value: v}], method: GET}]\n    filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}, {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}, {type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}}]\n    backendRefs: [{name: reviews, port: 9080, weight: 0}, {name: se.example.com, kind: Hostname, group: networking.istio.io}, {name: other, namespace: elsewhere, port: 80, weight: 0}, {name: noport}]\n  - {}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: default}\nspec:\n  parentRefs: [{name: gw, namespace: infra}]\n  rules: [{matches: [{method: {service: a.B, method: C}, headers: [{name: h, value: v}]}], backendRefs: [{name: grpc, port: 50051}]}]\n",
		"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: rg, namespace: infra}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}, {group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]\n  to: [{group: '', kind: Service, name: other}, {group: '', kind: Secret}]\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: istio}\nspec: {controllerName: istio.io/gateway-controller}\n",
		"apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: t}\nspec: {parentRefs: [{name: gw}]}\n",
		"apiVersion: example.com/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec: {hosts: [a]}\n",
		"apiVersion: v1\nkind: Gateway\nmetadata: {name: g}\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1\n  kind: Gateway\n  metadata: {name: g}\n  spec: {selector: {istio: ingressgateway}}\n",
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, annotations: {meshctl.io/analyze-suppress: '*'}}\nspec: {hosts: ['*'], gateways: [a/b, mesh], http: [{route: [{destination: {host: '*', subset: s}}]}]}\n",
	} {
		seeds = append(seeds, []byte(doc))
	}
	var files []string
	for _, pat := range []string{"bookinfo/*.yaml", "upstream/*/*/*.yaml", "upstream/*/*.yaml", "upstream/istio/bookinfo/gateway-api/*.yaml", "analyze/*/*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(testdata, pat))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzAnalyze: no input panics analyze, with or without a cluster, and every
// output format stays well formed: -o json is valid JSON and every finding
// has a code and says which resource (or, for unparsable text, where).
func FuzzAnalyze(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, errs := config.Parse("f.yaml", data)
		config.DefaultNamespace(rs, "default")
		config.DefaultNamespaceErrors(errs, "default")
		for _, cluster := range []bool{false, true} {
			res := Analyze(config.NewStoreFrom(rs), errs, Options{Cluster: cluster})
			checkWellFormed(t, res)
		}
	})
}

func checkWellFormed(t *testing.T, res Result) {
	t.Helper()
	rep := Report{Scope: "default", Findings: res.Findings, Summary: Summarize(res.Findings)}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("-o json is not valid JSON: %v\n%s", err, js.String())
	}
	if len(back.Findings) != len(res.Findings) {
		t.Fatalf("-o json has %d findings, the run %d", len(back.Findings), len(res.Findings))
	}
	// Read back, each finding is the one the run produced, not merely one
	// of the right count: the typed result is what -o json promises.
	for i, fd := range res.Findings {
		if got := back.Findings[i]; got.String() != fd.String() || got.Fix != fd.Fix || got.Origin != fd.Origin || got.Analyzer != fd.Analyzer {
			t.Fatalf("-o json finding %d reads back as %+v, the run had %+v", i, got, fd)
		}
	}
	for _, fd := range res.Findings {
		if fd.Code == "" || fd.Message == "" || ByCode(fd.Code) == nil {
			t.Fatalf("finding without a known code or message: %+v", fd)
		}
		if fd.Object.Kind == "" && fd.Origin.Path == "" {
			t.Fatalf("finding names neither a resource nor a place: %+v", fd)
		}
		if fd.Object.Kind != "" && fd.Object.Name == "" && fd.Code != codeParse && fd.Code != codeSchema {
			t.Fatalf("finding about a resource without a name: %+v", fd)
		}
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, res.Findings, nil); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := WriteYAML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var fromYAML Report
	if err := sigsyaml.Unmarshal(buf.Bytes(), &fromYAML); err != nil {
		t.Fatalf("-o yaml does not read back: %v\n%s", err, buf.String())
	}
	for i, fd := range res.Findings {
		if i >= len(fromYAML.Findings) || fromYAML.Findings[i].String() != fd.String() || fromYAML.Findings[i].Origin != fd.Origin {
			t.Fatalf("-o yaml does not hold finding %d as the run had it (%+v):\n%s", i, fd, buf.String())
		}
	}
	buf.Reset()
	if err := WriteSARIF(&buf, rep, "test"); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("-o sarif is not valid JSON:\n%s", buf.String())
	}
}

// Every seed, analyzed once in the ordinary test run, so that a crash on a
// kind is caught without fuzzing.
func TestAnalyzeEveryKind(t *testing.T) {
	for i, s := range fuzzSeeds(t) {
		rs, errs := config.Parse("f.yaml", s)
		config.DefaultNamespace(rs, "default")
		for _, cluster := range []bool{false, true} {
			t.Run(fmt.Sprint(i, cluster), func(t *testing.T) {
				checkWellFormed(t, Analyze(config.NewStoreFrom(rs), errs, Options{Cluster: cluster}))
			})
		}
	}
}
