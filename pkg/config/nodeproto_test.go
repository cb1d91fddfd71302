package config

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkFastDecode: wherever the direct node decoders take an object, they
// give what the reference way (JSONOf, then protojson or encoding/json)
// gives. It returns how many parts they took.
func checkFastDecode(t testing.TB, r *Resource) (taken int) {
	t.Helper()
	if r.node == nil {
		return 0
	}
	if md := nodeAt(r.node, "metadata"); md != nil {
		var fast metav1.ObjectMeta
		if decodeMetaFast(md, &fast) {
			taken++
			var ref metav1.ObjectMeta
			b, err := JSONOf(md)
			if err == nil {
				err = json.Unmarshal(b, &ref)
			}
			if err != nil || !reflect.DeepEqual(fast, ref) {
				t.Fatalf("%s: metadata read directly as %+v, the reference way as %+v (%v)", r.Key(), fast, ref, err)
			}
		}
	}
	info, ok := InfoFor(r.Kind)
	sn := nodeAt(r.node, "spec")
	if !ok || !info.Mesh || sn == nil {
		return taken
	}
	fast := info.newSpec().(proto.Message)
	if !decodeProtoFast(sn, fast.ProtoReflect(), 0) {
		return taken
	}
	ref := info.newSpec().(proto.Message)
	b, err := JSONOf(sn)
	if err == nil {
		err = protojson.Unmarshal(b, ref)
	}
	if err != nil || !proto.Equal(fast, ref) {
		t.Fatalf("%s: spec read directly as %v, the reference way as %v (%v)", r.Key(), fast, ref, err)
	}
	return taken + 1
}

// Every document of the repository's test data decodes the same both ways,
// and the direct way takes most of them (or this test would check nothing).
func TestFastDecodeMatches(t *testing.T) {
	var files []string
	for _, root := range []string{"../../testdata", "../../manifests", "../../pkg"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return nil
		})
	}
	var resources, taken int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := Parse(f, data)
		for _, r := range rs {
			if info, ok := InfoFor(r.Kind); ok && info.Mesh {
				resources += 2 // metadata and spec
				taken += checkFastDecode(t, r)
			}
		}
	}
	t.Logf("the direct way took %d of %d metadata and specs of mesh objects", taken, resources)
	if resources < 200 || taken < resources*3/4 {
		t.Fatalf("the direct way took %d of %d metadata and specs of mesh objects in %d files; want most", taken, resources, len(files))
	}
}

// Shapes the direct way must leave to the reference way, which reads each
// of them differently from a plain field or refuses it with its own error.
func TestFastDecodeGivesUp(t *testing.T) {
	for _, spec := range []string{
		"hosts: [a]\nhosts: [b]",                  // repeated key
		"exportTo: [a]\nexport_to: [b]",           // one field by both names
		"hosts: &h [a]\ngateways: *h",             // alias
		"<<: {hosts: [a]}",                        // merge key
		"hosts: [1]",                              // number for a string
		"hosts: [null]",                           // null element
		"http: [{timeout: 5s}]",                   // google.protobuf.Duration
		"http: [{route: [{weight: 1.5}]}]",        // float for an integer
		"http: [{route: [{weight: '90'}]}]",       // quoted number
		"http: [{route: [{weight: 4294967296}]}]", // out of range
		"nope: 1",            // unknown field
		"hosts: !custom [a]", // (a tag on a list is fine; its items decide)
		"http: [{route: [{destination: {host: !t a}}]}]",                  // a tag of its own on a scalar
		"http: [{route: [{destination: {host: a, port: {number: -1}}}]}]", // negative for an unsigned integer
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(spec), &n); err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		m := KindInfoOf(t, KindVirtualService).newSpec().(proto.Message)
		ok := decodeProtoFast(n.Content[0], m.ProtoReflect(), 0)
		if spec == "hosts: !custom [a]" {
			if !ok {
				t.Errorf("%q: a tag on a list should not stop the direct way", spec)
			}
			continue
		}
		if ok {
			t.Errorf("%q: taken the direct way, which should have left it to the reference way", spec)
		}
	}
}

func KindInfoOf(t *testing.T, k Kind) KindInfo {
	info, ok := InfoFor(k)
	if !ok {
		t.Fatalf("no kind %s", k)
	}
	return info
}
