//go:build e2e

package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// lockedBuffer is written by the command while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is one in-process `meshctl dashboard` invocation.
type running struct {
	urls   chan string
	stderr *lockedBuffer
	done   chan error
	cancel context.CancelFunc
	opened chan string
}

// start runs `meshctl dashboard args...` against the test cluster as the
// binary would, with the browser opener replaced by a recorder.
func start(t *testing.T, c *testcluster.Cluster, args ...string) *running {
	t.Helper()
	outR, outW := io.Pipe()
	r := &running{urls: make(chan string, 4), stderr: &lockedBuffer{}, done: make(chan error, 1), opened: make(chan string, 4)}
	streams := &iostreams.IOStreams{In: strings.NewReader(""), Out: outW, ErrOut: r.stderr}
	f := cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, "")
	o := newOptions(f)
	o.OpenBrowser = func(u string) error { r.opened <- u; return nil }
	cmd := newCmdDashboard(o)
	// The root command owns these flags; the in-process command needs them.
	f.ConfigFlags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.MeshNamespace, "mesh-namespace", f.MeshNamespace, "")
	// As the root command does: errors are returned, not printed with usage.
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(outW)
	cmd.SetErr(r.stderr)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			r.urls <- sc.Text()
		}
		close(r.urls)
	}()
	go func() {
		err := cmd.ExecuteContext(ctx)
		outW.Close()
		r.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *running) url(t *testing.T) string {
	t.Helper()
	select {
	case u, ok := <-r.urls:
		if !ok {
			t.Fatalf("dashboard printed no URL; err = %v; stderr:\n%s", <-r.done, r.stderr.String())
		}
		return u
	case <-time.After(2 * time.Minute):
		t.Fatalf("no URL printed; stderr:\n%s", r.stderr.String())
	}
	return ""
}

// stop cancels the command as Ctrl-C does and returns its error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("dashboard did not return after its context was cancelled")
	}
	return nil
}

// installedGrafana is a pod labelled as `meshctl install` labels the grafana addon.
func installedGrafana(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			vocab.LabelPartOf:    vocab.PartOfValue,
			vocab.LabelComponent: vocab.ComponentGrafana,
			vocab.LabelRevision:  vocab.DefaultRevision,
			vocab.LabelInstall:   vocab.DefaultRevision,
			vocab.LabelApp:       "grafana",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "grafana", Image: "grafana/grafana:11.2.0",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}},
		}}},
	}
}

func createReadyPod(t *testing.T, c *testcluster.Cluster, pod *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := c.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && kube.IsPodReady(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s not ready: %v %+v", pod.Namespace, pod.Name, err, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return string(b)
}

// pageServer stands in for the Grafana container: kwok forwards the pod's
// ports to it.
func pageServer(t *testing.T, page string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", page, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDashboardGrafanaE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	srv := pageServer(t, "grafana-1 says hello")
	c.PortForwardPod(t, ns, "grafana-1", srv.Listener.Addr().String())
	createReadyPod(t, c, installedGrafana(ns, "grafana-1"))

	r := start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0")
	u := r.url(t)
	parsed, err := url.Parse(u)
	if err != nil || parsed.Hostname() != "localhost" || parsed.Port() == "" || parsed.Port() == "0" || parsed.Path != "/" {
		t.Fatalf("printed URL %q is not http://localhost:PORT/ (%v)", u, err)
	}
	if body := get(t, u+"d/mesh"); body != "grafana-1 says hello /d/mesh" {
		t.Fatalf("GET through the dashboard = %q", body)
	}
	if len(r.opened) != 0 {
		t.Fatalf("--browser=false opened %q", <-r.opened)
	}

	// Ctrl-C closes the listener: nothing accepts on the port any more.
	if err := r.stop(t); err != nil {
		t.Fatalf("dashboard after cancel = %v, want nil", err)
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", parsed.Port()), 5*time.Second); err == nil {
		conn.Close()
		t.Fatalf("port %s still accepts connections after the dashboard stopped", parsed.Port())
	}
}

func TestDashboardReconnectsWhenPodReplacedE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	first := pageServer(t, "first")
	second := pageServer(t, "second")
	c.PortForwardPod(t, ns, "grafana-1", first.Listener.Addr().String())
	c.PortForwardPod(t, ns, "grafana-2", second.Listener.Addr().String())
	createReadyPod(t, c, installedGrafana(ns, "grafana-1"))

	r := start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0")
	u := r.url(t)
	if body := get(t, u); body != "first /" {
		t.Fatalf("GET = %q", body)
	}

	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), "grafana-1", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	createReadyPod(t, c, installedGrafana(ns, "grafana-2"))
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(r.stderr.String(), "reconnected to pod "+ns+"/grafana-2 at "+u) {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect reported; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(r.stderr.String(), "grafana-1") || !strings.Contains(r.stderr.String(), "reconnecting to a ready pod of grafana") {
		t.Fatalf("the loss of grafana-1 was not reported; stderr:\n%s", r.stderr.String())
	}
	if body := get(t, u); body != "second /" {
		t.Fatalf("GET after reconnect = %q, want the new pod's page", body)
	}
	t.Logf("stderr:\n%s", r.stderr.String())
}

