package install

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/kyaml/openapi"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func renderProfile(t testing.TB, o profiles.ResolveOptions) *Manifest {
	t.Helper()
	mi, err := profiles.Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Render(mi)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The golden files are the reviewable record of what each profile installs.
func TestRenderGolden(t *testing.T) {
	for _, name := range profiles.Names() {
		t.Run(name, func(t *testing.T) {
			got, err := goldenYAML(renderProfile(t, profiles.ResolveOptions{Profile: name}))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/install -run TestRenderGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render of profile %s differs from %s; review and run with -update", name, golden)
			}
			full1, _ := renderProfile(t, profiles.ResolveOptions{Profile: name}).YAML()
			full2, _ := renderProfile(t, profiles.ResolveOptions{Profile: name}).YAML()
			if !bytes.Equal(full1, full2) {
				t.Errorf("two renders of %s differ", name)
			}
		})
	}
}

// goldenYAML elides the CRD schemas (850 KB copied verbatim from istio.io/api)
// so that the golden files show what meshctl itself decides.
func goldenYAML(m *Manifest) ([]byte, error) {
	objs := m.Objects()
	for i, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			c := o.DeepCopy()
			c.Object["spec"] = "(schema from istio.io/api, elided)"
			objs[i] = c
		}
	}
	return ObjectsYAML(objs)
}

func TestRenderLabelsEveryObject(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "demo", MeshNamespace: "mesh-x"})
	want := map[string]bool{vocab.ComponentBase: true, vocab.ComponentServer: true, vocab.ComponentIngressGateway: true, vocab.ComponentEgressGateway: true,
		vocab.ComponentPrometheus: true, vocab.ComponentGrafana: true, vocab.ComponentJaeger: true, vocab.ComponentKiali: true, vocab.ComponentZipkin: true}
	for _, c := range m.Components {
		delete(want, c.Name)
		for _, o := range c.Objects {
			l := o.GetLabels()
			if o.GetKind() == "CustomResourceDefinition" {
				// Shared by every install: naming one would make them look
				// like that install's.
				if l[vocab.LabelComponent] != c.Name || l[vocab.LabelPartOf] != vocab.PartOfValue || l[vocab.LabelRevision] != "" || l[vocab.LabelInstall] != "" {
					t.Errorf("%s: labels %v, want part-of and component only", Ref(o), l)
				}
				continue
			}
			if l[vocab.LabelComponent] != c.Name || l[vocab.LabelPartOf] != vocab.PartOfValue || l[vocab.LabelRevision] != vocab.DefaultRevision || l[vocab.LabelInstall] != vocab.DefaultRevision {
				t.Errorf("%s lacks ownership labels: %v", Ref(o), l)
			}
			if o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && !strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
				if o.GetNamespace() != "mesh-x" {
					t.Errorf("%s is not in the mesh namespace", Ref(o))
				}
			} else if !strings.HasSuffix(o.GetName(), "-mesh-x") {
				t.Errorf("cluster-scoped %s is not named after the mesh namespace", Ref(o))
			}
			if o.GetKind() == "Deployment" {
				tl, _, _ := unstructuredMap(o.Object, "spec", "template", "metadata", "labels")
				if tl[vocab.LabelComponent] != c.Name || tl[vocab.LabelApp] == "" {
					t.Errorf("%s pods lack component/app labels: %v", Ref(o), tl)
				}
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("demo does not render components %v", want)
	}
}

func TestRenderRevisionAndOverrides(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal", Revision: "canary", MeshNamespace: "mesh-y", Sets: []string{
		"hub=registry.example/mesh", "tag=1.2.3",
		"components.server.autoscale.enabled=false", "components.server.replicas=3",
		"components.server.env.FOO=bar",
	}})
	srv := m.Component(vocab.ComponentServer)
	if srv == nil {
		t.Fatal("no server component")
	}
	names := map[string]bool{}
	for _, o := range srv.Objects {
		names[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, n := range []string{"Deployment/meshctl-server-canary", "Service/meshctl-server-canary", "ConfigMap/mesh-canary",
		"ClusterRole/meshctl-server-canary-mesh-y", "MutatingWebhookConfiguration/meshctl-sidecar-injector-canary-mesh-y"} {
		if !names[n] {
			t.Errorf("missing %s in %v", n, names)
		}
	}
	y, _ := ObjectsYAML(srv.Objects)
	for _, want := range []string{"image: registry.example/mesh/meshctl:1.2.3", "replicas: 3", "name: FOO", "proxyImage: registry.example/mesh/proxy:1.2.3",
		"discoveryAddress: meshctl-server-canary.mesh-y.svc:15012", "failurePolicy: Ignore", "namespace: mesh-y\n      path: /inject"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("server render lacks %q", want)
		}
	}
	if m.Component(vocab.ComponentIngressGateway) != nil || m.Component(vocab.ComponentGrafana) != nil {
		t.Error("minimal renders gateways or addons")
	}
}

