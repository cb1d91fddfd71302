package install

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func meshConfigMap(t *testing.T, mesh, annotation string) *unstructured.Unstructured {
	t.Helper()
	objs, err := ParseObjects("t", strings.NewReader(`apiVersion: v1
kind: ConfigMap
metadata:
  name: mesh
  namespace: mesh-system
  annotations:
    example.com/settings: '`+annotation+`'
data:
  script: |
    #!/bin/sh
    echo hello
  mesh: |
`+mesh))
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v %v", objs, err)
	}
	return objs[0]
}

// Two renders that differ inside the mesh ConfigMap's embedded YAML (or a
// JSON annotation) show the keys that changed, not two opaque blobs.
func TestDiffManifestsLooksInsideEmbeddedDocuments(t *testing.T) {
	a := meshConfigMap(t, `    accessLog: {enabled: false}
    mtls:
      mode: PERMISSIVE
    outboundTrafficPolicy: ALLOW_ANY
    trustDomain: cluster.local
`, `{"replicas":1,"zones":["a","b"]}`)
	b := meshConfigMap(t, `    accessLog: {enabled: false}
    mtls:
      mode: STRICT
    trustDomain: cluster.local
    tracing:
      sampling: 100
`, `{"replicas":2,"zones":["a","b"]}`)
	diffs := DiffManifests([]*unstructured.Unstructured{a}, []*unstructured.Unstructured{b})
	if len(diffs) != 1 || diffs[0].Ref != "ConfigMap/mesh-system/mesh" || diffs[0].Change != "changed" {
		t.Fatalf("diffs = %+v", diffs)
	}
	want := []FieldDiff{
		{Path: "data.mesh: mtls.mode", A: "PERMISSIVE", B: "STRICT", InA: true, InB: true},
		{Path: "data.mesh: outboundTrafficPolicy", A: "ALLOW_ANY", InA: true},
		{Path: "data.mesh: tracing.sampling", B: "100", InB: true},
		{Path: "metadata.annotations.example.com/settings: replicas", A: "1", B: "2", InA: true, InB: true},
	}
	if !reflect.DeepEqual(diffs[0].Fields, want) {
		t.Errorf("fields:\n got %+v\nwant %+v", diffs[0].Fields, want)
	}
}

// A string that is not a document on both sides, or whose documents differ
// only in formatting, stays one value.
func TestDiffFieldsEmbeddedFallsBack(t *testing.T) {
	a := map[string]any{"data": map[string]any{"s": "mtls:\n  mode: STRICT\n", "p": "line one\nline two\n", "j": "{\"a\": 1}"}}
	b := map[string]any{"data": map[string]any{"s": "mtls: {mode: STRICT}  # same\n", "p": "line one\nline 2\n", "j": "plain"}}
	got := DiffFields(a, b)
	var paths []string
	for _, f := range got {
		paths = append(paths, f.Path)
	}
	if want := []string{"data.j", "data.p", "data.s"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %v, want %v (%+v)", paths, want, got)
	}
}
