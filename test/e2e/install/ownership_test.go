//go:build e2e

package install_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// plant adds entries to the inventory of the default revision in ns, as
// anyone who can edit ConfigMaps there could.
func plant(t *testing.T, cl *testcluster.Cluster, ns string, entries ...map[string]any) {
	t.Helper()
	ctx := context.Background()
	cm, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal([]byte(cm.Data["objects"]), &objs); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(append(objs, entries...))
	cm.Data["objects"] = string(b)
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Two installs of the same revision in two namespaces share their labels;
// neither's re-install or uninstall may delete the other's objects, even
// when its inventory names them (with their real UIDs).
func TestInstallsInTwoNamespacesStayApart(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	a, b := meshNamespace(t, cl), meshNamespace(t, cl)
	for _, ns := range []string{a, b} {
		if r := meshctl(t, cl, "install", "--profile", "minimal", "-y", "--mesh-namespace", ns); r.code != 0 {
			t.Fatalf("install into %s: exit %d", ns, r.code)
		}
	}
	server, err := cl.Client.AppsV1().Deployments(a).Get(ctx, "meshctl-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role, err := cl.Client.RbacV1().ClusterRoles().Get(ctx, "meshctl-server-"+a, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	aObjects := []map[string]any{
		{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": a, "name": "meshctl-server", "component": "server", "uid": string(server.UID)},
		{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": role.Name, "component": "server", "uid": string(role.UID)},
	}
	intact := func(step string) {
		t.Helper()
		d, err := cl.Client.AppsV1().Deployments(a).Get(ctx, "meshctl-server", metav1.GetOptions{})
		if err != nil || d.DeletionTimestamp != nil {
			t.Errorf("%s deleted %s's control plane (%v)", step, a, err)
		}
		if _, err := cl.Client.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s deleted ClusterRole %s (%v)", step, role.Name, err)
		}
	}

	plant(t, cl, b, aObjects...)
	r := meshctl(t, cl, "install", "--profile", "minimal", "-y", "--mesh-namespace", b)
	if r.code != 0 {
		t.Fatalf("re-install into %s: exit %d", b, r.code)
	}
	intact("re-installing " + b)
	mustContain(t, "re-install warnings", r.errOut, "Not pruned: Deployment/"+a+"/meshctl-server: outside the mesh namespace "+b)

	plant(t, cl, b, aObjects...)
	r = meshctl(t, cl, "uninstall", "-y", "--mesh-namespace", b)
	if r.code != 0 {
		t.Fatalf("uninstall %s: exit %d", b, r.code)
	}
	intact("uninstalling " + b)
	mustContain(t, "uninstall warnings", r.errOut, "Kept ClusterRole/"+role.Name+": cluster-scoped and not named for the install in "+b)
	if _, err := cl.Client.AppsV1().Deployments(b).Get(ctx, "meshctl-server", metav1.GetOptions{}); err == nil {
		if d, _ := cl.Client.AppsV1().Deployments(b).Get(ctx, "meshctl-server", metav1.GetOptions{}); d.DeletionTimestamp == nil {
			t.Errorf("uninstall left %s's own control plane", b)
		}
	}
	if r := meshctl(t, cl, "verify-install", "--profile", "minimal", "--mesh-namespace", a); r.code != 0 {
		t.Errorf("verify-install of %s after uninstalling %s: exit %d", a, b, r.code)
	}
}

// A user's ServiceAccount with the name an addon renders is not adopted:
// the install is refused, names it and says what to do; --force-conflicts
// takes it over.
func TestInstallRefusesToTakeOverAUsersObject(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	if _, err := cl.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: ns, Labels: map[string]string{"team": "observability"}}}
	if _, err := cl.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", "--profile", "minimal", "--set", "addons.prometheus.enabled=true", "-y", "--mesh-namespace", ns}
	r := meshctl(t, cl, args...)
	if r.code == 0 {
		t.Fatal("install adopted a user's ServiceAccount")
	}
	mustContain(t, "refusal", r.errOut, "ServiceAccount/"+ns+"/prometheus already exists and was not created by this install", "--force-conflicts")
	if _, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, "meshctl-server", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused install applied the control plane anyway: %v", err)
	}
	got, err := cl.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "prometheus", metav1.GetOptions{})
	if err != nil || got.Labels[vocab.LabelPartOf] != "" {
		t.Errorf("the refused install changed the user's ServiceAccount: %v %v", got.Labels, err)
	}

	if r := meshctl(t, cl, append(args, "--force-conflicts")...); r.code != 0 {
		t.Fatalf("install --force-conflicts: exit %d", r.code)
	}
	// Taken over, it is now the install's: a re-run accepts it as such.
	if r := meshctl(t, cl, args...); r.code != 0 {
		t.Errorf("re-run after taking over: exit %d", r.code)
	}
}
