package install

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// What an install may delete is decided here, and only here. The inventory
// is a ConfigMap that anyone with write access to the mesh namespace can
// edit, and the labels are shared by every install of a revision, so
// neither alone is proof: an object is this install's when it lies in the
// install's scope (its mesh namespace, or cluster-scoped and named for it)
// and is the very object the install applied (same UID as recorded).

// ownerScope identifies one install: its mesh namespace and install name.
type ownerScope struct {
	Namespace string
	Install   string
}

const kindCRD = "CustomResourceDefinition"

// inScope tells whether an inventory entry may name an object of this
// install at all, and if not, why.
func (sc ownerScope) inScope(e inventoryEntry, namespaced bool) (bool, string) {
	switch {
	case namespaced && e.Namespace != sc.Namespace:
		return false, fmt.Sprintf("outside the mesh namespace %s (the inventory names namespace %q)", sc.Namespace, e.Namespace)
	case namespaced, e.Kind == kindCRD:
		return true, ""
	case !strings.HasSuffix(e.Name, "-"+sc.Namespace):
		// Cluster-scoped objects of an install carry its namespace in their
		// name (see clusterScopedKinds).
		return false, fmt.Sprintf("cluster-scoped and not named for the install in %s", sc.Namespace)
	}
	return true, ""
}

// owns tells whether live is the object that e recorded.
func (sc ownerScope) owns(e inventoryEntry, live *unstructured.Unstructured) (bool, string) {
	if e.UID != "" {
		if live.GetUID() != e.UID {
			return false, fmt.Sprintf("replaced since this install applied it (UID %s, recorded %s)", live.GetUID(), e.UID)
		}
		return true, ""
	}
	// No UID: an apply that was interrupted before it could record one, or
	// an inventory written before UIDs were recorded. The labels are the
	// evidence left, and the scope check has already kept this to the
	// install's own namespace and names.
	l := live.GetLabels()
	if l[vocab.LabelPartOf] != vocab.PartOfValue || l[vocab.LabelInstall] != sc.Install {
		return false, "not created by this install (it does not carry its labels)"
	}
	return true, ""
}

// checkOwnership refuses, before anything is applied, to take over objects
// this install did not create: another revision's (never), or anybody
// else's (only with force). Taking one over silently would make it this
// install's to change and, later, to delete. The CRDs are shared by every
// install and by other tools, and are checked by precheck instead.
//
// It returns the live objects it read (nil for those that do not exist), by
// rendered object, for the apply to compare with.
func checkOwnership(ctx context.Context, c Clients, m *Manifest, old *Inventory, force bool) (map[*unstructured.Unstructured]*unstructured.Unstructured, error) {
	s := &m.Spec.Spec
	sc := ownerScope{Namespace: s.MeshNamespace, Install: InstallName(s)}
	objs := m.Objects()
	lives := make([]*unstructured.Unstructured, len(objs))
	notServed := kindsNotServedYet(c, m)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxInFlight)
	for i, obj := range objs {
		if notServed[obj.GroupVersionKind().GroupKind()] {
			continue // its CRD comes with this install: no such object exists
		}
		g.Go(func() error {
			live, err := readMetadata(gctx, c, obj)
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			lives[i] = live
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	read := map[*unstructured.Unstructured]*unstructured.Unstructured{}
	var taken, foreign []string
	for i, obj := range objs {
		live := lives[i]
		read[obj] = live
		if live == nil || obj.GetKind() == kindCRD {
			continue
		}
		why := "it is not in this install's inventory"
		if e, ok := old.lookup(entryOf(obj).key()); ok {
			owned, reason := sc.owns(e, live)
			if owned {
				continue
			}
			why = reason
		}
		l := live.GetLabels()
		if l[vocab.LabelPartOf] == vocab.PartOfValue && l[vocab.LabelInstall] != "" && l[vocab.LabelInstall] != sc.Install {
			taken = append(taken, fmt.Sprintf("%s belongs to the install of revision %q", Ref(obj), l[vocab.LabelInstall]))
			continue
		}
		if !force {
			foreign = append(foreign, fmt.Sprintf("%s already exists and was not created by this install: %s", Ref(obj), why))
		}
	}
	if len(taken) > 0 {
		return nil, fmt.Errorf("this install (revision %q) conflicts with another install in namespace %s:\n  %s\n"+
			"  disable these components in this install (e.g. --set profile=minimal), rename them, or uninstall the other revision first",
			sc.Install, sc.Namespace, strings.Join(taken, "\n  "))
	}
	if len(foreign) > 0 {
		return nil, fmt.Errorf("refusing to take over objects this install did not create (nothing was changed):\n  %s\n"+
			"  delete or rename them, or install into another --mesh-namespace; or re-run with --force-conflicts to take them over "+
			"(this install will then own them: a later uninstall deletes them)",
			strings.Join(foreign, "\n  "))
	}
	return read, nil
}

// readMetadata reads the live counterpart of obj: its metadata only when
// the clients can, else the whole object. A missing object is a NotFound
// error, as from the API.
func readMetadata(ctx context.Context, c Clients, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: the cluster does not serve %s: %w", Ref(obj), gvk, err)
	}
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if c.Metadata == nil {
		ri, err := resourceFor(c, obj)
		if err != nil {
			return nil, err
		}
		live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, explain(err, Ref(obj))
		}
		return live, err
	}
	mi := c.Metadata.Resource(mapping.Resource)
	var p *metav1.PartialObjectMetadata
	if namespaced {
		p, err = mi.Namespace(obj.GetNamespace()).Get(ctx, obj.GetName(), metav1.GetOptions{})
	} else {
		p, err = mi.Get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, explain(err, Ref(obj))
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Ref(obj), err)
	}
	live := &unstructured.Unstructured{Object: u}
	live.SetGroupVersionKind(gvk)
	return live, nil
}

