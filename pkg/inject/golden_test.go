package inject

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/inject")

const testdataDir = "../../testdata/inject"

type goldenCase struct {
	name, input string
	config      func(*Config)
	// byteExactUninject: uninject gives back the input byte for byte.
	byteExactUninject bool
}

var goldenCases = []goldenCase{
	{name: "bookinfo", input: "bookinfo.yaml", byteExactUninject: true},
	{name: "kinds", input: "kinds.yaml", byteExactUninject: true},
	{name: "annotations", input: "annotations.yaml", byteExactUninject: true},
	{name: "probes", input: "probes.yaml", byteExactUninject: true},
	{name: "native", input: "native.yaml", byteExactUninject: true},
	{name: "native-by-config", input: "probes.yaml", config: func(c *Config) { c.NativeSidecars = true }, byteExactUninject: true},
	{name: "hold-by-config", input: "kinds.yaml", config: func(c *Config) { c.HoldApplicationUntilProxyStarts = true }, byteExactUninject: true},
	{name: "layout", input: "layout.yaml"},
	// kubectl get -o yaml: a List whose kind and metadata follow its items.
	{name: "kubectl-list", input: "kubectl-list.yaml", byteExactUninject: true},
	{name: "grpc-agent", input: "grpc-agent.yaml", byteExactUninject: true},
	{name: "overrides", input: "overrides.yaml", byteExactUninject: true},
	{name: "istio-override", input: "istio-override.yaml"},
	{name: "tricky", input: "tricky.yaml", byteExactUninject: true},
}

func process(t testing.TB, in []byte, opts Options) ([]byte, []Record) {
	t.Helper()
	var recs []Record
	opts.Report = func(r Record) { recs = append(recs, r) }
	var out bytes.Buffer
	if err := Process(bytes.NewReader(in), &out, opts); err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out.Bytes(), recs
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(testdataDir, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			out, recs := process(t, in, Options{Config: cfg, Source: tc.input})
			var report strings.Builder
			for _, r := range recs {
				report.WriteString(r.String() + "\n")
			}
			checkGolden(t, tc.name+".golden.yaml", out)
			checkGolden(t, tc.name+".report.txt", []byte(report.String()))

			// Every injected template in the spliced text is exactly what
			// the injector returned for it.
			assertSpliceMatchesInjector(t, in, out, cfg)

			// Injecting again changes nothing and says so.
			again, recs2 := process(t, out, Options{Config: cfg, Source: tc.name})
			if !bytes.Equal(again, out) {
				t.Errorf("injecting the injected output changed it:\n%s", firstDiff(out, again))
			}
			for _, r := range recs2 {
				if r.Action == ActionInjected {
					t.Errorf("second injection injected %s", r)
				}
			}

			// Uninject restores the input.
			back, _ := process(t, out, Options{Mode: ModeUninject, Source: tc.name})
			if tc.byteExactUninject {
				if !bytes.Equal(back, in) {
					t.Errorf("uninject did not restore the input byte for byte:\n%s", firstDiff(in, back))
				}
			}
			assertSameDocs(t, in, back)
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/inject -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./pkg/inject -run TestGolden -update rewrites it):\n%s", name, firstDiff(want, got))
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(equal lines)"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// decodeDocs parses a YAML stream into generic values, one per document.
func decodeDocs(t testing.TB, b []byte) []any {
	t.Helper()
	// A document end marker ("...") ends a document and the next one may
	// start without "---", as Process reads it; yaml.v3's decoder wants the
	// "---".
	var lines [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		lines = append(lines, l)
		if isDocEnd(l) {
			lines = append(lines, []byte("\n---\n"))
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(yaml12As11(bytes.Join(lines, nil))))
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("output is not valid YAML: %v", err)
		}
		raw, err := config.JSONOf(&n)
		if err != nil {
			// Valid YAML that is no Kubernetes object (a key written
			// twice): kube-inject passes a document that is not a
			// workload through unread, so it must come out unreadable
			// the same way.
			docs = append(docs, undecodable(err.Error()))
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, v)
	}
}

