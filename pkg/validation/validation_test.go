package validation

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
)

func parseOne(t *testing.T, y string) *config.Resource {
	t.Helper()
	rs, errs := config.Parse("t.yaml", []byte(y))
	if len(errs) > 0 || len(rs) != 1 {
		t.Fatalf("parse: %v %v", rs, errs)
	}
	return rs[0]
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"valid", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v3}
      weight: 10
`, ""},
		{"no destination", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - weight: 100
`, "spec.http[0].route[0].destination: destination is required"},
		{"bad regex", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {regex: "a("}}]
    route: [{destination: {host: reviews}}]
`, "spec.http[0].match[0].uri.regex: invalid regular expression"},
		{"gateway https without tls", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
`, "spec.servers[0].tls: HTTPS server needs tls settings"},
		{"duplicate subset", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1, labels: {version: v2}}
`, `spec.subsets[1].name: subset "v1" is defined twice`},
		{"tcp destination subnet", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match: [{port: 5432, destinationSubnets: [10.1.0.0/16, 10.2.0.1]}, {destinationSubnets: [10.3.0.0/33]}]
    route: [{destination: {host: db}}]
`, `spec.tcp[0].match[1].destinationSubnets[0]: "10.3.0.0/33" is not an IP address or CIDR`},
		{"tls destination subnet", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tls:
  - match: [{sniHosts: [db], destinationSubnets: ["fd00::/8", db.example]}]
    route: [{destination: {host: db}}]
`, `spec.tls[0].match[0].destinationSubnets[1]: "db.example" is not an IP address or CIDR`},
		{"valid destination subnets", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match: [{destinationSubnets: [10.1.0.0/16, 10.2.0.1, "fd00::/8"]}]
    route: [{destination: {host: db}}]
`, ""},
		{"bad name", `apiVersion: v1
kind: Service
metadata: {name: Reviews_1}
spec: {ports: [{port: 80}]}
`, "metadata.name: invalid name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			is := Validate(parseOne(t, c.yaml))
			var got []string
			for _, i := range is {
				if i.Severity == SeverityError {
					got = append(got, i.String())
				}
			}
			if c.want == "" {
				if len(got) > 0 {
					t.Fatalf("unexpected issues: %v", got)
				}
				return
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], c.want) {
				t.Fatalf("got %v, want prefix %q", got, c.want)
			}
		})
	}
}

func TestDeprecations(t *testing.T) {
	r := parseOne(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    mirror: {host: reviews}
    mirrorPercent: 10
`)
	d := Deprecations(r)
	if len(d) != 1 || d[0].Field != "spec.http[0].mirrorPercent" {
		t.Fatalf("deprecations = %v", d)
	}
	if r.Line(d[0].Field) != 9 {
		t.Errorf("line = %d", r.Line(d[0].Field))
	}
}

func TestValidateDocument(t *testing.T) {
	is, err := ValidateDocument([]byte(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"r","namespace":"default"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews"},"wieght":10}]}]}}`))
	if err != nil || len(is) != 1 || !strings.Contains(is[0].Message, `unknown field "wieght"`) || is[0].Field != "spec.http[0].route[0].wieght" || !strings.Contains(is[0].Message, "did you mean weight?") {
		t.Fatalf("issues %v, err %v", is, err)
	}
	is, err = ValidateDocument([]byte(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"r"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews"}}]}]}}`))
	if err != nil || len(is) != 0 {
		t.Fatalf("valid object: issues %v, err %v", is, err)
	}
	if _, err := ValidateDocument([]byte(`{"kind":`)); err == nil {
		t.Fatal("broken JSON should be an error")
	}
}
