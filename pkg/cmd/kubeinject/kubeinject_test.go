package kubeinject

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

const bookinfo = "../../../testdata/inject/bookinfo.yaml"

type result struct {
	out, errOut string
	code        int
	err         error
}

func run(t *testing.T, client kubernetes.Interface, stdin string, args ...string) result {
	t.Helper()
	streams, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(streams)
	f.KubeClient = func() (kubernetes.Interface, error) {
		if client == nil {
			return nil, cmdutil.NoClusterError(errors.New("no kubeconfig"))
		}
		return client, nil
	}
	cmd := NewCmdKubeInject(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return result{out: out.String(), errOut: errOut.String(), code: cmdutil.ExitCode(err), err: err}
}

func meshConfigMap(ns, name string, cfg inject.Config) *corev1.ConfigMap {
	b, err := yamlOf(cfg)
	if err != nil {
		panic(err)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{vocab.ConfigMapKeyInject: b}}
}

func TestInjectWithProfile(t *testing.T) {
	r := run(t, nil, "", "-f", bookinfo, "--profile", "default")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	if strings.Count(r.out, "- name: "+vocab.ProxyContainerName) != 6 {
		t.Errorf("want 6 injected proxies in the output")
	}
	for _, line := range []string{`deployment "reviews-v1" injected`, `service "reviews" skipped`} {
		if !strings.Contains(r.errOut, line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, r.errOut)
		}
	}
	if strings.Contains(r.out, "injected\n") {
		t.Errorf("the report leaked into standard output")
	}
}

func TestInjectConfigFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := inject.DefaultConfig()
	cfg.ProxyImage = "registry.test/proxy:from-configmap"
	cm := meshConfigMap("mesh-system", "mesh", cfg)
	cmYAML := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh\ndata:\n  inject: |\n" + indent(cm.Data["inject"], "    ")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	injectFile := write("mesh-cm.yaml", cmYAML)
	meshFile := write("mesh.yaml", "trustDomain: example.org\ndefaultConfig:\n  discoveryAddress: cp.example.org:15012\n")
	valuesFile := write("values.yaml", "global:\n  hub: registry.test\n  tag: 9.9\n  proxy_init:\n    image: init\n")

	r := run(t, nil, "", "-f", bookinfo, "--inject-config-file", injectFile, "--mesh-config-file", meshFile, "--values-file", valuesFile)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	for _, want := range []string{"image: registry.test/proxy:from-configmap", "value: cp.example.org:15012", "value: example.org", "image: registry.test/init:9.9"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	badMesh := write("bad-mesh.yaml", "trustDomain: example.org\ndefaultConfig:\n  discoveryAdress: x\n")
	r = run(t, nil, "", "-f", bookinfo, "--mesh-config-file", badMesh)
	if r.code != cmdutil.ExitDataErr || !strings.Contains(r.err.Error(), badMesh+`:3: unknown field "defaultConfig.discoveryAdress": did you mean "discoveryAddress"?`) {
		t.Errorf("a typo in the mesh config file: code %d, err %v", r.code, r.err)
	}
	// A whole mesh ConfigMap (both keys) as the injection config: its mesh
	// key is read too, and owns the trust domain.
	both := write("both.yaml", cmYAML+"  mesh: |\n    trustDomain: from-mesh-key.example\n")
	r = run(t, nil, "", "-f", bookinfo, "--inject-config-file", both)
	if r.err != nil || !strings.Contains(r.out, "value: from-mesh-key.example") {
		t.Errorf("mesh key of the ConfigMap not applied: %v", r.err)
	}

	bad := write("bad.yaml", "proxyImag: typo\n")
	r = run(t, nil, "", "-f", bookinfo, "--injectConfigFile", bad) // istioctl's spelling
	if r.code != cmdutil.ExitDataErr || !strings.Contains(r.err.Error(), "proxyImag") {
		t.Errorf("a typo in the config file: code %d, err %v", r.code, r.err)
	}
}

func TestConfigFromCluster(t *testing.T) {
	cfg := inject.DefaultConfig()
	cfg.ProxyImage = "registry.test/proxy:online"
	canary := cfg
	canary.ProxyImage = "registry.test/proxy:canary"
	client := fake.NewClientset(meshConfigMap("mesh-system", "mesh", cfg), meshConfigMap("mesh-system", "mesh-canary", canary))

	r := run(t, client, "", "-f", bookinfo)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	if !strings.Contains(r.out, "image: registry.test/proxy:online") || !strings.Contains(r.errOut, "configmap mesh-system/mesh in the cluster") {
		t.Errorf("online config not used or not announced; stderr:\n%s", r.errOut)
	}
	r = run(t, client, "", "-f", bookinfo, "--revision", "canary")
	if r.err != nil || !strings.Contains(r.out, "image: registry.test/proxy:canary") {
		t.Errorf("--revision canary: %v", r.err)
	}
	r = run(t, client, "", "-f", bookinfo, "--revision", "missing")
	if r.err == nil || !strings.Contains(r.err.Error(), `revision "missing" is not installed`) || r.out != "" {
		t.Errorf("--revision missing: err %v, out %d bytes", r.err, len(r.out))
	}
}

