package install

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	DryRun bool
	// Lock says who takes the namespace's lock (see Lock); the holder
	// defaults to "meshctl uninstall (revision R)".
	Lock LockOptions
	// Purge also deletes the CRDs, which deletes every mesh resource of
	// every namespace, unless another install remains (see PlanPurge).
	Purge bool
}

// ErrNotInstalled is returned by Uninstall when there is no inventory.
type ErrNotInstalled struct{ Namespace, Revision string }

func (e *ErrNotInstalled) Error() string {
	return fmt.Sprintf("no meshctl install of revision %q found in namespace %s (ConfigMap %s is missing): "+
		"check --mesh-namespace and --revision", e.Revision, e.Namespace, vocab.InventoryName(e.Revision))
}

// Uninstall deletes what the inventory of revision records, newest
// components first, and then the inventory. Objects the install did not
// create, including others in the same namespace and the namespace itself,
// are left alone.
func Uninstall(ctx context.Context, c Clients, namespace, revision string, o UninstallOptions) (res *Result, err error) {
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
	if !o.DryRun {
		if o.Lock.Holder == "" {
			o.Lock.Holder = "meshctl uninstall (revision " + revision + ")"
		}
		var release func()
		if ctx, release, err = Lock(ctx, c, namespace, o.Lock); err != nil {
			return nil, err
		}
		defer release()
		defer func() { err = lockLost(ctx, err) }()
		// What the holder before us left.
		if inv, err = ReadInventory(ctx, c, namespace, revision); err != nil {
			return nil, err
		}
		if !inv.Found {
			return nil, &ErrNotInstalled{Namespace: namespace, Revision: revision}
		}
	}
	res = &Result{}
	purge := map[string]CRDPurge{}
	if o.Purge {
		if res.Purge, err = PlanPurge(ctx, c, namespace, revision); err != nil {
			return res, err
		}
		for _, p := range res.Purge.CRDs {
			purge[p.Name] = p
		}
	}
	sc := ownerScope{Namespace: namespace, Install: revision}
	for i := len(inv.Entries) - 1; i >= 0; i-- {
		e := inv.Entries[i]
		var action Action
		var reason string
		p, planned := purge[e.Name]
		switch {
		case e.Kind == kindCRD && planned && len(p.KeptFor) > 0:
			action, reason = ActionKept, "still used by the install(s) "+strings.Join(p.KeptFor, ", ")
		case e.Kind == kindCRD && planned:
			action, reason, err = purgeCRD(ctx, c, e, o.DryRun)
		default:
			action, reason, err = deleteOwned(ctx, c, e, sc, o.DryRun)
		}
		if err != nil {
			return res, err
		}
		if action == "" {
			// Already gone.
			continue
		}
		res.Objects = append(res.Objects, ObjectResult{Ref: e.ref(), Component: e.Component, Action: action, Reason: reason})
	}
	if !o.DryRun {
		err := c.Kube.CoreV1().ConfigMaps(namespace).Delete(ctx, vocab.InventoryName(revision), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return res, explain(err, "ConfigMap/"+namespace+"/"+vocab.InventoryName(revision))
		}
	}
	return res, nil
}

// purgeCRD deletes a CRD of the inventory, and with it every resource of
// its kind in the cluster.
func purgeCRD(ctx context.Context, c Clients, e inventoryEntry, dryRun bool) (Action, string, error) {
	ri := c.Dynamic.Resource(crdResource)
	live, err := ri.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", explain(err, e.ref())
	}
	uid := live.GetUID()
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := ri.Delete(ctx, e.Name, opts); err != nil && !apierrors.IsNotFound(err) {
		return "", "", explain(err, e.ref())
	}
	return ActionDeleted, "", nil
}

// Verify reports the status of every object of a manifest in the cluster.
func Verify(ctx context.Context, c Clients, m *Manifest) ([]Status, error) {
	var out []Status
	for _, comp := range m.Components {
		for _, o := range comp.Objects {
			st, err := ObjectStatus(ctx, c, o)
			if err != nil {
				return out, err
			}
			st.Component = comp.Name
			out = append(out, st)
		}
	}
	return out, nil
}