func TestDashboardErrorsE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)

	// An addon that is not installed: the error says how to install it.
	r := start(t, c, "kiali", "--mesh-namespace", ns, "--browser=false", "--port", "0")
	err := <-r.done
	r.done <- err
	if code := cmdutil.ExitCode(err); code != cmdutil.ExitFailure {
		t.Fatalf("missing addon: exit code %d (%v), want %d", code, err, cmdutil.ExitFailure)
	}
	want := "kiali is not installed: no pod in namespace " + ns + " matches meshctl.io/component=kiali\n" +
		"  install it with: meshctl install --set addons.kiali.enabled=true"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("missing addon: err = %v, want it to contain %q", err, want)
	}

	// A pod that can never be scheduled is not ready.
	p := installedGrafana(ns, "grafana-pending")
	p.Spec.NodeSelector = map[string]string{"meshctl.io/test": "no-such-node"}
	if _, err := c.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0")
	err = <-r.done
	r.done <- err
	if err == nil || !strings.Contains(err.Error(), "grafana has 1 pod(s) in namespace "+ns+" but none is ready") ||
		!strings.Contains(err.Error(), "grafana-pending: ") || cmdutil.ExitCode(err) != cmdutil.ExitFailure {
		t.Fatalf("unready addon: err = %v", err)
	}
}

// finished waits for a command that is expected to fail before forwarding.
func (r *running) finished(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case u, ok := <-r.urls:
		if ok {
			t.Fatalf("dashboard printed %q, want it to fail", u)
		}
		// Standard output closes as the command returns.
		err := <-r.done
		r.done <- err
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("dashboard did not fail; stderr:\n%s", r.stderr.String())
	}
	return nil
}

func TestDashboardAccessErrorsE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	srv := pageServer(t, "grafana")
	c.PortForwardPod(t, ns, "grafana-1", srv.Listener.Addr().String())
	createReadyPod(t, c, installedGrafana(ns, "grafana-1"))

	// A user who may read pods but not port-forward to them.
	ctx := context.Background()
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "reader", APIGroup: "rbac.authorization.k8s.io"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hint := "kubectl auth can-i get pods/portforward -n " + ns

	for _, user := range []string{"nobody", "reader"} {
		r := start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0", "--as", user)
		err := r.finished(t)
		t.Logf("user %s: %v", user, err)
		if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), hint) ||
			cmdutil.ExitCode(err) != cmdutil.ExitFailure {
			t.Errorf("user %s: err = %v, want a forbidden error with %q", user, err, hint)
		}
	}

	r := start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0", "--server", "https://127.0.0.1:1")
	err := r.finished(t)
	if err == nil || !strings.Contains(err.Error(), "cannot reach a Kubernetes cluster") || cmdutil.ExitCode(err) != cmdutil.ExitFailure {
		t.Errorf("no cluster: err = %v", err)
	}
}

func TestDashboardReconnectsAfterTunnelFailureE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	// The pod's port refuses connections: nothing listens where kwok forwards.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	c.PortForwardPod(t, ns, "grafana-1", closedAddr)
	createReadyPod(t, c, installedGrafana(ns, "grafana-1"))

	r := start(t, c, "grafana", "--mesh-namespace", ns, "--browser=false", "--port", "0")
	u := r.url(t)
	if resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s succeeded though the pod refuses the port", u)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(r.stderr.String(), "reconnected to pod "+ns+"/grafana-1 at "+u) {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect reported; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The reason comes from the pod side, not from klog on the process's stderr.
	want := "lost the connection to pod " + ns + "/grafana-1: "
	if s := r.stderr.String(); !strings.Contains(s, want) || !strings.Contains(s, "connection refused") {
		t.Fatalf("stderr does not explain the loss with %q and the refusal:\n%s", want, s)
	}
	t.Logf("stderr:\n%s", r.stderr.String())
}

func TestDashboardEnvoyE2E(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	srv := pageServer(t, "envoy admin")
	c.PortForwardPod(t, ns, "productpage-1", srv.Listener.Addr().String())
	createReadyPod(t, c, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "productpage-1", Namespace: ns, Labels: map[string]string{"app": "productpage"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "productpage", Image: "example/productpage:1"},
			{Name: "mesh-proxy", Image: "meshctl:dev"},
		}},
	})
	createReadyPod(t, c, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: ns, Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "example/db:1"}}},
	})

	for _, args := range [][]string{{"productpage-1"}, {"-l", "app=productpage"}} {
		r := start(t, c, append([]string{"envoy", "-n", ns, "--browser=false", "--port", "0"}, args...)...)
		u := r.url(t)
		if body := get(t, u+"clusters"); body != "envoy admin /clusters" {
			t.Fatalf("envoy %v: GET = %q", args, body)
		}
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
	}

	r := start(t, c, "envoy", "db-1", "-n", ns, "--browser=false", "--port", "0")
	if err := r.finished(t); err == nil || !strings.Contains(err.Error(), "no Envoy in pod(s) db-1") {
		t.Fatalf("envoy on a pod without sidecar: err = %v", err)
	}
}
