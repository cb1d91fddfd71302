package install

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	DryRun bool
	// Purge also deletes the CRDs, which deletes every mesh resource of
	// every namespace.
	Purge bool
}

// ErrNotInstalled is returned by Uninstall when there is no inventory.
type ErrNotInstalled struct{ Namespace, Revision string }

func (e *ErrNotInstalled) Error() string {
	return fmt.Sprintf("no meshctl install of revision %q found in namespace %s (ConfigMap %s is missing): "+
		"check --mesh-namespace and --revision", e.Revision, e.Namespace, InventoryName(e.Revision))
}

// Uninstall deletes what the inventory of revision records, newest
// components first, and then the inventory. Objects the install did not
// create, including others in the same namespace and the namespace itself,
// are left alone.
func Uninstall(ctx context.Context, c Clients, namespace, revision string, o UninstallOptions) (*Result, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	inv, err := ReadInventory(ctx, c, namespace, revision)
	if err != nil {
		return nil, err
	}
	if !inv.Found {
		return nil, &ErrNotInstalled{Namespace: namespace, Revision: revision}
	}
	res := &Result{}
	for i := len(inv.Entries) - 1; i >= 0; i-- {
		e := inv.Entries[i]
		action, err := deleteOwned(ctx, c, e, revision, o.DryRun, o.Purge)
		if err != nil {
			return res, err
		}
		if action == "" {
			action = ActionKept
		}
		res.Objects = append(res.Objects, ObjectResult{Ref: e.ref(), Component: e.Component, Action: action})
	}
	if !o.DryRun {
		err := c.Kube.CoreV1().ConfigMaps(namespace).Delete(ctx, InventoryName(revision), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return res, explain(err, "ConfigMap/"+namespace+"/"+InventoryName(revision))
		}
	}
	return res, nil
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
