//go:build e2e

// Package install_test drives meshctl install, verify-install and uninstall
// against the local cluster. Each test uses its own mesh namespace: the
// cluster is shared with other tests, and cluster-scoped objects of an
// install are named after its namespace (the CRDs are shared by design).
package install_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// envRunMeshctl makes the test binary act as meshctl: tests that must kill
// a real meshctl process re-execute themselves rather than build the binary.
const envRunMeshctl = "MESHCTL_E2E_RUN_MESHCTL"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMeshctl) == "1" {
		os.Exit(root.Execute(context.Background(), iostreams.System(), os.Args[1:]))
	}
	os.Exit(testcluster.Main(m))
}

type result struct {
	code        int
	out, errOut string
}

// meshctl runs the command tree in-process against the test cluster.
func meshctl(t *testing.T, cl *testcluster.Cluster, args ...string) result {
	t.Helper()
	return meshctlCtx(t, context.Background(), cl, args...)
}

func meshctlCtx(t *testing.T, ctx context.Context, cl *testcluster.Cluster, args ...string) result {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	code := root.Execute(ctx, streams, append(args, "--kubeconfig", cl.Kubeconfig))
	t.Logf("meshctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	return result{code, out.String(), errOut.String()}
}

// meshNamespace returns a fresh mesh namespace name; the install creates it,
// and cleanup uninstalls and deletes it.
func meshNamespace(t testing.TB, cl *testcluster.Cluster) string {
	ns := fmt.Sprintf("mesh-e2e-%08x", rand.Uint32())
	t.Cleanup(func() {
		ctx := context.Background()
		streams, _, _, _ := iostreams.Test()
		root.Execute(ctx, streams, []string{"uninstall", "-y", "--mesh-namespace", ns, "--kubeconfig", cl.Kubeconfig})
		_ = cl.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	return ns
}

func clients(t *testing.T, cl *testcluster.Cluster) install.Clients {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cl.Client.Discovery()))
	return install.Clients{Kube: cl.Client, Dynamic: dyn, Mapper: mapper}
}

func render(t *testing.T, ns, profile string) *install.Manifest {
	t.Helper()
	mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: profile, MeshNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	m, err := install.Render(mi)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// statuses maps every object of the manifest to its live status.
func statuses(t *testing.T, c install.Clients, m *install.Manifest) map[string]install.Status {
	t.Helper()
	sts, err := install.Verify(context.Background(), c, m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]install.Status{}
	for _, s := range sts {
		out[s.Ref] = s
	}
	return out
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func TestInstallDemoRerunPruneUninstall(t *testing.T) {
	cl := testcluster.Get(t)
	c := clients(t, cl)
	ctx := context.Background()
	ns := meshNamespace(t, cl)

	// Something of the user's that lives in the mesh namespace and must
	// survive every step.
	if _, err := cl.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unrelated := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: ns}, Data: map[string]string{"k": "v"}}
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Create(ctx, unrelated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := meshctl(t, cl, "install", "--profile", "demo", "-y", "--mesh-namespace", ns, "--timeout", "3m")
	if r.code != 0 {
		t.Fatalf("install demo: exit %d", r.code)
	}
	mustContain(t, "install output", r.errOut, "✔ Mesh core installed", "✔ Control plane installed", "✔ Ingress gateways installed",
		"✔ Egress gateways installed", "✔ Addon grafana installed", "✔ Installation complete")

	demo := render(t, ns, "demo")
	for ref, s := range statuses(t, c, demo) {
		if !s.Exists || !s.Ready {
			t.Errorf("after install demo, %s: exists=%v ready=%v %s", ref, s.Exists, s.Ready, s.Reason)
		}
	}
	// Addon pods are found the way the dashboard finds them.
	for _, name := range install.AddonComponents {
		pods, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: vocab.LabelComponent + "=" + name})
		if err != nil || len(pods.Items) == 0 {
			t.Errorf("no pods of addon %s by label (%v)", name, err)
			continue
		}
		if a, ok := install.Addons[name]; ok {
			found := false
			for _, p := range pods.Items[0].Spec.Containers[0].Ports {
				found = found || int(p.ContainerPort) == a.Port
			}
			if !found {
				t.Errorf("addon %s pod has no port %d", name, a.Port)
			}
		}
	}

	r = meshctl(t, cl, "verify-install", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Errorf("verify-install after install: exit %d", r.code)
	}

	// A re-run changes nothing and says so.
	r = meshctl(t, cl, "install", "--profile", "demo", "-y", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("re-run: exit %d", r.code)
	}
	mustContain(t, "re-run output", r.errOut, "already up to date: nothing changed")

	// A dry run of minimal shows the prune and changes nothing.
	r = meshctl(t, cl, "install", "--profile", "minimal", "--dry-run", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("dry-run minimal: exit %d", r.code)
	}
	mustContain(t, "dry-run output", r.out+r.errOut, "Deployment/"+ns+"/grafana would be pruned", "Dry run: nothing was changed")
	for ref, s := range statuses(t, c, demo) {
		if !s.Exists {
			t.Errorf("dry run removed %s", ref)
		}
	}

	// Switching to minimal prunes gateways and addons, and only them.
	r = meshctl(t, cl, "install", "--profile", "minimal", "-y", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("install minimal: exit %d", r.code)
	}
	mustContain(t, "install minimal output", r.errOut, "✔ Ingress gateways removed", "✔ Addon kiali removed", "27 pruned")
	minimal := render(t, ns, "minimal")
	keep := map[string]bool{}
	for _, o := range minimal.Objects() {
		keep[install.Ref(o)] = true
	}
	for ref, s := range statuses(t, c, demo) {
		switch {
		case keep[ref] && !s.Exists:
			t.Errorf("switching to minimal removed %s, which minimal renders", ref)
		case !keep[ref] && s.Exists && !strings.HasPrefix(ref, "Deployment/") && !strings.HasPrefix(ref, "CustomResourceDefinition/"):
			t.Errorf("switching to minimal left %s", ref)
		case !keep[ref] && strings.HasPrefix(ref, "Deployment/"):
			// Deletion of a Deployment is asynchronous (foreground GC is not
			// used); it must at least be marked for deletion or gone.
			if s.Exists {
				d, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, strings.Split(ref, "/")[2], metav1.GetOptions{})
				if err == nil && d.DeletionTimestamp == nil {
					t.Errorf("switching to minimal left %s", ref)
				}
			}
		}
	}

	// Uninstall removes the install and nothing else.
	r = meshctl(t, cl, "uninstall", "-y", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("uninstall: exit %d", r.code)
	}
	for ref, s := range statuses(t, c, minimal) {
		crd := strings.HasPrefix(ref, "CustomResourceDefinition/")
		if crd && !s.Exists {
			t.Errorf("uninstall without --purge removed %s", ref)
		}
		if !crd && s.Exists && !strings.HasPrefix(ref, "Deployment/") {
			t.Errorf("uninstall left %s", ref)
		}
	}
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, "users-own", metav1.GetOptions{}); err != nil {
		t.Errorf("uninstall touched an unrelated ConfigMap in the mesh namespace: %v", err)
	}
	if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("uninstall deleted the mesh namespace: %v", err)
	}
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("uninstall left the inventory: %v", err)
	}
	r = meshctl(t, cl, "verify-install", "--mesh-namespace", ns)
	if r.code == 0 {
		t.Errorf("verify-install after uninstall succeeded")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	r := meshctl(t, cl, "install", "--profile", "demo", "--dry-run", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d", r.code)
	}
	mustContain(t, "dry-run output", r.out+r.errOut, "✔ Control plane would be installed", "Deployment/"+ns+"/meshctl-server would be created", "Dry run: nothing was changed")
	if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run created the namespace: %v", err)
	}
	if _, err := cl.Client.RbacV1().ClusterRoles().Get(ctx, "meshctl-server-"+ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run created the cluster role: %v", err)
	}
	if _, err := cl.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "meshctl-sidecar-injector-"+ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run created the webhook: %v", err)
	}
}

