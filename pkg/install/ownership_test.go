package install

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var (
	gvrDeployment     = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrClusterRole    = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	gvrServiceAccount = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// fakeMapper serves a few kinds, and those of objs (namespaced when they
// have a namespace).
func fakeMapper(objs ...*unstructured.Unstructured) meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, o := range objs {
		scope := meta.RESTScopeRoot
		if o.GetNamespace() != "" {
			scope = meta.RESTScopeNamespace
		}
		m.Add(o.GroupVersionKind(), scope)
	}
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot)
	return m
}

func liveObject(apiVersion, kind, ns, name, uid string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID(uid))
	u.SetLabels(labels)
	return u
}

func ourLabels() map[string]string {
	return map[string]string{vocab.LabelPartOf: vocab.PartOfValue, vocab.LabelInstall: vocab.DefaultRevision, vocab.LabelRevision: vocab.DefaultRevision}
}

func inventoryConfigMap(t *testing.T, ns string, entries []inventoryEntry) *corev1.ConfigMap {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: vocab.InventoryName(""), Namespace: ns}, Data: map[string]string{inventoryKeyObjects: string(b)}}
}

func exists(t *testing.T, c Clients, gvr schema.GroupVersionResource, ns, name string) bool {
	t.Helper()
	_, err := c.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// Two installs of the same revision, in mesh-a and mesh-b, share their
// labels. mesh-b's inventory (a ConfigMap anyone who can edit mesh-b can
// change) lists mesh-a's objects, even with their real UIDs: uninstalling
// mesh-b must delete only what mesh-b's install applied.
func TestUninstallDeletesOnlyWhatThisInstallApplied(t *testing.T) {
	objs := []runtime.Object{
		liveObject("apps/v1", "Deployment", "mesh-a", "meshctl-server", "uid-a-server", ourLabels()),
		liveObject("rbac.authorization.k8s.io/v1", "ClusterRole", "", "meshctl-server-mesh-a", "uid-a-cr", ourLabels()),
		liveObject("apps/v1", "Deployment", "mesh-b", "meshctl-server", "uid-b-server", ourLabels()),
		liveObject("rbac.authorization.k8s.io/v1", "ClusterRole", "", "meshctl-server-mesh-b", "uid-b-cr", ourLabels()),
		// Deleted and created again by someone else since the install.
		liveObject("apps/v1", "Deployment", "mesh-b", "replaced", "uid-new", ourLabels()),
		// From an inventory without UIDs: the labels decide.
		liveObject("v1", "ServiceAccount", "mesh-b", "legacy", "uid-legacy", ourLabels()),
		liveObject("v1", "ServiceAccount", "mesh-b", "users-own", "uid-users", nil),
	}
	entries := []inventoryEntry{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "mesh-a", Name: "meshctl-server", UID: "uid-a-server"},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "meshctl-server-mesh-a", UID: "uid-a-cr"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "mesh-b", Name: "meshctl-server", UID: "uid-b-server"},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "meshctl-server-mesh-b", UID: "uid-b-cr"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "mesh-b", Name: "replaced", UID: "uid-old"},
		{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "mesh-b", Name: "legacy"},
		{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "mesh-b", Name: "users-own"},
	}
	c := Clients{
		Kube:    kubefake.NewSimpleClientset(inventoryConfigMap(t, "mesh-b", entries)),
		Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), objs...),
		Mapper:  fakeMapper(),
	}
	res, err := Uninstall(context.Background(), c, "mesh-b", "", UninstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
		want     bool
	}{
		{gvrDeployment, "mesh-a", "meshctl-server", true},
		{gvrClusterRole, "", "meshctl-server-mesh-a", true},
		{gvrDeployment, "mesh-b", "meshctl-server", false},
		{gvrClusterRole, "", "meshctl-server-mesh-b", false},
		{gvrDeployment, "mesh-b", "replaced", true},
		{gvrServiceAccount, "mesh-b", "legacy", false},
		{gvrServiceAccount, "mesh-b", "users-own", true},
	} {
		if got := exists(t, c, k.gvr, k.ns, k.name); got != k.want {
			t.Errorf("%s %s/%s: exists=%v after uninstall of mesh-b, want %v", k.gvr.Resource, k.ns, k.name, got, k.want)
		}
	}
	reasons := map[string]string{}
	for _, r := range res.Objects {
		if r.Action == ActionKept {
			reasons[r.Ref] = r.Reason
		}
	}
	for ref, want := range map[string]string{
		"Deployment/mesh-a/meshctl-server":  "outside the mesh namespace mesh-b",
		"ClusterRole/meshctl-server-mesh-a": "not named for the install in mesh-b",
		"Deployment/mesh-b/replaced":        "replaced since this install applied it",
		"ServiceAccount/mesh-b/users-own":   "does not carry its labels",
	} {
		if !strings.Contains(reasons[ref], want) {
			t.Errorf("%s: kept with reason %q, want it to say %q", ref, reasons[ref], want)
		}
	}
}

