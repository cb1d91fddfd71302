package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// slowJSON is the reference: yaml.v3's decoder, then encoding/json.
func slowJSON(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func checkJSONOf(t *testing.T, in string) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(in), &n); err != nil {
		return
	}
	if hasTag(&n, "!!timestamp", 0) {
		// The decoder turns timestamps into time.Time; JSONOf keeps them as
		// written, as kubectl does. Tested apart.
		return
	}
	want, werr := slowJSON(&n)
	b, err := JSONOf(&n)
	if werr != nil {
		// JSONOf is more lenient in one way only: non-string keys become
		// strings, as sigs.k8s.io/yaml and kubectl do.
		return
	}
	if err != nil {
		t.Fatalf("%q: %v", in, err)
	}
	var got any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%q: invalid JSON %s: %v", in, b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, got, want)
	}
}

func hasTag(n *yaml.Node, tag string, depth int) bool {
	if depth > 100 {
		return false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == tag {
		return true
	}
	for _, c := range n.Content {
		if hasTag(c, tag, depth+1) {
			return true
		}
	}
	return false
}

func TestJSONOfKeepsTimestampsAsWritten(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("t: 2001-12-14\n"), &n); err != nil {
		t.Fatal(err)
	}
	b, err := JSONOf(&n)
	if err != nil || string(b) != `{"t":"2001-12-14"}` {
		t.Fatalf("%s %v", b, err)
	}
}

var jsonCases = []string{
	"a: 1\nb: 0x1F\nc: 1.5e3\nd: true\ne: null\nf: ~\ng: '007'\nh: \"tab\\there\"\ni: [1, two, {x: y}]\n",
	"weight: 90\nhost: reviews\nsubset: v2\nport: {number: 9080}\n",
	"base: &b {a: 1, b: 2}\nuse: *b\nlist: [*b, *b]\n",
	"base: &b {a: 1, b: 2}\nmerged:\n  <<: *b\n  b: 3\n",
	"s: \"é\\u0001\\\"\\\\ ok\"\nu: -0\nv: +5\n",
	"1: int key\ntrue: bool key\n",
	"x: .inf\n",
	"items:\n- kind: Pod\n  spec:\n    aaaa:\n    - 0: A\nkind: !000",
}

func TestJSONOfMatchesDecoder(t *testing.T) {
	for _, c := range jsonCases {
		checkJSONOf(t, c)
	}
}

func FuzzJSONOf(f *testing.F) {
	for _, c := range jsonCases {
		f.Add(c)
	}
	f.Fuzz(checkJSONOf)
}

// TestJSONOfWorkIsLinear checks, without timing anything, that converting a
// document does work proportional to its size: the allocations of JSONOf
// grow at most linearly from 10,000 to 40,000 keys (80,000 value nodes).
// Past 65,536 value nodes JSONOf used to hand the document to yaml.v3's
// decoder, which allocates for every key and compares every key with every
// other: a ConfigMap of 80,000 keys took two minutes.
func TestJSONOfWorkIsLinear(t *testing.T) {
	allocs := func(keys int) float64 {
		var b strings.Builder
		for i := 0; i < keys; i++ {
			fmt.Fprintf(&b, "key%d: [value%d]\n", i, i)
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(b.String()), &n); err != nil {
			t.Fatal(err)
		}
		var out []byte
		a := testing.AllocsPerRun(2, func() {
			var err error
			if out, err = JSONOf(&n); err != nil {
				t.Fatal(err)
			}
		})
		var m map[string][]string
		if err := json.Unmarshal(out, &m); err != nil || len(m) != keys {
			t.Fatalf("%d keys: %d decoded, %v", keys, len(m), err)
		}
		return a
	}
	small, big := allocs(10000), allocs(40000)
	// One output buffer that doubles as it grows: a few dozen allocations
	// whatever the size. Linear would be at most 4x; anything per key is
	// tens of thousands.
	if big > 4*small+8 {
		t.Errorf("JSONOf allocates %.0f times for 10,000 keys and %.0f for 40,000: not linear in the document", small, big)
	}
}

func TestJSONOfKeysAndTagsKubernetesReads(t *testing.T) {
	cases := map[string]string{
		// Found by FuzzProcess: an int key inside a sequence under a
		// document with a tag of its own made the old fallback produce a
		// map[interface{}]interface{} that encoding/json rejects.
		"items:\n- kind: Pod\n  spec:\n    aaaa:\n    - 0: A\nkind: !000":      `{"items":[{"kind":"Pod","spec":{"aaaa":[{"0":"A"}]}}],"kind":""}`,
		"0x10: a\n1.50: b\ntrue: c\n~: d\n":                                    `{"16":"a","1.5":"b","true":"c","~":"d"}`,
		"ref: !Ref web\nn: !!int 18446744073709551615\n":                       `{"ref":"web","n":18446744073709551615}`,
		"b: &b {x: 1, y: 2}\nc: &c {y: 3, z: 4}\nm:\n  <<: [*b, *c]\n  x: 0\n": `{"b":{"x":1,"y":2},"c":{"y":3,"z":4},"m":{"x":0,"y":2,"z":4}}`,
	}
	for in, want := range cases {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(in), &n); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		got, err := JSONOf(&n)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal([]byte(want), &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%q:\n got %s\nwant %s", in, got, want)
		}
	}
}

func TestJSONOfRejectsWithLine(t *testing.T) {
	cases := map[string]struct {
		line int
		msg  string
	}{
		"a: 1\nb:\n  ? [x, y]\n  : v\n": {3, "mapping key must be a string"},
		"a: 1\nb: !!int ten\n":          {2, "not an integer"},
		"a:\n  b: .inf\n":               {2, "no JSON form"},
		"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n": {0, "aliases expand to more than"},
	}
	for in, want := range cases {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(in), &n); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		_, err := JSONOf(&n)
		if err == nil || !strings.Contains(err.Error(), want.msg) {
			t.Errorf("%q: error %v, want %q", in, err, want.msg)
			continue
		}
		if want.line > 0 && NodeErrorLine(err) != want.line {
			t.Errorf("%q: error at line %d, want %d", in, NodeErrorLine(err), want.line)
		}
	}
}
