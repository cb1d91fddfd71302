package install

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Two revisions side by side both record the shared CRDs. Purging one
// keeps them while the other remains; purging the last one deletes them and
// counts the mesh resources lost with them.
func TestPurgeKeepsCRDsWhileAnotherInstallRemains(t *testing.T) {
	const crdName = "virtualservices.networking.istio.io"
	vsGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": crdName, "uid": "uid-crd"},
		"spec": map[string]any{
			"group": "networking.istio.io",
			"names": map[string]any{"kind": "VirtualService", "plural": "virtualservices"},
			"versions": []any{
				map[string]any{"name": "v1alpha3", "served": true, "storage": false},
				map[string]any{"name": "v1", "served": true, "storage": true},
			},
		},
	}}
	vs := func(ns, name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": name, "namespace": ns},
		}}
	}
	inventory := func(revision string) *corev1.ConfigMap {
		b, _ := json.Marshal([]inventoryEntry{{APIVersion: "apiextensions.k8s.io/v1", Kind: kindCRD, Name: crdName, Component: vocab.ComponentBase, UID: "uid-crd"}})
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: vocab.InventoryName(revision), Namespace: "mesh-system",
				Labels: map[string]string{vocab.LabelPartOf: vocab.PartOfValue, vocab.LabelInstall: revision, vocab.LabelRevision: revision}},
			Data: map[string]string{inventoryKeyObjects: string(b)},
		}
	}
	// The mesh ConfigMap carries the install labels too, and is no inventory.
	meshCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "other",
		Labels: map[string]string{vocab.LabelPartOf: vocab.PartOfValue, vocab.LabelInstall: "default", vocab.LabelRevision: "default"}}}
	c := Clients{
		Kube: kubefake.NewSimpleClientset(inventory("default"), inventory("canary"), meshCM),
		Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			crdResource: "CustomResourceDefinitionList", vsGVR: "VirtualServiceList",
		}, crd, vs("app-1", "reviews"), vs("app-2", "ratings")),
		Mapper: fakeMapper(),
	}
	ctx := context.Background()
	crdExists := func() bool { return exists(t, c, crdResource, "", crdName) }

	res, err := Uninstall(ctx, c, "mesh-system", "canary", UninstallOptions{Purge: true})
	if err != nil {
		t.Fatal(err)
	}
	if !crdExists() || !exists(t, c, vsGVR, "app-1", "reviews") {
		t.Fatal("purging the canary deleted the CRDs the default revision uses")
	}
	if got := res.Purge.KeptFor(); !reflect.DeepEqual(got, []string{"mesh-system/default"}) {
		t.Errorf("kept for %v, want the default revision", got)
	}

	plan, err := PlanPurge(ctx, c, "mesh-system", "default")
	if err != nil {
		t.Fatal(err)
	}
	if n, lost, byKind := plan.Deleted(); n != 1 || lost != 2 || byKind != "2 VirtualService" {
		t.Errorf("plan for the last install: %d CRDs, %d resources (%s); want 1, 2 (2 VirtualService)", n, lost, byKind)
	}
	if !crdExists() {
		t.Fatal("planning deleted the CRD")
	}
	if _, err := Uninstall(ctx, c, "mesh-system", "default", UninstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if !crdExists() {
		t.Fatal("uninstall without purge deleted the CRD")
	}
}

func TestPurgeOfTheLastInstallDeletesTheCRDs(t *testing.T) {
	const crdName = "gateways.networking.istio.io"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": crdName, "uid": "uid-crd"},
		"spec": map[string]any{"group": "networking.istio.io", "names": map[string]any{"kind": "Gateway", "plural": "gateways"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true}}},
	}}
	b, _ := json.Marshal([]inventoryEntry{{APIVersion: "apiextensions.k8s.io/v1", Kind: kindCRD, Name: crdName, UID: "uid-crd"}})
	inv := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: vocab.InventoryName(""), Namespace: "mesh-system",
		Labels: map[string]string{vocab.LabelPartOf: vocab.PartOfValue, vocab.LabelInstall: "default", vocab.LabelRevision: "default"}},
		Data: map[string]string{inventoryKeyObjects: string(b)}}
	gwGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	c := Clients{
		Kube: kubefake.NewSimpleClientset(inv),
		Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			crdResource: "CustomResourceDefinitionList", gwGVR: "GatewayList",
		}, crd),
		Mapper: fakeMapper(),
	}
	res, err := Uninstall(context.Background(), c, "mesh-system", "", UninstallOptions{Purge: true})
	if err != nil {
		t.Fatal(err)
	}
	if exists(t, c, crdResource, "", crdName) {
		t.Error("purging the last install kept the CRD")
	}
	if n, lost, _ := res.Purge.Deleted(); n != 1 || lost != 0 {
		t.Errorf("reported %d CRDs and %d resources deleted, want 1 and 0", n, lost)
	}
}
