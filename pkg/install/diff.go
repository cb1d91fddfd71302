package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// FieldDiff is one differing leaf between two documents, by JSON path.
type FieldDiff struct {
	Path string `json:"path"`
	A    string `json:"a,omitempty"`
	B    string `json:"b,omitempty"`
	// InA and InB tell a missing field from an empty value.
	InA bool `json:"-"`
	InB bool `json:"-"`
}

// DiffFields compares two documents leaf by leaf, sorted by path. A string
// that holds a YAML or JSON document on both sides (the mesh ConfigMap's
// data.mesh, a JSON annotation) is compared inside: its changed keys are
// reported as "data.mesh: mtls.mode", not as two opaque blobs.
func DiffFields(a, b map[string]any) []FieldDiff {
	return diffLeaves(a, b)
}

func diffLeaves(a, b any) []FieldDiff {
	fa, fb := map[string]any{}, map[string]any{}
	flatten("", a, fa)
	flatten("", b, fb)
	var out []FieldDiff
	for p, ra := range fa {
		va := leafText(ra)
		rb, ok := fb[p]
		if !ok {
			out = append(out, FieldDiff{Path: p, A: va, InA: true})
			continue
		}
		vb := leafText(rb)
		if va == vb {
			continue
		}
		if inner := diffEmbedded(ra, rb); len(inner) > 0 {
			for _, f := range inner {
				f.Path = p + ": " + f.Path
				out = append(out, f)
			}
			continue
		}
		out = append(out, FieldDiff{Path: p, A: va, B: vb, InA: true, InB: true})
	}
	for p, rb := range fb {
		if _, ok := fa[p]; !ok {
			out = append(out, FieldDiff{Path: p, B: leafText(rb), InB: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// diffEmbedded compares two strings as the documents they hold; nil when
// either is not a YAML or JSON mapping or list, or when they differ only in
// formatting.
func diffEmbedded(a, b any) []FieldDiff {
	da, ok := embeddedDocument(a)
	if !ok {
		return nil
	}
	db, ok := embeddedDocument(b)
	if !ok {
		return nil
	}
	return diffLeaves(da, db)
}

func embeddedDocument(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	t := strings.TrimSpace(s)
	// A one-line string is a document only in JSON's brackets; "a: b" on
	// one line is more likely prose than config.
	if !strings.Contains(t, "\n") && !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
		return nil, false
	}
	var doc any
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return nil, false
	}
	switch doc.(type) {
	case map[string]any, []any:
		return doc, true
	}
	return nil, false
}

// flatten records every leaf of v under its path.
func flatten(prefix string, v any, out map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && prefix != "" {
			out[prefix] = t
		}
		for k, e := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(t) == 0 {
			out[prefix] = t
		}
		for i, e := range t {
			flatten(prefix+"["+strconv.Itoa(i)+"]", e, out)
		}
	default:
		out[prefix] = v
	}
}

func leafText(v any) string {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			return "{}"
		}
	case []any:
		if len(t) == 0 {
			return "[]"
		}
	}
	b, _ := yaml.Marshal(v)
	return string(bytes.TrimSpace(b))
}

// ObjectDiff is the difference of one object between two manifests.
type ObjectDiff struct {
	Ref string `json:"object"`
	// Change is "added" (only in B), "removed" (only in A) or "changed".
	Change string      `json:"change"`
	Fields []FieldDiff `json:"fields,omitempty"`
}

// DiffManifests compares two sets of objects object by object, keyed by
// kind, namespace and name, in the order of b then a.
func DiffManifests(a, b []*unstructured.Unstructured) []ObjectDiff {
	index := func(objs []*unstructured.Unstructured) (map[string]*unstructured.Unstructured, []string) {
		m := map[string]*unstructured.Unstructured{}
		var keys []string
		for _, o := range objs {
			k := Ref(o)
			if _, dup := m[k]; !dup {
				keys = append(keys, k)
			}
			m[k] = o
		}
		return m, keys
	}
	ma, ka := index(a)
	mb, kb := index(b)
	var out []ObjectDiff
	for _, k := range kb {
		oa, ok := ma[k]
		if !ok {
			out = append(out, ObjectDiff{Ref: k, Change: "added"})
			continue
		}
		if !reflect.DeepEqual(oa.Object, mb[k].Object) {
			if f := DiffFields(oa.Object, mb[k].Object); len(f) > 0 {
				out = append(out, ObjectDiff{Ref: k, Change: "changed", Fields: f})
			}
		}
	}
	for _, k := range ka {
		if _, ok := mb[k]; !ok {
			out = append(out, ObjectDiff{Ref: k, Change: "removed"})
		}
	}
	return out
}

// ParseObjects reads a YAML or JSON stream of Kubernetes objects; source
// names the input in errors.
func ParseObjects(source string, r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d is not a Kubernetes object (no kind or metadata.name)", source, i)
		}
		out = append(out, u)
	}
}
