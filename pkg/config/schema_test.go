package config

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// want is one expected schema error: its line, field path and words of its
// message.
type want struct {
	line  int
	field string
	says  []string
}

func TestSchemaErrors(t *testing.T) {
	const vsHead = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n"
	const drHead = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n"
	cases := []struct {
		name, yaml string
		want       []want
	}{
		{"hosts as a string (protojson: syntax error unexpected token reviews)", vsHead + `  hosts: reviews
  http:
  - route:
    - destination: {host: reviews}
`, []want{{5, "spec.hosts", []string{"expected a list of strings", `"reviews"`, "[reviews]"}}}},
		{"weight as a string (protojson: invalid value for int32 field weight)", vsHead + `  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: ten
`, []want{{11, "spec.http[0].route[1].weight", []string{"expected an integer", `"ten"`}}}},
		{"bad duration (protojson: invalid google.protobuf.Duration value at spec:)", vsHead + `  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    timeout: 5x
`, []want{{9, "spec.http[0].timeout", []string{"duration", "5s", `"5x"`}}}},
		{"duration in minutes", vsHead + `  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    retries: {attempts: 3, perTryTimeout: 1m}
`, []want{{9, "spec.http[0].retries.perTryTimeout", []string{"1m is written 60s"}}}},
		{"enum typo", drHead + `  host: reviews
  trafficPolicy:
    tls:
      mode: ISTIO_MUTAL
`, []want{{8, "spec.trafficPolicy.tls.mode", []string{`invalid value "ISTIO_MUTAL"`, "DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL", "did you mean ISTIO_MUTUAL?"}}}},
		{"enum in lower case", drHead + `  host: reviews
  trafficPolicy: {loadBalancer: {simple: round_robin}}
`, []want{{6, "spec.trafficPolicy.loadBalancer.simple", []string{"did you mean ROUND_ROBIN?"}}}},
		{"field typo", vsHead + `  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subsett: v1
`, []want{{10, "spec.http[0].route[0].destination.subsett", []string{`unknown field "subsett" in Destination`, "did you mean subset?", "fields: host, subset, port"}}}},
		{"all errors of one object", vsHead + `  hosts: [reviews]
  gateway: [mesh]
  http:
  - route:
    - destination: {host: reviews, subsett: v1}
      weight: "abc"
    timeout: 10
  tcp:
  - route: {destination: {host: reviews}}
`, []want{
			{6, "spec.gateway", []string{`unknown field "gateway"`, "did you mean gateways?"}},
			{9, "spec.http[0].route[0].destination.subsett", []string{"did you mean subset?"}},
			{10, "spec.http[0].route[0].weight", []string{"expected an integer", `"abc"`}},
			{11, "spec.http[0].timeout", []string{"duration", "the number 10"}},
			{13, "spec.tcp[0].route", []string{"expected a list of objects (RouteDestination)", "got an object", `start the entry with "- "`}},
		}},
		{"string field given a number", vsHead + `  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: 1.0}
`, []want{{8, "spec.http[0].route[0].destination.subset", []string{"expected a string", "the number 1.0", `"1.0"`}}}},
		{"oneof set twice", vsHead + `  hosts: [reviews]
  http:
  - match:
    - uri: {exact: /a, prefix: /b}
    route: [{destination: {host: reviews}}]
`, []want{{8, "spec.http[0].match[0].uri.prefix", []string{"exact and prefix are alternatives", "set only one"}}}},
		{"map with bad key and value", `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls:
    http: {mode: STRICT}
    8080: {mode: STRICTT}
`, []want{
			{7, "spec.portLevelMtls.http", []string{`invalid key "http"`, "non-negative integer"}},
			{8, "spec.portLevelMtls.8080.mode", []string{"did you mean STRICT?"}},
		}},
		{"boolean as a string and negative unsigned", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: -443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: c, httpsRedirect: "yes"}
`, []want{
			{7, "spec.servers[0].port.number", []string{"non-negative integer", "the number -443"}},
			{9, "spec.servers[0].tls.httpsRedirect", []string{"expected a boolean", `"yes"`}},
		}},
		{"list entry null and scalar where an object belongs", drHead + `  host: reviews
  subsets:
  - name: v1
  -
  - v3
`, []want{
			{8, "spec.subsets[1]", []string{"got null"}},
			{9, "spec.subsets[2]", []string{"expected an object with the fields of Subset", "name, labels, trafficPolicy", `"v3"`}},
		}},
		{"json input (the webhook's form)", `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"r"},
"spec":{"host":"r","trafficPolicy":{"tls":{"mode":"ISTIO_MUTAL"}},"subsets":[{"name":"v1","labelz":{}}]}}`,
			[]want{
				{2, "spec.trafficPolicy.tls.mode", []string{"did you mean ISTIO_MUTUAL?"}},
				{2, "spec.subsets[0].labelz", []string{"did you mean labels?"}},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, errs := Parse("in.yaml", []byte(c.yaml))
			if len(rs) != 0 {
				t.Fatalf("parsed %v, want a schema error", rs)
			}
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%d %s: %s", e.Origin.Line, e.Field, e.Message))
			}
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(c.want), strings.Join(got, "\n"))
			}
			for i, w := range c.want {
				e := errs[i]
				if e.Kind != ErrSchema || e.Origin.Line != w.line || e.Field != w.field || e.Object == nil {
					t.Errorf("error %d = %s (kind %s, object %v); want line %d field %s", i, got[i], e.Kind, e.Object, w.line, w.field)
				}
				for _, s := range w.says {
					if !strings.Contains(e.Message, s) {
						t.Errorf("error %d = %s; lacks %q", i, got[i], s)
					}
				}
				if !strings.HasPrefix(e.Error(), fmt.Sprintf("in.yaml:%d: ", w.line)) || !strings.Contains(e.Error(), w.field+": ") {
					t.Errorf("Error() = %q lacks file:line or field", e.Error())
				}
			}
		})
	}
}

// The walk must accept whatever protojson accepts, or valid objects would
// get spurious errors next to a real one.
func TestSchemaWalkAcceptsWhatProtojsonAccepts(t *testing.T) {
	valid := []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  export_to: ["."]
  http:
  - name: null
    match: [{uri: {prefix: /}, ignoreUriCase: true, port: "8080"}]
    route:
    - destination: {host: reviews, port: {number: 9080}}
      weight: 1e2
    timeout: 0.5s
    retries: {attempts: "3", perTryTimeout: 2s, retryOn: 5xx}
    fault: {abort: {percentage: {value: "NaN"}, httpStatus: 503}}
    corsPolicy: {allowOrigins: [{exact: a}], maxAge: 24h0m0s}
`, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:
  host: reviews
  traffic_policy:
    loadBalancer: {simple: 2}
    connectionPool: {tcp: {maxConnections: 100, connectTimeout: 0.030s}}
    tls: {mode: ISTIO_MUTUAL}
