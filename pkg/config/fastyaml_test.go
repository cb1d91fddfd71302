package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// referenceDoc is the document node yaml.v3 makes of one document, with
// lines counted from first.
func referenceDoc(text []byte, first int) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	shiftLines(&root, first-1, 0)
	return root.Content[0], nil
}

// nodeDiff describes the first difference between two trees, "" for none.
func nodeDiff(path string, a, b *yaml.Node) string {
	if a == nil || b == nil {
		if a != b {
			return fmt.Sprintf("%s: %v against %v", path, a, b)
		}
		return ""
	}
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Anchor != b.Anchor ||
		a.Line != b.Line || a.Column != b.Column || a.HeadComment != b.HeadComment || a.LineComment != b.LineComment ||
		a.FootComment != b.FootComment || (a.Alias == nil) != (b.Alias == nil) || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: kind %v/%v style %v/%v tag %q/%q value %q/%q at %d:%d/%d:%d, %d/%d children",
			path, a.Kind, b.Kind, a.Style, b.Style, a.Tag, b.Tag, a.Value, b.Value, a.Line, a.Column, b.Line, b.Column, len(a.Content), len(b.Content))
	}
	for i := range a.Content {
		if d := nodeDiff(fmt.Sprintf("%s[%d]", path, i), a.Content[i], b.Content[i]); d != "" {
			return d
		}
	}
	return ""
}

// checkFastYAML: what fastYAML accepts, yaml.v3 reads into the same tree.
func checkFastYAML(t testing.TB, text []byte, first int) bool {
	t.Helper()
	fast, ok := fastYAML(text, first)
	if !ok {
		return false
	}
	ref, err := referenceDoc(text, first)
	if err != nil {
		t.Fatalf("fastYAML accepted what yaml.v3 refuses (%v):\n%s", err, text)
	}
	if d := nodeDiff("", fast, ref); d != "" {
		t.Fatalf("fastYAML and yaml.v3 differ at %s in:\n%s", d, text)
	}
	return true
}

// Every document of the repository's YAML reads the same both ways; the
// documents of issue 15's benchmark (generated services) all go the fast way.
func TestFastYAMLMatches(t *testing.T) {
	var files []string
	for _, root := range []string{"../../testdata", "../../manifests", "../../pkg", "../../docs", "../../examples"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return nil
		})
	}
	docs, fast := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range splitDocuments(data) {
			docs++
			if checkFastYAML(t, data[d.start:d.end], d.line) {
				fast++
			}
		}
	}
	t.Logf("%d of %d documents in %d files went the fast way", fast, docs, len(files))
	for i, d := range splitDocuments([]byte(servicesInput(20))) {
		text := []byte(servicesInput(20))[d.start:d.end]
		if !checkFastYAML(t, text, d.line) {
			t.Fatalf("document %d of the generated services went to yaml.v3:\n%s", i, text)
		}
	}
}

// servicesInput is issue 15's benchmark input: n Services, each with a
// VirtualService bound to one shared Gateway and a DestinationRule with
// subsets.
func servicesInput(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: shared, namespace: default}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: svc%[1]d, namespace: default}
spec:
  selector: {app: svc%[1]d}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d, namespace: default}
spec:
  hosts: [svc%[1]d.example.com]
  gateways: [shared]
  http:
  - route:
    - destination: {host: svc%[1]d, subset: v1}
      weight: 90
    - destination: {host: svc%[1]d, subset: v2}
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc%[1]d, namespace: default}
spec:
  host: svc%[1]d
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`, i)
	}
	return b.String()
}

// FuzzFastYAML: whatever fastYAML accepts, yaml.v3 accepts and reads into
// an equal tree (kinds, tags, styles, values, lines, columns).
func FuzzFastYAML(f *testing.F) {
	f.Add([]byte(servicesInput(1)))
	f.Add([]byte(routes))
	for _, s := range []string{
		"a: b\nc:\n- d\n- e: f\n  g: [h, 'i', \"j\"]\n",
		"a:\n  b: {c: d, e: [1, 2.5, true, null, ~]}\n  f: x:y\n",
		"- a\n- b: c\n  d: e\n-  f\n",
		"a: 1\n  b: 2\n",
		"a: {b: }\n",
		"k: [a, b,]\n",
		"x: 'a''b'\n",
		"  a: b\n  c: d\n",
		"a: -1\nb: -x\nc: 0x10\nd: 1_000\ne: .inf\nf: 2006-01-02\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range splitDocuments(data) {
			checkFastYAML(t, data[d.start:d.end], d.line)
		}
	})
}

// resolveTag's shortcut gives yaml.v3's tag for every plain scalar.
func TestResolveTag(t *testing.T) {
	words := []string{"true", "True", "FALSE", "null", "Null", "~", "yes", "no", "on", "Off", "y", "n", ".inf", "-.Inf", ".nan", "<<", "0x1F", "1_000", "1e3", "2006-01-02", "12:30", "reviews", "http"}
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		words = append(words, prefix)
		if n == 0 {
			return
		}
		for _, c := range "aytTnNoOfFzZ0.-+~<_ e" {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 3)
	for _, w := range words {
		if got, want := resolveTag(w), (&yaml.Node{Kind: yaml.ScalarNode, Value: w}).ShortTag(); got != want {
			t.Fatalf("resolveTag(%q) = %s, yaml.v3 says %s", w, got, want)
		}
	}
}