func TestNoConfigSource(t *testing.T) {
	for name, client := range map[string]kubernetes.Interface{"no cluster": nil, "no mesh installed": fake.NewClientset()} {
		t.Run(name, func(t *testing.T) {
			r := run(t, client, "", "-f", bookinfo)
			if r.code != cmdutil.ExitUsage || r.out != "" {
				t.Fatalf("code %d, %d bytes of output; want %d and none", r.code, len(r.out), cmdutil.ExitUsage)
			}
			for _, hint := range []string{"--profile default", "--inject-config-file", "--kubeconfig"} {
				if !strings.Contains(r.err.Error(), hint) {
					t.Errorf("error does not suggest %s: %v", hint, r.err)
				}
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"two sources":  {"-f", bookinfo, "--profile", "default", "--revision", "canary"},
		"files + spec": {"-f", bookinfo, "--values-file", "v.yaml", "--set", "x=y"},
		"stdin twice":  {"-f", "-", "-f", "-", "--profile", "default"},
		"missing file": {"-f", "does-not-exist.yaml", "--profile", "default"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := run(t, nil, "", args...); r.code != cmdutil.ExitUsage {
				t.Errorf("code %d (%v), want %d", r.code, r.err, cmdutil.ExitUsage)
			}
		})
	}
}

func TestOutputFileOnlyOnSuccess(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.yaml")
	r := run(t, nil, "", "-f", bookinfo, "-f", bad, "--profile", "default", "-o", out)
	if r.code != cmdutil.ExitDataErr || !strings.Contains(r.err.Error(), bad+":") {
		t.Fatalf("code %d err %v, want %d naming %s", r.code, r.err, cmdutil.ExitDataErr, bad)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("-o file written although injection failed")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	r = run(t, nil, "", "-f", bookinfo, "--profile", "default", "-o", out)
	if r.err != nil {
		t.Fatal(r.err)
	}
	b, _ := os.ReadFile(out)
	if r.out != "" || !bytes.Contains(b, []byte(vocab.ProxyContainerName)) {
		t.Errorf("-o: stdout %d bytes, file %d bytes", len(r.out), len(b))
	}
}

func TestDirectoriesAndStdin(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	pod := func(name string) string {
		return "kind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  containers:\n  - name: app\n    image: x"
	}
	_ = os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(pod("b")), 0o644) // no final newline
	_ = os.WriteFile(filepath.Join(dir, "a.yml"), []byte(pod("a")+"\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not yaml"), 0o644)
	_ = os.WriteFile(filepath.Join(sub, "c.json"), []byte(`{"kind":"Pod","metadata":{"name":"c"},"spec":{"containers":[{"name":"app","image":"x"}]}}`), 0o644)

	r := run(t, nil, pod("stdin"), "-f", dir, "-f", "-", "--profile", "default")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "pod \"a\" injected\npod \"b\" injected\npod \"stdin\" injected\n"
	if r.errOut != want {
		t.Errorf("report:\n%s\nwant\n%s", r.errOut, want)
	}
	r = run(t, nil, "", "-R", "-f", dir, "--profile", "default")
	if r.err != nil || !strings.Contains(r.errOut, `pod "c" injected`) {
		t.Errorf("-R did not read the subdirectory: %v\n%s", r.err, r.errOut)
	}
	if n := strings.Count(r.out, "\n---\n"); n != 2 {
		t.Errorf("%d document separators between 3 files, want 2:\n%s", n, r.out)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

// The install writes the profile's Config into the mesh ConfigMap as YAML;
// reading it back must give the same Config, or online and offline
// injection would differ.
func TestProfileConfigSurvivesTheConfigMap(t *testing.T) {
	want, err := profiles.Inject(profiles.ResolveOptions{Profile: "default", Sets: []string{"revision=canary"}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := yamlOf(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inject.ParseConfig([]byte(data), "configmap")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config changed through YAML:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the default profile's injection config is invalid: %v", err)
	}
}

// kubectl get deploy -o yaml prints a List whose kind and metadata follow
// its items; the sidecar must land inside the items.
func TestKubectlGetListFromStdin(t *testing.T) {
	in, err := os.ReadFile("../../../testdata/inject/kubectl-list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, string(in), "-f", "-", "--profile", "default")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := sigsyaml.Unmarshal([]byte(r.out), &list); err != nil {
		t.Fatalf("output is not valid YAML: %v\n%s", err, r.out)
	}
	if list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("kind %q with %d items, want a List of 2", list.Kind, len(list.Items))
	}
	for i, it := range list.Items {
		var names []string
		for _, c := range it.Spec.Template.Spec.Containers {
			names = append(names, c.Name)
		}
		if len(names) != 2 || names[1] != vocab.ProxyContainerName {
			t.Errorf("item %d containers %v, want the app and %s", i, names, vocab.ProxyContainerName)
		}
	}
	if r.errOut != "deployment \"web\" injected\ndeployment \"worker\" injected\n" {
		t.Errorf("report:\n%s", r.errOut)
	}
}

// Standard output gets everything or nothing: a bad document after good
// ones must not leave the good ones on stdout for kubectl apply.
func TestStdoutNothingOnError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "", "-f", bookinfo, "-f", bad, "--profile", "default")
	if r.code != cmdutil.ExitDataErr {
		t.Fatalf("code %d (%v), want %d", r.code, r.err, cmdutil.ExitDataErr)
	}
	if r.out != "" {
		t.Errorf("%d bytes on stdout although the input failed", len(r.out))
	}
}