func TestInterruptedInstallConverges(t *testing.T) {
	cl := testcluster.Get(t)
	c := clients(t, cl)
	ns := meshNamespace(t, cl)
	m := render(t, ns, "demo")

	// Interrupt once the control plane is in and the gateways are being
	// applied: the cancelled context stops the apply half-way.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := install.Apply(ctx, c, m, install.ApplyOptions{Timeout: time.Minute, Progress: func(e install.Event) {
		if e.Component == vocab.ComponentIngressGateway && !e.Done {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("an interrupted install reported success")
	}
	inv, err2 := install.ReadInventory(context.Background(), c, ns, "")
	if err2 != nil || !inv.Found {
		t.Fatalf("the inventory was not written before applying: %v", err2)
	}

	r := meshctl(t, cl, "install", "--profile", "demo", "-y", "--mesh-namespace", ns, "--timeout", "3m")
	if r.code != 0 {
		t.Fatalf("re-run after interruption: exit %d", r.code)
	}
	mustContain(t, "re-run output", r.errOut, "✔ Installation complete")
	for ref, s := range statuses(t, c, m) {
		if !s.Exists || !s.Ready {
			t.Errorf("after re-run, %s: exists=%v ready=%v %s", ref, s.Exists, s.Ready, s.Reason)
		}
	}
	r = meshctl(t, cl, "install", "--profile", "demo", "-y", "--mesh-namespace", ns)
	mustContain(t, "second re-run output", r.errOut, "already up to date")
}

