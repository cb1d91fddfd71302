package config

import (
	"encoding/json"
	"reflect"
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