// meshConfig.mtls.mode is honoured by the mesh-wide PeerAuthentication in
// the mesh (root) namespace, part of the control plane; PERMISSIVE, Istio's
// behaviour without a policy, renders none.
func TestRenderMeshMTLSMode(t *testing.T) {
	for _, tc := range []struct {
		mode, revision, name string
	}{
		{"PERMISSIVE", "", ""},
		{"STRICT", "", "default"},
		{"DISABLE", "", "default"},
		{"STRICT", "canary", "default-canary"},
	} {
		t.Run(tc.mode+"/"+tc.revision, func(t *testing.T) {
			m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal", Revision: tc.revision, MeshNamespace: "mesh-z",
				Sets: []string{"meshConfig.mtls.mode=" + tc.mode}})
			var found []*unstructured.Unstructured
			for _, c := range m.Components {
				for _, o := range c.Objects {
					if o.GetKind() == "PeerAuthentication" {
						if c.Name != vocab.ComponentServer {
							t.Errorf("%s rendered with component %s, want %s", Ref(o), c.Name, vocab.ComponentServer)
						}
						found = append(found, o)
					}
				}
			}
			if tc.name == "" {
				if len(found) != 0 {
					t.Fatalf("%s renders %d PeerAuthentications, want none", tc.mode, len(found))
				}
				return
			}
			if len(found) != 1 {
				t.Fatalf("%s renders %d PeerAuthentications, want 1", tc.mode, len(found))
			}
			pa := found[0]
			mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
			_, hasSelector, _ := unstructured.NestedFieldNoCopy(pa.Object, "spec", "selector")
			if pa.GetAPIVersion() != "security.istio.io/v1" || pa.GetName() != tc.name || pa.GetNamespace() != "mesh-z" || mode != tc.mode || hasSelector {
				t.Errorf("PeerAuthentication %s/%s %s mode %q (selector %v), want %s/%s mode %s without a selector",
					pa.GetNamespace(), pa.GetName(), pa.GetAPIVersion(), mode, hasSelector, "mesh-z", tc.name, tc.mode)
			}
			rev := tc.revision
			if rev == "" {
				rev = vocab.DefaultRevision
			}
			if l := pa.GetLabels(); l[vocab.LabelInstall] != rev || l[vocab.LabelComponent] != vocab.ComponentServer {
				t.Errorf("labels %v: not this install's", l)
			}
		})
	}
}

func TestRenderRenamedGateway(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Sets: []string{"components.ingressGateways[0].name=edge", "components.ingressGateways[0].replicas=2"}})
	y, _ := ObjectsYAML(m.Component(vocab.ComponentIngressGateway).Objects)
	s := string(y)
	if strings.Contains(s, vocab.DefaultIngressGatewayName) || !strings.Contains(s, "serviceAccountName: edge") || !strings.Contains(s, "replicas: 2") {
		t.Errorf("renamed gateway render:\n%s", s)
	}
}

