package dashboard

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/vocab"
)

type harness struct {
	out, errOut *bytes.Buffer
	opened      []string
	sessions    []kube.PortForward
}

// run executes `dashboard args...` against client with a port-forward that
// binds port 43210 and stays up until ctx ends, which happens as soon as
// the URL is printed.
func run(t *testing.T, client kubernetes.Interface, args ...string) (*harness, error) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.KubeClient = func() (kubernetes.Interface, error) { return client, nil }
	f.RESTConfig = func() (*rest.Config, error) { return &rest.Config{Host: "https://127.0.0.1:1"}, nil }
	h := &harness{out: out, errOut: errOut}
	o := newOptions(f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o.OpenBrowser = func(url string) error { h.opened = append(h.opened, url); return nil }
	o.forward = func(ctx context.Context, _ *rest.Config, pf kube.PortForward, ready func(int)) error {
		h.sessions = append(h.sessions, pf)
		port := pf.LocalPort
		if port == 0 {
			port = 43210
		}
		ready(port)
		cancel()
		<-ctx.Done()
		return nil
	}
	cmd := newCmdDashboard(o)
	// The root command owns these flags; tests of this command need them too.
	f.ConfigFlags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.MeshNamespace, "mesh-namespace", f.MeshNamespace, "")
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err := cmd.ExecuteContext(ctx)
	return h, err
}

func readyPod(ns, name string, l map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

func grafanaPod() *corev1.Pod {
	return readyPod(vocab.DefaultMeshNamespace, "grafana-1", map[string]string{
		vocab.LabelComponent: vocab.ComponentGrafana, vocab.LabelApp: "grafana",
	})
}

func TestGrafanaPrintsURLAndOpensBrowser(t *testing.T) {
	h, err := run(t, fake.NewClientset(grafanaPod()), "grafana", "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.out.String(); got != "http://localhost:43210/\n" {
		t.Fatalf("stdout = %q, want only the URL", got)
	}
	if len(h.opened) != 1 || h.opened[0] != "http://localhost:43210/" {
		t.Fatalf("browser opened %v", h.opened)
	}
	pf := h.sessions[0]
	if pf.Namespace != "mesh-system" || pf.Pod != "grafana-1" || pf.RemotePort != 3000 || pf.LocalPort != 0 {
		t.Fatalf("session %+v", pf)
	}
	if !strings.Contains(h.errOut.String(), "Forwarding grafana from pod mesh-system/grafana-1") {
		t.Fatalf("stderr = %q", h.errOut.String())
	}
}

func TestBrowserFalseDoesNotOpen(t *testing.T) {
	h, err := run(t, fake.NewClientset(grafanaPod()), "grafana", "--browser=false", "--port", "8080")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.opened) != 0 {
		t.Fatalf("browser opened %v with --browser=false", h.opened)
	}
	if h.sessions[0].LocalPort != 8080 {
		t.Fatalf("--port 8080 forwarded from %d", h.sessions[0].LocalPort)
	}
}

func TestEnvoyBySelectorInNamespace(t *testing.T) {
	p := readyPod("shop", "productpage-1", map[string]string{"app": "productpage"})
	p.Spec.Containers = []corev1.Container{{Name: "productpage"}, {Name: "mesh-proxy"}}
	client := fake.NewClientset(p)
	h, err := run(t, client, "envoy", "-n", "shop", "-l", "app=productpage", "--browser=false", "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	if pf := h.sessions[0]; pf.Namespace != "shop" || pf.Pod != "productpage-1" || pf.RemotePort != vocab.ProxyAdminPort {
		t.Fatalf("session %+v", pf)
	}
}

func TestServerRevisionInMeshNamespace(t *testing.T) {
	client := fake.NewClientset(
		readyPod("mesh-system", "server-a", map[string]string{vocab.LabelComponent: vocab.ComponentServer, vocab.LabelRevision: "default"}),
		readyPod("mesh-system", "server-b", map[string]string{vocab.LabelComponent: vocab.ComponentServer, vocab.LabelRevision: "canary"}),
	)
	h, err := run(t, client, "server", "--revision", "canary", "--browser=false", "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	if pf := h.sessions[0]; pf.Pod != "server-b" || pf.RemotePort != vocab.ServerMonitoringPort {
		t.Fatalf("session %+v", pf)
	}
	if got := h.out.String(); got != "http://localhost:43210/debug\n" {
		t.Fatalf("stdout = %q", got)
	}
}

