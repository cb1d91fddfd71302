package install

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// The mesh CRDs are shared: every install in every namespace renders the
// same ones, and every control plane serves the resources they define.
// Deleting a CRD deletes every resource of its kind in the cluster, so
// --purge deletes them only when no other install remains, and says first
// how many mesh resources go with them.

// CRDPurge is what purging does to one CRD of the inventory.
type CRDPurge struct {
	Name string
	// Kind of the custom resources, e.g. VirtualService.
	Kind string
	// KeptFor lists the other installs ("namespace/revision") that keep the
	// CRD; it is deleted only when there is none.
	KeptFor []string
	// Resources counts the custom resources, in every namespace, that
	// deleting the CRD deletes with it.
	Resources int
}

// PurgePlan is what `uninstall --purge` of one install would do to the CRDs.
type PurgePlan struct {
	CRDs []CRDPurge
}

// Deleted returns how many CRDs would be deleted and how many custom
// resources with them, by kind ("3 VirtualService, 1 Gateway").
func (p *PurgePlan) Deleted() (crds, resources int, byKind string) {
	var kinds []string
	for _, c := range p.CRDs {
		if len(c.KeptFor) > 0 {
			continue
		}
		crds++
		resources += c.Resources
		if c.Resources > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", c.Resources, c.Kind))
		}
	}
	sort.Strings(kinds)
	return crds, resources, strings.Join(kinds, ", ")
}

// KeptFor returns the other installs that keep the CRDs, if any.
func (p *PurgePlan) KeptFor() []string {
	for _, c := range p.CRDs {
		if len(c.KeptFor) > 0 {
			return c.KeptFor
		}
	}
	return nil
}

// inventoryLabelSelector finds every install's inventory, in any namespace.
var inventoryLabelSelector = vocab.LabelPartOf + "=" + vocab.PartOfValue + "," + vocab.LabelInstall

// PlanPurge says which CRDs of the install of revision in namespace
// `uninstall --purge` would delete, and how many resources with them.
func PlanPurge(ctx context.Context, c Clients, namespace, revision string) (*PurgePlan, error) {
	if revision == "" {
		revision = vocab.DefaultRevision
	}
	inv, err := ReadInventory(ctx, c, namespace, revision)
	if err != nil {
		return nil, err
	}
	if !inv.Found {
		return nil, &ErrNotInstalled{Namespace: namespace, Revision: revision}
	}
	others, err := otherInstalls(ctx, c, namespace, revision)
	if err != nil {
		return nil, err
	}
	plan := &PurgePlan{}
	for _, e := range inv.Entries {
		if e.Kind != kindCRD {
			continue
		}
		crd, err := c.Dynamic.Resource(crdResource).Get(ctx, e.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, explain(err, e.ref())
		}
		p := CRDPurge{Name: e.Name, KeptFor: others}
		p.Kind, _, _ = unstructured.NestedString(crd.Object, "spec", "names", "kind")
		if len(others) == 0 {
			if p.Resources, err = countResources(ctx, c, crd); err != nil {
				return nil, err
			}
		}
		plan.CRDs = append(plan.CRDs, p)
	}
	return plan, nil
}

// otherInstalls lists every install but this one, as namespace/revision. Any
// of them keeps the CRDs, whether or not its own inventory lists them: a
// control plane uses the mesh API even when another install applied it.
func otherInstalls(ctx context.Context, c Clients, namespace, revision string) ([]string, error) {
	list, err := c.Kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: inventoryLabelSelector})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("--purge must read every install's inventory to know whether another install still uses the mesh CRDs, "+
				"but listing ConfigMaps in all namespaces is forbidden: %v\n  run it with rights to list ConfigMaps cluster-wide, or uninstall without --purge", err)
		}
		return nil, explain(err, "ConfigMaps (all namespaces)")
	}
	var out []string
	for _, cm := range list.Items {
		rev := cm.Labels[vocab.LabelRevision]
		if cm.Name != vocab.InventoryName(rev) {
			continue
		}
		if cm.Namespace == namespace && cm.Name == vocab.InventoryName(revision) {
			continue
		}
		out = append(out, cm.Namespace+"/"+rev)
	}
	sort.Strings(out)
	return out, nil
}

// countResources counts the custom resources of crd in every namespace.
func countResources(ctx context.Context, c Clients, crd *unstructured.Unstructured) (int, error) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	version := ""
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if served, _ := vm["served"].(bool); served {
			version, _ = vm["name"].(string)
			if storage, _ := vm["storage"].(bool); storage {
				break
			}
		}
	}
	if version == "" {
		return 0, nil
	}
	ri := c.Dynamic.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: plural})
	n, cont := 0, ""
	for {
		list, err := ri.List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return n, nil
			}
			return 0, explain(err, "CustomResourceDefinition/"+crd.GetName()+": counting its resources")
		}
		n += len(list.Items)
		if cont = list.GetContinue(); cont == "" {
			return n, nil
		}
	}
}