`, `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls: {8080: {mode: DISABLE}}
`}
	for i, y := range valid {
		rs, errs := Parse("v.yaml", []byte(y))
		if i == 0 {
			// maxAge 24h0m0s is not protojson's form: this one must fail, in
			// the walk and in protojson alike.
			if len(errs) != 1 || errs[0].Field != "spec.http[0].corsPolicy.maxAge" {
				t.Fatalf("case 0: errs %v", errs)
			}
			y = strings.Replace(y, "24h0m0s", "86400s", 1)
			rs, errs = Parse("v.yaml", []byte(y))
		}
		if len(errs) != 0 || len(rs) != 1 {
			t.Fatalf("case %d: %v %v", i, rs, errs)
		}
		if ps := specProblems(nodeAt(rs[0].Node(), "spec"), rs[0].Spec.(proto.Message).ProtoReflect().Descriptor()); len(ps) != 0 {
			t.Errorf("case %d: protojson accepts it, the walk reports %v", i, ps)
		}
	}
}

// Istio's published samples stay valid, and the walk finds nothing in them.
func TestSchemaIstioSamples(t *testing.T) {
	paths, err := ExpandPaths([]string{"../../testdata/upstream/istio", "../../testdata/bookinfo"}, true)
	if err != nil {
		t.Fatal(err)
	}
	rs, errs, err := LoadFiles(paths, false, nil)
	if err != nil || len(errs) != 0 {
		t.Fatalf("samples do not parse: %v %v", err, errs)
	}
	mesh := 0
	for _, r := range rs {
		m, ok := r.Spec.(proto.Message)
		if !ok {
			continue
		}
		mesh++
		spec := nodeAt(r.Node(), "spec")
		if ps := specProblems(spec, m.ProtoReflect().Descriptor()); len(ps) != 0 {
			t.Errorf("%s %s: walk reports %v", r.Origin, r, ps)
		}
		// and protojson agrees
		b, _ := JSONOf(spec)
		if err := protojson.Unmarshal(b, proto.Clone(m)); err != nil {
			t.Errorf("%s: %v", r.Origin, err)
		}
	}
	if mesh < 60 {
		t.Errorf("only %d mesh objects in the samples", mesh)
	}
}

// Kubernetes kinds are decoded as the API server does with kubectl's
// default strict field validation: a wrong type, an unknown field or a
// repeated one names its field path and line instead of a Go type or being
// silently dropped.
func TestCoreKindSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		line       int
		field, msg string
	}{
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: two\n",
			6, "spec.replicas", "expected an integer, got string"},
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    targetPortt: 8080\n",
			8, "spec.ports[0].targetPortt", "unknown field; check its spelling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, errs := Parse("f.yaml", []byte(tc.in))
			if len(rs) != 0 || len(errs) != 1 {
				t.Fatalf("want one error and no object, got %d objects, errors %v", len(rs), errs)
			}
			e := errs[0]
			if e.Origin.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) || e.Kind != ErrSchema {
				t.Errorf("got %s (line %d, field %q, kind %s), want line %d field %q message containing %q", e.Detail(), e.Origin.Line, tc.field, e.Kind, tc.line, tc.field, tc.msg)
			}
		})
	}
}

// A key written twice is refused where it is written again, as yaml.v3's
// decoder and the API server refuse it: reading it as "the last one wins"
// let kube-inject edit the first one while the object meant the second.
func TestRepeatedKeyIsAnError(t *testing.T) {
	_, errs := Parse("f.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: ClusterIP\n  type: NodePort\n"))
	if len(errs) != 1 || errs[0].Origin.Line != 7 || !strings.Contains(errs[0].Message, `key "type" is written twice`) {
		t.Errorf("got %v, want one error at line 7 naming key type", errs)
	}
}

// A wrong type does not hide the object's other errors.
func TestCoreKindReportsAllErrors(t *testing.T) {
	in := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: two\n  template:\n    spec:\n      containers:\n      - name: a\n      - name: b\n        ports:\n        - containerPort: http\n        imagePullPolicyy: Always\n"
	_, errs := Parse("f.yaml", []byte(in))
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d %s", e.Origin.Line, e.Field))
	}
	want := []string{"6 spec.replicas", "13 spec.template.spec.containers[1].ports[0].containerPort", "14 spec.template.spec.containers[1].imagePullPolicyy"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("errors at %q, want %q", got, want)
	}
}
