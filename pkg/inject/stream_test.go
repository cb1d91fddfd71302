package inject

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProcessErrors(t *testing.T) {
	cases := []struct {
		name, input string
		want        []string
	}{
		{
			name:  "invalid YAML in the second document",
			input: "kind: Service\nmetadata:\n  name: a\n---\nkind: Deployment\nmetadata:\n  name: b\n spec: [\n",
			want:  []string{"app.yaml:8:", "invalid YAML"},
		},
		{
			name:  "containers is not a list",
			input: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers: nope\n",
			want:  []string{"app.yaml:", `deployment "web" in namespace "shop"`, "malformed pod template"},
		},
		{
			name:  "no template",
			input: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n",
			want:  []string{"app.yaml:5:", `deployment "web"`, "spec.template is missing"},
		},
		{
			name:  "bad annotation value",
			input: "kind: Pod\nmetadata:\n  name: p\n  annotations:\n    traffic.sidecar.istio.io/excludeOutboundPorts: \"80,http\"\nspec:\n  containers:\n  - name: a\n    image: x\n",
			want:  []string{`pod "p"`, "traffic.sidecar.istio.io/excludeOutboundPorts", "list of ports"},
		},
		{
			name:  "bad interface name",
			input: "kind: Pod\nmetadata:\n  name: p\n  annotations:\n    traffic.sidecar.istio.io/excludeInterfaces: \"eth0,bad/name\"\nspec:\n  containers:\n  - name: a\n    image: x\n",
			want:  []string{`pod "p"`, "traffic.sidecar.istio.io/excludeInterfaces", "network interface names"},
		},
		{
			name: "alias bomb",
			input: "kind: Pod\nmetadata:\n  name: p\n  labels:\n    a: &a [x,x,x,x,x,x,x,x,x,x]\n    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n" +
				"    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" +
				"    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n    g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nspec:\n  containers:\n  - name: a\n",
			want: []string{`pod "p"`, "aliases expand to more than"},
		},
		{
			name:  "no containers",
			input: "kind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n",
			want:  []string{`pod "p"`, "spec.containers is empty"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Process(strings.NewReader(tc.input), &out, Options{Config: DefaultConfig(), Source: "app.yaml"})
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("error %T is not an InputError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNonWorkloadsPassThrough(t *testing.T) {
	in := "# leading comment\n---\napiVersion: v1\nkind: ConfigMap   # odd spacing\nmetadata: {name: c}\ndata:\n  a: 'quoted'\n---\n---\n# only a comment\n...\nnot: [a, mapping\n"
	// The last document is invalid YAML: it must be reported, not copied.
	var out bytes.Buffer
	err := Process(strings.NewReader(in), &out, Options{Config: DefaultConfig(), Source: "x.yaml"})
	if err == nil || !strings.Contains(err.Error(), "x.yaml:12") {
		t.Fatalf("want an error at x.yaml:12, got %v", err)
	}
	in = strings.TrimSuffix(in, "not: [a, mapping\n") + "scalar document\n"
	out.Reset()
	if err := Process(strings.NewReader(in), &out, Options{Config: DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("non-workload documents changed:\n%q\nwant\n%q", out.String(), in)
	}
}

func TestReportsAlreadyInjected(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(testdataDir, "bookinfo.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, recs := process(t, in, Options{Config: DefaultConfig()})
	var unchanged int
	for _, r := range recs {
		if r.Action == ActionAlreadyInjected {
			unchanged++
			if r.String() != `deployment "`+r.Name+`" unchanged (already injected)` {
				t.Errorf("report line %q", r)
			}
		}
	}
	if unchanged != 6 {
		t.Errorf("%d workloads reported unchanged, want 6", unchanged)
	}
}

func FuzzProcess(f *testing.F) {
	for _, name := range []string{"bookinfo.yaml", "kinds.yaml", "annotations.yaml", "probes.yaml", "layout.yaml", "native.yaml"} {
		b, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: Pod\nspec:\n  containers:\n  - name: a\n    readinessProbe: {httpGet: {port: 80}}\n"))
	f.Add([]byte("kind: List\nitems:\n- kind: Pod\n  spec: {containers: [{name: a}]}\n- &x {kind: Job}\n"))
	kubectlList, err := os.ReadFile(filepath.Join(testdataDir, "kubectl-list.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kubectlList)
	f.Add([]byte("items:\n- kind: Pod\n  spec:\n    containers:\n    - name: a\nkind: List\n"))
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if err := Process(bytes.NewReader(in), &out, Options{Config: cfg}); err != nil {
			return
		}
		// The output parses, and every workload in it decodes to exactly
		// what the injector returns for the same input workload.
		assertSpliceMatchesInjector(t, in, out.Bytes(), cfg)
		var back bytes.Buffer
		if err := Process(bytes.NewReader(out.Bytes()), &back, Options{Mode: ModeUninject}); err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("uninject of injected output failed: %v", err)
			}
		}
	})
}

// TestUninjectKeepsEmptyFlowMaps: `labels: {}` reads as no labels, so
// injection used to rewrite it as a block and uninject then dropped the
// template's metadata altogether. Both directions keep the text.
func TestUninjectKeepsEmptyFlowMaps(t *testing.T) {
	for _, in := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {}  # none yet\n  annotations: {}\nspec:\n  containers:\n  - name: a\n    image: nginx",
	} {
		out, recs := process(t, []byte(in), Options{Config: DefaultConfig()})
		if len(recs) != 1 || recs[0].Action != ActionInjected {
			t.Fatalf("not injected: %v", recs)
		}
		if !bytes.Contains(out, []byte("labels: {security.istio.io/tlsMode: istio")) {
			t.Errorf("the flow map was not filled in place:\n%s", out)
		}
		back, _ := process(t, out, Options{Mode: ModeUninject})
		if !bytes.Equal(back, []byte(in)) {
			t.Errorf("uninject did not give back the input byte for byte:\n%s", firstDiff([]byte(in), back))
		}
	}
}
