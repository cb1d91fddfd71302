package install

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/profiles"
)

// marshalYAML must write exactly what sigs.k8s.io/yaml writes, for every
// object a profile renders and for the values where the JSON trip changes
// something.
func TestMarshalYAMLMatchesSigsYAML(t *testing.T) {
	check := func(name string, obj map[string]any) {
		t.Helper()
		checkMarshalYAML(t, name, obj)
	}
	fast := 0
	for _, p := range profiles.Names() {
		for _, o := range renderProfile(t, profiles.ResolveOptions{Profile: p, Sets: []string{"components.server.autoscale.enabled=true"}}).Objects() {
			check(p+"/"+Ref(o), o.Object)
			if sameThroughJSON(o.Object) {
				fast++
			}
		}
	}
	if fast < 30 {
		t.Errorf("only %d rendered objects take the direct path", fast)
	}
	values := []any{
		nil, true, false, int64(0), int64(-7), int64(math.MaxInt64), int64(math.MinInt64), 7, int32(3), uint64(1 << 63),
		0.5, -2.25, 1e-7, 1.5e300, 5.0, 1e6, 1e15, 1e20, 1.5e19, 1e21, -0.0, float32(0.1),
		"", "x", "true", "null", "~", "1.0", "0x1f", "2024-01-01", "<<", "a: b", "- x", "#c", "'q'", "\"dq\"", " lead", "trail ",
		"line\nbreak", "tab\there", "\x01ctl", "del\x7f", "nel\u0085", "c1\u0080", "nbsp\u00a0", "\u2028sep", "\ufeffbom",
		"bmp\ufffd", "\ufffe", "\uffff", "emoji😀", "bad\xffutf8", "<html>&", strings1k(),
		map[string]any{}, []any{}, map[string]any(nil), []any(nil), []string{"a"}, map[string]string{"a": "b"},
		[]any{map[string]any{"k": []any{int64(1), 2.5, nil}}},
	}
	for i, v := range values {
		check("value", map[string]any{"v": v, "list": []any{v}, "nested": map[string]any{"x": v}})
		if s, ok := v.(string); ok {
			check("key", map[string]any{s: int64(i)})
		}
	}
}

func strings1k() string {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = 'a' + byte(i%26)
		if i%97 == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

func FuzzMarshalYAML(f *testing.F) {
	f.Add("key", "value", 1.5, int64(3))
	f.Add("<<", "\x7f", 1e6, int64(-1))
	f.Add("a\u0085", "\ufeff", 1e21, int64(0))
	f.Fuzz(func(t *testing.T, k, s string, x float64, n int64) {
		checkMarshalYAML(t, "fuzz", map[string]any{k: s, "f": x, "n": n, "l": []any{s, x, map[string]any{k: n}}})
	})
}

// What `manifest generate` writes (the CRDs without their schemas decoded)
// must be what Render's manifest writes, to a stream and to a directory.
func TestWriteRenderedMatchesRender(t *testing.T) {
	cases := []profiles.ResolveOptions{
		{Profile: "demo", Revision: "canary", MeshNamespace: "mesh-y", Sets: []string{"meshConfig.mtls.mode=STRICT"}},
		{Profile: "minimal", Sets: []string{"components.base.enabled=false"}},
	}
	for _, name := range profiles.Names() {
		cases = append(cases, profiles.ResolveOptions{Profile: name})
	}
	for _, o := range cases {
		m := renderProfile(t, o)
		mi := m.Spec
		want, err := m.YAML()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteRenderedYAML(&got, mi); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%+v: WriteRenderedYAML wrote %d bytes, Render's manifest %d", o, got.Len(), len(want))
		}
		a, b := t.TempDir(), t.TempDir()
		if _, err := WriteDir(a, m); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteRenderedDir(b, mi); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(a)
		for _, e := range entries {
			x, _ := os.ReadFile(filepath.Join(a, e.Name()))
			y, err := os.ReadFile(filepath.Join(b, e.Name()))
			if err != nil || !bytes.Equal(x, y) {
				t.Errorf("%+v: %s differs between WriteDir and WriteRenderedDir (%v)", o, e.Name(), err)
			}
		}
		if again, _ := os.ReadDir(b); len(again) != len(entries) {
			t.Errorf("%+v: WriteRenderedDir wrote %d files, WriteDir %d", o, len(again), len(entries))
		}
	}
}

// BenchmarkWriteRenderedFirst is what `meshctl manifest generate` spends
// after start-up: the first render of a process, written out without the
// CRDs' schemas decoded (BenchmarkRenderFirst renders for install).
func BenchmarkWriteRenderedFirst(b *testing.B) {
	benchFirstRender(b, func(r *renderer, mi *profiles.MeshInstall) (*Manifest, error) { return r.renderFor(mi, false) })
}

// crds.heads.json is generated from crds.json; a stale one would write
// another CRD's name or miss one.
func TestCRDHeadsMatchCRDs(t *testing.T) {
	full, err := loadCRDs(true)
	if err != nil {
		t.Fatal(err)
	}
	heads, err := loadCRDs(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.items) != len(heads.items) {
		t.Fatalf("%s has %d CRDs, %s %d: run go generate ./manifests/", crdFile, len(full.items), crdHeadFile, len(heads.items))
	}
	for i, item := range full.items {
		want := maps.Clone(item)
		delete(want, "spec")
		if !reflect.DeepEqual(want, heads.items[i]) {
			t.Errorf("CRD %d of %s is not %s without its spec: run go generate ./manifests/", i, crdHeadFile, crdFile)
		}
	}
}

// checkMarshalYAML holds marshalYAML to sigs.k8s.io/yaml.Marshal, byte for
// byte, wherever what that writes reads back as the object; and what
// marshalYAML writes must always read back as the object by JSON's rules
// (the manifest is applied as JSON). sigs.k8s.io/yaml loses a NEL and the
// other characters escapeUnreadable escapes, or fails on them in a key,
// which marshalYAML keeps.
func checkMarshalYAML(t *testing.T, name string, obj map[string]any) {
	t.Helper()
	want, werr := yaml.Marshal(obj)
	got, gerr := marshalYAML(obj)
	if gerr != nil {
		if werr == nil {
			t.Errorf("%s: marshalYAML failed (%v) where sigs.k8s.io/yaml wrote %q", name, gerr, want)
		}
		return
	}
	for k := range obj {
		if k == "<<" {
			// Written plain by both, and YAML 1.1 readers take it for a
			// merge key; no Kubernetes object can have one (field names,
			// label, annotation and ConfigMap keys exclude it).
			return
		}
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return // NaN and infinities have no JSON form; both write them as YAML does
	}
	var typed any
	if err := json.Unmarshal(j, &typed); err != nil {
		t.Fatal(err)
	}
	readsBack := func(b []byte) (bool, any) {
		var back any
		if err := yaml.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: YAML that does not parse: %v\n%s", name, err, b)
		}
		return reflect.DeepEqual(back, typed), back
	}
	ok, back := readsBack(got)
	if !ok {
		t.Errorf("%s: marshalYAML's output reads back as %#v, want %#v\n%s", name, back, typed, got)
	}
	if werr != nil {
		return // sigs.k8s.io/yaml cannot read its own JSON back (a key with a NEL, say)
	}
	if wantOK, _ := readsBack(want); wantOK && !bytes.Equal(got, want) {
		t.Errorf("%s: marshalYAML gave %q, sigs.k8s.io/yaml %q", name, got, want)
	}
}
