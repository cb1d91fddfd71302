package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const routes = `# bookinfo routes
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
        subset: v1
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: http, port: 9080}]
---
this: is: not: yaml
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsetz:
  - name: v1
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
`

func TestParse(t *testing.T) {
	rs, errs := Parse("routes.yaml", []byte(routes))
	if len(rs) != 3 {
		t.Fatalf("got %d resources, want 3 (VirtualService, Service, ClusterRole): %v", len(rs), rs)
	}
	vs := rs[0]
	if vs.Kind != KindVirtualService || vs.Name != "reviews" || vs.Origin.Line != 2 || vs.Origin.String() != "routes.yaml:2" {
		t.Errorf("vs = %v at %v", vs, vs.Origin)
	}
	spec := vs.VirtualService()
	if spec == nil || spec.Http[0].Route[0].Destination.Subset != "v2" || spec.Http[0].Match[0].Headers["end-user"].GetExact() != "jason" {
		t.Fatalf("spec not decoded: %v", spec)
	}
	if got := vs.Line("spec.http[1].route[0].destination.subset"); got != 21 {
		t.Errorf("line of subset = %d, want 22", got)
	}
	if got := vs.Line("spec.http[7]"); got != 9 {
		t.Errorf("line of a missing element = %d, want 9 (its parent)", got)
	}
	svc := rs[1].Service()
	if svc == nil || svc.Spec.Ports[0].Port != 9080 || rs[1].Origin.Line != 23 || rs[1].Namespace != "default" {
		t.Errorf("service = %+v at %v", svc, rs[1].Origin)
	}
	if rs[2].Known() || rs[2].Kind != "ClusterRole" {
		t.Errorf("ClusterRole should be kept unmodelled: %+v", rs[2])
	}
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(errs), errs)
	}
	if errs[0].Kind != ErrSyntax || errs[0].Origin.Line != 29 {
		t.Errorf("syntax error = %v (kind %s)", errs[0], errs[0].Kind)
	}
	if errs[1].Kind != ErrSchema || errs[1].Origin.Line != 37 || !strings.Contains(errs[1].Message, `unknown field "subsetz"`) {
		t.Errorf("schema error = %v", errs[1])
	}
	if errs[1].Object == nil || errs[1].Object.Name != "reviews" {
		t.Errorf("schema error should name the object: %v", errs[1])
	}
}

func TestParseListAndJSON(t *testing.T) {
	in := `{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},
{"apiVersion":"networking.istio.io/v1alpha3","kind":"Gateway","metadata":{"name":"g","namespace":"a"},"spec":{"selector":{"istio":"ingressgateway"}}}]}`
	rs, errs := Parse("-", []byte(in))
	if len(errs) != 0 || len(rs) != 2 {
		t.Fatalf("rs=%v errs=%v", rs, errs)
	}
	if rs[1].Gateway().Selector["istio"] != "ingressgateway" || rs[1].Origin.Source != SourceStdin || rs[1].Origin.Line != 3 {
		t.Errorf("gateway = %+v", rs[1])
	}
}

func TestParseWrongVersion(t *testing.T) {
	_, errs := Parse("x.yaml", []byte("apiVersion: networking.istio.io/v9\nkind: VirtualService\nmetadata: {name: a}\n"))
	if len(errs) != 1 || errs[0].Kind != ErrSchema || !strings.Contains(errs[0].Message, "use apiVersion networking.istio.io/v1") {
		t.Fatalf("errs = %v", errs)
	}
}

