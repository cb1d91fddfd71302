package install

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindOrder is the order objects are applied in within a component:
// definitions and identities before what uses them, webhooks last so that
// they never intercept the creation of their own backend.
var kindOrder = []string{
	"Namespace",
	"CustomResourceDefinition",
	"ServiceAccount",
	"ClusterRole",
	"ClusterRoleBinding",
	"Role",
	"RoleBinding",
	"ConfigMap",
	"Secret",
	"Service",
	"Deployment",
	"DaemonSet",
	"StatefulSet",
	"PodDisruptionBudget",
	"HorizontalPodAutoscaler",
	"MutatingWebhookConfiguration",
	"ValidatingWebhookConfiguration",
}

func kindRank(kind string) int {
	for i, k := range kindOrder {
		if k == kind {
			return i
		}
	}
	return len(kindOrder)
}

// sortObjects orders objects by kind rank, then namespace and name, which
// makes renders stable and applies dependency-safe.
func sortObjects(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ra, rb := kindRank(a.GetKind()), kindRank(b.GetKind()); ra != rb {
			return ra < rb
		}
		if a.GetKind() != b.GetKind() {
			return a.GetKind() < b.GetKind()
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// Ref names an object the way kubectl does: kind/name or kind/namespace/name.
func Ref(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