func TestControlZInNamespaceGiven(t *testing.T) {
	client := fake.NewClientset(
		readyPod("mesh-system", "server-a", map[string]string{vocab.LabelComponent: vocab.ComponentServer}),
		readyPod("cp", "server-b", map[string]string{vocab.LabelComponent: vocab.ComponentServer}),
	)
	h, err := run(t, client, "controlz", "--mesh-namespace", "cp", "--browser=false", "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	if pf := h.sessions[0]; pf.Pod != "server-b" || pf.RemotePort != vocab.ServerControlZPort {
		t.Fatalf("--mesh-namespace cp: session %+v", pf)
	}
	h, err = run(t, client, "controlz", "server-a", "-n", "mesh-system", "--mesh-namespace", "cp", "--browser=false", "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	if pf := h.sessions[0]; pf.Pod != "server-a" || pf.Namespace != "mesh-system" {
		t.Fatalf("-n mesh-system: session %+v", pf)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no dashboard named", nil, cmdutil.ExitUsage, "name a dashboard"},
		{"envoy without a pod", []string{"envoy"}, cmdutil.ExitUsage, "name a pod, or select one with -l"},
		{"envoy with pod and selector", []string{"envoy", "p", "-l", "app=x"}, cmdutil.ExitUsage, "not both"},
		{"bad port", []string{"grafana", "--port", "70000"}, cmdutil.ExitUsage, "invalid --port 70000"},
		{"bad selector", []string{"grafana", "-l", "a=b=c"}, cmdutil.ExitUsage, "invalid -l"},
		{"addon not installed", []string{"kiali", "--browser=false"}, cmdutil.ExitFailure,
			"kiali is not installed: no pod in namespace mesh-system matches meshctl.io/component=kiali\n  install it with: meshctl install --set addons.kiali.enabled=true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(t, fake.NewClientset(grafanaPod()), c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := cmdutil.ExitCode(err); got != c.code {
				t.Errorf("exit code %d, want %d (%v)", got, c.code, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestNoCluster(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	})
	_, err := run(t, client, "grafana", "--browser=false")
	if err == nil || !strings.Contains(err.Error(), "cannot reach a Kubernetes cluster") ||
		!strings.Contains(err.Error(), "--kubeconfig, --context or the KUBECONFIG") {
		t.Fatalf("err = %v", err)
	}
}

func TestBrowserCommand(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		goos string
		env  map[string]string
		want string
	}{
		{"linux", map[string]string{"DISPLAY": ":0"}, "xdg-open"},
		{"linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, "xdg-open"},
		{"linux", map[string]string{}, ""},
		{"darwin", map[string]string{}, "open"},
		{"windows", map[string]string{"DISPLAY": ":0"}, ""},
	}
	for _, c := range cases {
		if got := browserCommand(c.goos, env(c.env)); got != c.want {
			t.Errorf("browserCommand(%s, %v) = %q, want %q", c.goos, c.env, got, c.want)
		}
	}
	if SystemBrowser("linux", env(nil)) != nil {
		t.Error("SystemBrowser without a desktop is not nil")
	}
}

func TestCompletePodNames(t *testing.T) {
	client := fake.NewClientset(
		readyPod("shop", "productpage-1", map[string]string{"app": "productpage"}),
		readyPod("shop", "reviews-1", map[string]string{"app": "reviews"}),
		readyPod("mesh-system", "meshctl-server-1", map[string]string{vocab.LabelComponent: vocab.ComponentServer}),
		readyPod("mesh-system", "grafana-1", map[string]string{vocab.LabelComponent: vocab.ComponentGrafana}),
	)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "envoy", "-n", "shop", "prod"}, "productpage-1\n:4\n"},
		{[]string{"__complete", "controlz", ""}, "meshctl-server-1\n:4\n"},
	} {
		h, err := run(t, client, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.out.String(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%v: completions %q, want %q", c.args, got, c.want)
		}
	}
}