func unstructuredMap(obj map[string]any, fields ...string) (map[string]any, bool, error) {
	cur := obj
	for _, f := range fields {
		next, ok := cur[f].(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = next
	}
	return cur, true, nil
}

// BenchmarkRenderCachedDemo measures a render of a spec already rendered in
// the same process (the server re-rendering, install's dry run after a
// diff): cache hits plus the YAML writer. A CLI process never sees this
// case; BenchmarkRenderFirst is what `manifest generate` pays.
func BenchmarkRenderCachedDemo(b *testing.B) {
	renderProfile(b, profiles.ResolveOptions{Profile: "demo"})
	b.ReportAllocs()
	for b.Loop() {
		mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: "demo"})
		if err != nil {
			b.Fatal(err)
		}
		m, err := Render(mi)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.WriteYAML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFirst measures the first render of a profile in a process:
// a fresh renderer, CRDs not yet decoded, kustomize's OpenAPI schema not yet
// loaded, no cached encodings; then the YAML written. It is what
// `meshctl manifest generate` spends after start-up.
func BenchmarkRenderFirst(b *testing.B) {
	benchFirstRender(b, (*renderer).render)
}

// benchFirstRender times render, in a fresh renderer each time, and the
// writing of its YAML, for every profile.
func benchFirstRender(b *testing.B, render func(*renderer, *profiles.MeshInstall) (*Manifest, error)) {
	for _, name := range profiles.Names() {
		b.Run(name, func(b *testing.B) {
			mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: name})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := freshRenderer()
				m, err := render(r, mi)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.WriteYAML(io.Discard); err != nil {
					b.Fatal(err)
				}
				r.forget()
			}
		})
	}
}

// The CRDs skip kustomize for speed (crds.go); they must come out exactly as
// kustomize renders the base with the same labels.
func TestCRDFastPathMatchesKustomize(t *testing.T) {
	r := newRenderer()
	fast, err := r.renderCRDs()
	if err != nil {
		t.Fatal(err)
	}
	slow, err := r.kustomize(overlay{dir: "base", resources: []string{"../../base"}, labels: crdLabels()})
	if err != nil {
		t.Fatal(err)
	}
	sortObjects(fast)
	sortObjects(slow)
	a, _ := ObjectsYAML(fast)
	b, _ := ObjectsYAML(slow)
	if len(fast) != 11 || !bytes.Equal(a, b) {
		t.Errorf("fast CRD render (%d objects, %d bytes) differs from kustomize's (%d objects, %d bytes)", len(fast), len(a), len(slow), len(b))
	}
}

func TestCRDsAreTheMeshAPI(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range crds {
		names = append(names, c.GetName())
	}
	for _, want := range []string{"virtualservices.networking.istio.io", "destinationrules.networking.istio.io", "gateways.networking.istio.io",
		"serviceentries.networking.istio.io", "sidecars.networking.istio.io", "workloadentries.networking.istio.io",
		"peerauthentications.security.istio.io", "requestauthentications.security.istio.io", "authorizationpolicies.security.istio.io",
		"telemetries.telemetry.istio.io"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("CRD %s is not shipped (have %v)", want, names)
		}
	}
	crds[0].SetName("changed")
	again, _ := CRDs()
	if again[0].GetName() == "changed" {
		t.Error("CRDs() returns shared objects")
	}
}

// freshRenderer is a renderer in the state of a new process: kustomize's
// process-wide OpenAPI schema is dropped too.
func freshRenderer() *renderer {
	openapi.ResetOpenAPI()
	return newRenderer()
}