func TestStoreFileOverridesCluster(t *testing.T) {
	file := &Resource{Kind: KindService, ObjectMeta: objMeta("default", "reviews"), Origin: Origin{Source: SourceFile, Path: "a.yaml", Line: 1}}
	cluster := &Resource{Kind: KindService, ObjectMeta: objMeta("default", "reviews"), Origin: Origin{Source: SourceCluster}}
	other := &Resource{Kind: KindService, ObjectMeta: objMeta("default", "ratings"), Origin: Origin{Source: SourceCluster}}
	for _, order := range [][]*Resource{{file, cluster, other}, {cluster, other, file}} {
		s := NewStoreFrom(order)
		if got := s.Get(KindService, "default", "reviews"); got != file {
			t.Errorf("Get = %v, want the file object", got.Origin)
		}
		l := s.List(KindService, "")
		if len(l) != 2 || l[0].Name != "ratings" || l[1].Name != "reviews" {
			t.Errorf("List = %v", l)
		}
		if len(s.Duplicates()) != 0 {
			t.Errorf("a cluster object replaced by a file is not a duplicate")
		}
	}
	s := NewStoreFrom([]*Resource{file, {Kind: KindService, ObjectMeta: objMeta("default", "reviews"), Origin: Origin{Source: SourceFile, Path: "b.yaml"}}})
	if len(s.Duplicates()) != 1 || s.Get(KindService, "default", "reviews").Origin.Path != "b.yaml" {
		t.Errorf("last file should win and the first be a duplicate")
	}
}

func TestDefaultNamespace(t *testing.T) {
	rs, _ := Parse("a.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"))
	DefaultNamespace(rs, "bookinfo")
	if rs[0].Namespace != "bookinfo" || rs[0].Service().Namespace != "bookinfo" || rs[1].Namespace != "" {
		t.Errorf("namespaces: %q %q %q", rs[0].Namespace, rs[0].Service().Namespace, rs[1].Namespace)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(routes))
	f.Add([]byte("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{}]}"))
	f.Add([]byte("a: &x [*x]\n---\n--- \n- 1"))
	// Mesh kinds, so that mutations reach the direct node decoders.
	for _, name := range []string{"gateway.yaml", "destination-rules.yaml", "mesh.yaml"} {
		if b, err := os.ReadFile(filepath.Join("../../testdata/bookinfo", name)); err == nil {
			f.Add(b)
		} else {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, errs := Parse("f.yaml", data)
		for _, r := range rs {
			if r.Kind == "" || r.Origin.Path != "f.yaml" || r.Origin.Line < 1 {
				t.Fatalf("resource without kind or origin: %+v", r)
			}
			if l := r.Line("spec.http[0].route[0]"); l < r.Origin.Line {
				t.Fatalf("field line %d before the document line %d", l, r.Origin.Line)
			}
		}
		// Line breaks as YAML counts them: CR LF, LF, CR, NEL, LS, PS.
		text := strings.ReplaceAll(string(data), "\r\n", "\n")
		lines := strings.Count(text, "\n") + strings.Count(text, "\r") + strings.Count(text, "\u0085") +
			strings.Count(text, "\u2028") + strings.Count(text, "\u2029") + 1
		for _, e := range errs {
			if e.Origin.Line < 1 || e.Origin.Line > lines || e.Message == "" || !strings.HasPrefix(e.Error(), "f.yaml:") {
				t.Fatalf("parse error without a line of the input or a message: %v", e)
			}
		}
		for _, r := range rs {
			checkSpecRoundTrip(t, r)
			checkFastDecode(t, r)
		}
	})
}

// checkSpecRoundTrip: the typed spec of a mesh object is what the input
// said, so writing it out and parsing it again gives the same spec.
func checkSpecRoundTrip(t *testing.T, r *Resource) {
	t.Helper()
	m, ok := r.Spec.(proto.Message)
	if !ok {
		return
	}
	spec, err := protojson.Marshal(m)
	if err != nil {
		t.Fatalf("%s: spec does not encode: %v", r.Key(), err)
	}
	doc, _ := json.Marshal(map[string]any{
		"apiVersion": r.APIVersion, "kind": string(r.Kind),
		"metadata": map[string]string{"name": r.Name, "namespace": r.Namespace},
		"spec":     json.RawMessage(spec),
	})
	back, errs := Parse("g.yaml", doc)
	if len(errs) > 0 || len(back) != 1 {
		t.Fatalf("%s: its own spec does not parse back: %v\n%s", r.Key(), errs, doc)
	}
	if !proto.Equal(back[0].Spec.(proto.Message), m) {
		t.Fatalf("%s: spec changed in a round trip:\n%v\n%v", r.Key(), m, back[0].Spec)
	}
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