// undecodable stands for a document whose YAML is valid but which JSON
// cannot hold, by what config.JSONOf says of it.
type undecodable string

func assertSameDocs(t *testing.T, want, got []byte) {
	t.Helper()
	w, g := decodeDocs(t, want), decodeDocs(t, got)
	if len(w) != len(g) {
		t.Fatalf("uninject: %d documents, want %d", len(g), len(w))
	}
	for i := range w {
		if !reflect.DeepEqual(normalize(w[i]), normalize(g[i])) {
			wj, _ := json.Marshal(w[i])
			gj, _ := json.Marshal(g[i])
			t.Errorf("uninject: document %d differs:\nwant %s\ngot  %s", i+1, wj, gj)
		}
	}
}

// normalize drops empty maps and lists, which the round trip through
// Kubernetes types does not distinguish from absent ones.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			e = normalize(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				continue
			}
			if l, ok := e.([]any); ok && len(l) == 0 {
				continue
			}
			out[k] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// assertSpliceMatchesInjector decodes each workload of the output and
// compares it with the injector's result for the same input workload.
func assertSpliceMatchesInjector(t *testing.T, in, out []byte, cfg Config) {
	t.Helper()
	ins, outs := decodeDocs(t, in), decodeDocs(t, out)
	if len(ins) != len(outs) {
		t.Fatalf("%d documents in, %d out", len(ins), len(outs))
	}
	for i := range ins {
		if u, ok := ins[i].(undecodable); ok {
			if outs[i] != u {
				t.Errorf("document %d, which JSON cannot hold (%s), came out as %v", i+1, u, outs[i])
			}
			continue
		}
		if u, ok := outs[i].(undecodable); ok {
			t.Errorf("document %d came out as a document JSON cannot hold: %s", i+1, u)
			continue
		}
		for j, pair := range workloadsOf(ins[i], outs[i]) {
			var before, after corev1.PodTemplateSpec
			mustRemarshal(t, pair.in, &before)
			mustRemarshal(t, pair.out, &after)
			if pair.id.Kind == "Pod" {
				before.Name = pair.id.Name
				after.Name = pair.id.Name
			}
			res, err := Inject(pair.id, &before, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := &before
			if res.Action == ActionInjected {
				want = res.Template
			}
			wj, aj := templateJSON(t, want), templateJSON(t, &after)
			if wj != aj {
				k := 0
				for k < len(wj) && k < len(aj) && wj[k] == aj[k] {
					k++
				}
				from := max(0, k-80)
				t.Errorf("document %d workload %d: spliced text decodes differently at\n got  ...%s\n want ...%s", i+1, j+1, aj[from:min(len(aj), k+80)], wj[from:min(len(wj), k+80)])
			}
		}
	}
}

func templateJSON(t *testing.T, tmpl *corev1.PodTemplateSpec) string {
	b, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustRemarshal(t *testing.T, from any, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

type templatePair struct {
	id      Workload
	in, out any
}

// workloadsOf pairs the pod templates of an input object and its output.
func workloadsOf(in, out any) []templatePair {
	im, _ := in.(map[string]any)
	om, _ := out.(map[string]any)
	if im == nil || om == nil {
		return nil
	}
	kind, _ := im["kind"].(string)
	if apiVersion, _ := im["apiVersion"].(string); kind == "List" || (strings.HasSuffix(kind, "List") && apiVersion == "v1") {
		ii, _ := im["items"].([]any)
		oi, _ := om["items"].([]any)
		var res []templatePair
		for k := range ii {
			if k < len(oi) {
				res = append(res, workloadsOf(ii[k], oi[k])...)
			}
		}
		return res
	}
	path, ok := templatePaths[kind]
	if !ok {
		return nil
	}
	id := Workload{Kind: kind}
	if meta, ok := im["metadata"].(map[string]any); ok {
		id.Name, _ = meta["name"].(string)
		id.Namespace, _ = meta["namespace"].(string)
	}
	a, b := any(im), any(om)
	for _, p := range path {
		a = a.(map[string]any)[p]
		b = b.(map[string]any)[p]
	}
	return []templatePair{{id, a, b}}
}
