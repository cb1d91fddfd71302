package install

import (
	"fmt"
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// The base component (the CRDs) is rendered without kustomize: its
// kustomization only adds labels, and parsing its ~850 KB of schemas as YAML
// would cost half a second on every meshctl start that renders. The same
// file decodes as JSON in milliseconds. TestCRDFastPathMatchesKustomize keeps
// this path identical to `kustomize build manifests/base` plus the labels.

var crdList = sync.OnceValues(func() ([]map[string]any, error) {
	b, err := manifests.FS.ReadFile("base/crds.json")
	if err != nil {
		return nil, err
	}
	var list unstructured.UnstructuredList
	if err := list.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("manifests/base/crds.json: %w", err)
	}
	items := make([]map[string]any, len(list.Items))
	for i := range list.Items {
		items[i] = list.Items[i].Object
	}
	return items, nil
})

func renderCRDs(s *profiles.Spec) ([]*unstructured.Unstructured, error) {
	items, err := crdList()
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for _, set := range commonLabels(s, ComponentBase) {
		maps.Copy(labels, set.Pairs)
	}
	out := make([]*unstructured.Unstructured, 0, len(items))
	for _, item := range items {
		// Shallow copies share the schemas, which nothing modifies (see
		// renderCached); only metadata is made per render.
		obj := maps.Clone(item)
		meta := maps.Clone(item["metadata"].(map[string]any))
		l := map[string]any{}
		if old, ok := meta["labels"].(map[string]any); ok {
			maps.Copy(l, old)
		}
		for k, v := range labels {
			l[k] = v
		}
		meta["labels"] = l
		obj["metadata"] = meta
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out, nil
}

// CRDs returns the CustomResourceDefinitions meshctl installs, as shipped
// (without install labels): the one place to read them from, whatever file
// format manifests/base uses. The objects are copies the caller may change.
func CRDs() ([]*unstructured.Unstructured, error) {
	items, err := crdList()
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(items))
	for i, item := range items {
		out[i] = (&unstructured.Unstructured{Object: item}).DeepCopy()
	}
	return out, nil
}
