package install

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func schemaGVR(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// namespaceProbe stands for the mesh namespace in permission checks: install
// creates it when it is missing.
func namespaceProbe(s *profiles.Spec) []*unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(s.MeshNamespace)
	return []*unstructured.Unstructured{u}
}

// lockProbe stands for the Lease that serializes installs (see Lock).
func lockProbe(s *profiles.Spec) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("coordination.k8s.io/v1")
	u.SetKind("Lease")
	u.SetNamespace(s.MeshNamespace)
	u.SetName(vocab.InstallLockName)
	return u
}