// jsonValue must give what the JSON trip gives, or refuse.
func TestJSONValueMatchesTheJSONTrip(t *testing.T) {
	in := map[string]any{"i": 3, "f": 2.5, "whole": 4.0, "huge": 1e20, "s": "x", "b": true, "n": nil,
		"l": []any{1, map[string]any{"k": 7.0}}}
	got, ok := jsonValue(in)
	if !ok {
		t.Fatal("refused plain values")
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := &unstructured.Unstructured{}
	if err := want.UnmarshalJSON(append(b[:len(b)-1], []byte(`,"kind":"K","apiVersion":"v1"}`)...)); err != nil {
		t.Fatal(err)
	}
	delete(want.Object, "kind")
	delete(want.Object, "apiVersion")
	if !reflect.DeepEqual(got, want.Object) {
		t.Errorf("jsonValue gave %#v, the JSON trip %#v", got, want.Object)
	}
	if _, ok := jsonValue(map[string]any{"u": uint8(1)}); ok {
		t.Error("a type JSON would change was accepted")
	}
}

// manifests/openapi.json must hold the schema of every kind the profiles
// render that kustomize's built-in schema knows: a kind added to manifests/
// without `go generate ./manifests/` would have its patches merged without
// merge keys.
func TestOpenAPISubsetCoversRenderedKinds(t *testing.T) {
	subset, err := manifests.FS.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(subset, &sub); err != nil {
		t.Fatal(err)
	}
	openapi.ResetOpenAPI()
	defer func() {
		openapi.ResetOpenAPI()
		if err := openapi.SetSchema(nil, subset, true); err != nil {
			t.Error(err)
		}
	}()
	byGVK := map[string]string{}
	for name, d := range openapi.Schema().Definitions {
		exts, _ := d.Extensions["x-kubernetes-group-version-kind"].([]any)
		for _, e := range exts {
			m, _ := e.(map[string]any)
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			k, _ := m["kind"].(string)
			byGVK[schema.GroupVersionKind{Group: g, Version: v, Kind: k}.String()] = name
		}
	}
	m := renderProfile(t, profiles.ResolveOptions{Profile: "demo", Sets: []string{"components.server.autoscale.enabled=true"}})
	checked := 0
	for _, o := range m.Objects() {
		name, known := byGVK[o.GroupVersionKind().String()]
		if !known || o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		checked++
		if _, ok := sub.Definitions[name]; !ok {
			t.Errorf("%s: manifests/openapi.json lacks %s; run go generate ./manifests/", Ref(o), name)
		}
	}
	if checked < 10 {
		t.Errorf("only %d rendered objects have a built-in schema", checked)
	}
}

// labelFieldSpecs stand in for kustomize's default label field specs; both
// must label exactly the same fields of everything meshctl renders.
func TestLabelFieldSpecsMatchKustomize(t *testing.T) {
	cases := map[string]profiles.ResolveOptions{
		"revision": {Profile: "demo", Revision: "canary", MeshNamespace: "mesh-y", Sets: []string{
			"components.server.autoscale.enabled=true", "components.ingressGateways[0].name=edge",
			"components.egressGateways[0].enabled=true", "components.server.replicas=3",
			"meshConfig.mtls.mode=STRICT",
		}},
	}
	for _, name := range profiles.Names() {
		cases[name] = profiles.ResolveOptions{Profile: name}
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			mi, err := profiles.Resolve(o)
			if err != nil {
				t.Fatal(err)
			}
			var out [2][]byte
			for i, kustomizeLabels := range []bool{false, true} {
				r := newRenderer()
				r.kustomizeLabels = kustomizeLabels
				m, err := r.render(mi)
				if err != nil {
					t.Fatal(err)
				}
				if out[i], err = m.YAML(); err != nil {
					t.Fatal(err)
				}
				r.forget()
			}
			if !bytes.Equal(out[0], out[1]) {
				t.Errorf("labels set through labelFieldSpecs differ from kustomize's `labels:` (%d and %d bytes); add the field specs of the new kind",
					len(out[0]), len(out[1]))
			}
		})
	}
}

// TestAddonBasesCarryTheirComponentLabel: an addon as shipped is rendered
// from its base alone, with no overlay adding its component label, so the
// base must carry it on every object and on every pod template; an addon
// with an override (its own overlay) gets the same objects.
func TestAddonBasesCarryTheirComponentLabel(t *testing.T) {
	for _, sets := range [][]string{nil, {"addons.grafana.image=example.com/grafana:1", "addons.kiali.resources.requests.cpu=1"}} {
		m := renderProfile(t, profiles.ResolveOptions{Profile: "demo", Sets: sets})
		for _, name := range AddonComponents {
			c := m.Component(name)
			if c == nil || len(c.Objects) == 0 {
				t.Fatalf("demo (--set %v) renders no %s", sets, name)
			}
			for _, o := range c.Objects {
				if got := o.GetLabels()[vocab.LabelComponent]; got != name {
					t.Errorf("%s: %s = %q, want %q", Ref(o), vocab.LabelComponent, got, name)
				}
				if o.GetKind() != "Deployment" {
					continue
				}
				got, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "labels", vocab.LabelComponent)
				if got != name {
					t.Errorf("%s: pod template %s = %q, want %q", Ref(o), vocab.LabelComponent, got, name)
				}
			}
		}
	}
}