// kindsNotServedYet are the kinds of the manifest's objects that the
// cluster does not serve yet because their CRDs are part of the manifest
// (the mesh-wide PeerAuthentication of a first install): no object of them
// exists, and a dry run cannot send them to the API server.
func kindsNotServedYet(c Clients, m *Manifest) map[schema.GroupKind]bool {
	defined := map[schema.GroupKind]bool{}
	for _, o := range m.Objects() {
		if o.GetKind() != kindCRD {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		defined[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	out := map[schema.GroupKind]bool{}
	for _, o := range m.Objects() {
		gvk := o.GroupVersionKind()
		if !defined[gvk.GroupKind()] || out[gvk.GroupKind()] {
			continue
		}
		if _, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); meta.IsNoMatchError(err) {
			out[gvk.GroupKind()] = true
		}
	}
	return out
}

func entryOf(o *unstructured.Unstructured) inventoryEntry {
	return inventoryEntry{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// deleteOwned deletes the object of e if it is this install's (see the top
// of this file). It returns ActionDeleted, ActionKept with the reason, or ""
// when there is nothing to delete. CRDs are never deleted here: see purge.
func deleteOwned(ctx context.Context, c Clients, e inventoryEntry, sc ownerScope, dryRun bool) (Action, string, error) {
	if e.Kind == kindCRD {
		return ActionKept, "shared by every install: only --purge deletes CRDs", nil
	}
	obj := e.object()
	gvk := obj.GroupVersionKind()
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// The kind is not served: no such object can exist.
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", e.ref(), err)
	}
	namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if ok, why := sc.inScope(e, namespaced); !ok {
		return ActionKept, why, nil
	}
	ri := c.Dynamic.Resource(mapping.Resource).Namespace(e.Namespace)
	if !namespaced {
		ri = c.Dynamic.Resource(mapping.Resource)
	}
	live, err := ri.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", explain(err, e.ref())
	}
	if ok, why := sc.owns(e, live); !ok {
		return ActionKept, why, nil
	}
	uid := live.GetUID()
	opts := metav1.DeleteOptions{
		PropagationPolicy: ptr(metav1.DeletePropagationBackground),
		// The object checked above, not one created under its name since.
		Preconditions: &metav1.Preconditions{UID: &uid},
	}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := ri.Delete(ctx, e.Name, opts); err != nil && !apierrors.IsNotFound(err) {
		if apierrors.IsConflict(err) {
			return ActionKept, "replaced while being deleted", nil
		}
		return "", "", explain(err, e.ref())
	}
	return ActionDeleted, "", nil
}