func TestTimeoutSaysWhyNotReady(t *testing.T) {
	cl := testcluster.Get(t)
	ns := meshNamespace(t, cl)
	// No node has this label: the server's pod stays Pending, unschedulable.
	r := meshctl(t, cl, "install", "--profile", "minimal", "-y", "--mesh-namespace", ns, "--timeout", "5s",
		"--set", "components.server.k8s.nodeSelector.meshctl-e2e=nowhere")
	if r.code == 0 {
		t.Fatal("install with an unschedulable control plane succeeded")
	}
	mustContain(t, "error", r.errOut, "Deployment/"+ns+"/meshctl-server", "Unschedulable")
	var buf bytes.Buffer
	buf.WriteString(r.errOut)
	if strings.Contains(r.errOut, "context deadline exceeded") {
		t.Errorf("timeout reported as a bare deadline error: %s", r.errOut)
	}
}

func TestConflictsAreExplained(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	args := []string{"install", "--profile", "minimal", "-y", "--mesh-namespace", ns, "--set", "components.server.autoscale.enabled=false"}
	if r := meshctl(t, cl, args...); r.code != 0 {
		t.Fatalf("install: exit %d", r.code)
	}
	// Someone scales the control plane by hand (another field manager).
	d, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, "meshctl-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	d.Spec.Replicas = &three
	if _, err := cl.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	r := meshctl(t, cl, args...)
	if r.code == 0 {
		t.Fatal("install over a hand-made change succeeded without --force-conflicts")
	}
	mustContain(t, "conflict error", r.errOut, "Deployment/"+ns+"/meshctl-server was modified by someone else", "spec.replicas", "--force-conflicts")
	if r := meshctl(t, cl, append(args, "--force-conflicts", "--timeout", "2m")...); r.code != 0 {
		t.Fatalf("install --force-conflicts: exit %d", r.code)
	}
	d, _ = cl.Client.AppsV1().Deployments(ns).Get(ctx, "meshctl-server", metav1.GetOptions{})
	if *d.Spec.Replicas != 1 {
		t.Errorf("--force-conflicts did not take the replicas back: %d", *d.Spec.Replicas)
	}

	// verify-install notices a missing object and names it.
	if err := cl.Client.CoreV1().Services(ns).Delete(ctx, "meshctl-server", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r = meshctl(t, cl, "verify-install", "--mesh-namespace", ns)
	if r.code != 1 {
		t.Errorf("verify-install with a missing Service: exit %d", r.code)
	}
	mustContain(t, "verify-install output", r.out+r.errOut, "Service/"+ns+"/meshctl-server", "Missing", "not found", "1 of 22 objects are missing or not ready")
}

func TestRevisionsSideBySide(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	t.Cleanup(func() {
		streams, _, _, _ := iostreams.Test()
		root.Execute(ctx, streams, []string{"uninstall", "-y", "--revision", "canary", "--mesh-namespace", ns, "--kubeconfig", cl.Kubeconfig})
	})
	if r := meshctl(t, cl, "install", "-y", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("install default: exit %d", r.code)
	}
	// The default profile's gateway belongs to the default revision: a
	// canary that renders it too is refused rather than taking it over.
	r := meshctl(t, cl, "install", "-y", "--revision", "canary", "--mesh-namespace", ns)
	if r.code == 0 {
		t.Fatal("a canary install took over the default revision's gateway")
	}
	mustContain(t, "conflict error", r.errOut, "Deployment/"+ns+"/mesh-ingressgateway belongs to the install of revision \"default\"", "--set profile=minimal")
	if _, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, "meshctl-server-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused install applied its control plane anyway: %v", err)
	}
	if r := meshctl(t, cl, "install", "-y", "--revision", "canary", "--set", "profile=minimal", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("install canary: exit %d", r.code)
	}
	for _, name := range []string{"meshctl-server", "meshctl-server-canary"} {
		if _, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("deployment %s: %v", name, err)
		}
	}
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, "mesh-canary", metav1.GetOptions{}); err != nil {
		t.Errorf("canary mesh ConfigMap: %v", err)
	}
	if r := meshctl(t, cl, "uninstall", "-y", "--revision", "canary", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("uninstall canary: exit %d", r.code)
	}
	if r := meshctl(t, cl, "verify-install", "--mesh-namespace", ns); r.code != 0 {
		t.Errorf("uninstalling the canary broke the default revision")
	}
	d, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, "meshctl-server-canary", metav1.GetOptions{})
	if err == nil && d.DeletionTimestamp == nil {
		t.Errorf("uninstall --revision canary left the canary control plane")
	}
}