func renderMinimal(t *testing.T, ns string) *Manifest {
	t.Helper()
	mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: "minimal", MeshNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Render(mi)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// An object with a rendered name that this install did not create is
// refused, named, with what to do; --force-conflicts takes it over. An
// object that an interrupted run applied (recorded without a UID, carrying
// the install's labels) is this install's.
func TestInstallRefusesToTakeOverForeignObjects(t *testing.T) {
	m := renderMinimal(t, "mesh-system")
	var sa *unstructured.Unstructured
	for _, o := range m.Objects() {
		if o.GetKind() == "ServiceAccount" {
			sa = o
		}
	}
	if sa == nil {
		t.Fatal("the minimal profile renders no ServiceAccount")
	}
	users := liveObject("v1", "ServiceAccount", "mesh-system", sa.GetName(), "uid-users", nil)
	clients := func(inv *Inventory, live *unstructured.Unstructured) (Clients, *Inventory) {
		return Clients{Kube: kubefake.NewSimpleClientset(), Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), live), Mapper: fakeMapper(m.Objects()...)}, inv
	}

	c, inv := clients(&Inventory{}, users)
	_, err := checkOwnership(context.Background(), c, m, inv, false)
	if err == nil || !strings.Contains(err.Error(), "ServiceAccount/mesh-system/"+sa.GetName()+" already exists and was not created by this install") ||
		!strings.Contains(err.Error(), "--force-conflicts") {
		t.Errorf("a user's ServiceAccount was not refused clearly: %v", err)
	}
	if _, err := checkOwnership(context.Background(), c, m, inv, true); err != nil {
		t.Errorf("--force-conflicts: %v", err)
	}

	// Carrying meshctl's labels is not enough: they can be copied.
	labelled := liveObject("v1", "ServiceAccount", "mesh-system", sa.GetName(), "uid-copy", ourLabels())
	c, inv = clients(&Inventory{}, labelled)
	if _, err := checkOwnership(context.Background(), c, m, inv, false); err == nil {
		t.Error("an object with copied labels but no inventory entry was taken over")
	}

	pending := &Inventory{Found: true, Entries: []inventoryEntry{entryOf(sa)}}
	c, inv = clients(pending, labelled)
	if _, err := checkOwnership(context.Background(), c, m, inv, false); err != nil {
		t.Errorf("an object of an interrupted run of this install was refused: %v", err)
	}
	c, inv = clients(pending, users)
	if _, err := checkOwnership(context.Background(), c, m, inv, false); err == nil {
		t.Error("an inventory entry without UID made an unlabelled object this install's")
	}

	recorded := entryOf(sa)
	recorded.UID = "uid-recorded"
	c, inv = clients(&Inventory{Found: true, Entries: []inventoryEntry{recorded}}, labelled)
	_, err = checkOwnership(context.Background(), c, m, inv, false)
	if err == nil || !strings.Contains(err.Error(), "replaced since this install applied it") {
		t.Errorf("an object replaced since the install was taken over: %v", err)
	}
}
