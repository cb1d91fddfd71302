package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// FieldManager is the server-side apply field manager of every object
// meshctl installs.
const FieldManager = "meshctl"

// Clients are what installing needs from a cluster.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// Action is what happened (or, in a dry run, would happen) to one object.
type Action string

const (
	ActionCreated    Action = "created"
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	ActionPruned     Action = "pruned"
	ActionDeleted    Action = "deleted"
	ActionKept       Action = "kept"
)

// ObjectResult is the outcome for one object.
type ObjectResult struct {
	Ref       string
	Component string
	Action    Action
	// Reason says why an object recorded in the inventory was kept.
	Reason string
}

// Result is the outcome of an apply or an uninstall.
type Result struct {
	Objects []ObjectResult
	// Purge is what an uninstall with purge did to the CRDs.
	Purge *PurgePlan
}

// Changed reports whether anything was (or would be) created, changed or
// removed.
func (r *Result) Changed() bool {
	for _, o := range r.Objects {
		if o.Action != ActionUnchanged && o.Action != ActionKept {
			return true
		}
	}
	return false
}

// Count returns how many objects had action a.
func (r *Result) Count(a Action) int {
	n := 0
	for _, o := range r.Objects {
		if o.Action == a {
			n++
		}
	}
	return n
}

// Event reports progress to the caller (a command prints it).
type Event struct {
	Component string
	// Done is false when the component starts and true once it is applied
	// (and, unless dry-run, ready).
	Done bool
	// Changed tells whether any object of the component changed, Created
	// whether any was new.
	Changed, Created bool
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun sends every request with dryRun=All: the API server validates
	// and reports changes, nothing is stored.
	DryRun bool
	// ForceConflicts takes over fields another field manager owns.
	ForceConflicts bool
	// Timeout bounds waiting for readiness (the whole install).
	Timeout time.Duration
	// Progress receives events; nil discards them.
	Progress func(Event)
	// PollInterval of readiness checks; 0 means 500ms.
	PollInterval time.Duration
	// Lock says who takes the namespace's lock (see Lock); the holder
	// defaults to "meshctl install (revision R)".
	Lock LockOptions
}

// ComponentTitle is how progress lines name a component.
func ComponentTitle(component string) string {
	switch component {
	case vocab.ComponentBase:
		return "Mesh core"
	case vocab.ComponentServer:
		return "Control plane"
	case vocab.ComponentIngressGateway:
		return "Ingress gateways"
	case vocab.ComponentEgressGateway:
		return "Egress gateways"
	}
	return "Addon " + component
}

// Apply installs the manifest: the namespace, then each component in order
// with server-side apply, waiting for it to be ready before the next one,
// and finally prunes what an earlier apply of the same install created and
// this one no longer renders. The inventory is written before anything is
// applied, so an interrupted apply still knows what it may have created and
// a re-run converges.
func Apply(ctx context.Context, c Clients, m *Manifest, o ApplyOptions) (res *Result, err error) {
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	s := &m.Spec.Spec
	res = &Result{}
	progress := func(e Event) {
		if o.Progress != nil {
			o.Progress(e)
		}
	}

	nsExists, err := ensureNamespace(ctx, c, s.MeshNamespace, o.DryRun)
	if err != nil {
		return res, err
	}
	if !o.DryRun {
		if o.Lock.Holder == "" {
			o.Lock.Holder = "meshctl install (revision " + s.RevisionName() + ")"
		}
		var release func()
		if ctx, release, err = Lock(ctx, c, s.MeshNamespace, o.Lock); err != nil {
			return res, err
		}
		defer release()
		defer func() { err = lockLost(ctx, err) }()
	}
	old, err := ReadInventory(ctx, c, s.MeshNamespace, s.RevisionName())
	if err != nil {
		return res, err
	}
	if nsExists {
		if err := checkOwnership(ctx, c, m, old, o.ForceConflicts); err != nil {
			return res, err
		}
	}
	entries := inventoryEntries(m)
	for i := range entries {
		// An object applied by an earlier run keeps the UID recorded then;
		// the apply below confirms it (same object) or replaces it (the
		// object was missing and is created again).
		if e, ok := old.lookup(entries[i].key()); ok {
			entries[i].UID = e.UID
		}
	}
	// Until this run ends, the inventory holds everything an earlier run
	// recorded as well as everything this one may create.
	union := mergeEntries(entries, old.entries())
	if !o.DryRun {
		if err := writeInventory(ctx, c, m.Spec, union); err != nil {
			return res, err
		}
	}
	unionIndex := map[string]int{}
	for i, e := range union {
		unionIndex[e.key()] = i
	}

	deadline := time.Now().Add(o.Timeout)
	next := 0 // index into entries, which follow the objects' order
	for _, comp := range m.Components {
		progress(Event{Component: comp.Name})
		changed, created, newUIDs := false, false, false
		for _, obj := range comp.Objects {
			action, uid, err := applyObject(ctx, c, obj, o, nsExists)
			if err != nil {
				return res, err
			}
			if uid != "" && entries[next].UID != uid {
				entries[next].UID = uid
				union[unionIndex[entries[next].key()]].UID = uid
				newUIDs = true
			}
			next++
			res.Objects = append(res.Objects, ObjectResult{Ref: Ref(obj), Component: comp.Name, Action: action})
			changed = changed || action != ActionUnchanged
			created = created || action == ActionCreated
		}
		if !o.DryRun {
			// Record what was created before waiting, which may take
			// minutes: a run interrupted now leaves an exact inventory.
			if newUIDs {
				if err := writeInventory(ctx, c, m.Spec, union); err != nil {
					return res, err
				}
			}
			if err := waitReady(ctx, c, comp.Objects, deadline, o.PollInterval); err != nil {
				return res, fmt.Errorf("%s is not ready: %w", ComponentTitle(comp.Name), err)
			}
		}
		progress(Event{Component: comp.Name, Done: true, Changed: changed, Created: created})
	}

	// Prune exactly what this install recorded and no longer renders.
	rendered := map[string]bool{}
	for _, e := range entries {
		rendered[e.key()] = true
	}
	sc := ownerScope{Namespace: s.MeshNamespace, Install: InstallName(s)}
	// Newest components first, and within one, users before what they use.
	oldEntries := old.entries()
	for i := len(oldEntries) - 1; i >= 0; i-- {
		e := oldEntries[i]
		if rendered[e.key()] {
			continue
		}
		action, reason, err := deleteOwned(ctx, c, e, sc, o.DryRun)
		if err != nil {
			return res, err
		}
		switch action {
		case ActionDeleted:
			res.Objects = append(res.Objects, ObjectResult{Ref: e.ref(), Component: e.Component, Action: ActionPruned})
		case ActionKept:
			res.Objects = append(res.Objects, ObjectResult{Ref: e.ref(), Component: e.Component, Action: ActionKept, Reason: reason})
		}
	}
	if !o.DryRun {
		if err := writeInventory(ctx, c, m.Spec, entries); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ensureNamespace creates the mesh namespace unless dry-run, and reports
// whether it exists now.
func ensureNamespace(ctx context.Context, c Clients, name string, dryRun bool) (bool, error) {
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return true, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, explain(err, "Namespace/"+name)
	}
	if dryRun {
		return false, nil
	}
	// The namespace is created but never owned: uninstall must not delete
	// it, as other things may live there.
	_, err = c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return false, explain(err, "Namespace/"+name)
	}
	return true, nil
}

func resourceFor(c Clients, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: the cluster does not serve %s: %w", Ref(obj), gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return c.Dynamic.Resource(mapping.Resource), nil
}

// applyObject applies obj and returns what happened and the UID of the
// object in the cluster ("" in a dry run of an object that does not exist).
func applyObject(ctx context.Context, c Clients, obj *unstructured.Unstructured, o ApplyOptions, nsExists bool) (Action, types.UID, error) {
	ri, err := resourceFor(c, obj)
	if err != nil {
		return "", "", err
	}
	if !nsExists && obj.GetNamespace() != "" {
		// A dry run into a namespace that does not exist yet: the API
		// server would refuse every object, and all of them are new.
		return ActionCreated, "", nil
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", "", explain(err, Ref(obj))
	}
	if apierrors.IsNotFound(err) {
		live = nil
	}
	body, err := json.Marshal(leaveServerFields(obj, live).Object)
	if err != nil {
		return "", "", err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &o.ForceConflicts}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	applied, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		if apierrors.IsConflict(err) {
			return "", "", fmt.Errorf("%s was modified by someone else: %v\n  "+
				"re-run with --force-conflicts to take these fields over, or revert the change", Ref(obj), conflictDetail(err))
		}
		return "", "", explain(err, Ref(obj))
	}
	uid := applied.GetUID()
	if o.DryRun && live == nil {
		uid = ""
	}
	switch {
	case live == nil:
		return ActionCreated, uid, nil
	case !o.DryRun && applied.GetResourceVersion() == live.GetResourceVersion():
		return ActionUnchanged, uid, nil
	case o.DryRun && sameContent(live, applied):
		return ActionUnchanged, uid, nil
	}
	return ActionConfigured, uid, nil
}

// leaveServerFields returns obj without the failure policy of each
// validation webhook whose live value the server owns. The server switches
// validation from Ignore to Fail once it serves (as istiod does); a
// re-install must neither fight it (a server-side apply conflict with the
// server's field manager) nor switch validation off again until the server
// notices. Everything else is applied as rendered.
func leaveServerFields(obj, live *unstructured.Unstructured) *unstructured.Unstructured {
	if live == nil || obj.GroupVersionKind() != admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration") {
		return obj
	}
	owned := map[string]bool{}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != webhookconfig.ServerFieldManager || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		hooks, _ := fields["f:webhooks"].(map[string]any)
		for key, v := range hooks {
			var k struct{ Name string }
			sub, _ := v.(map[string]any)
			if _, ok := sub["f:failurePolicy"]; !ok {
				continue
			}
			if rest, ok := strings.CutPrefix(key, "k:"); ok && json.Unmarshal([]byte(rest), &k) == nil && k.Name != "" {
				owned[k.Name] = true
			}
		}
	}
	if len(owned) == 0 {
		return obj
	}
	out := obj.DeepCopy()
	hooks, _, _ := unstructured.NestedSlice(out.Object, "webhooks")
	for _, h := range hooks {
		if m, ok := h.(map[string]any); ok {
			if name, _ := m["name"].(string); owned[name] {
				delete(m, "failurePolicy")
			}
		}
	}
	_ = unstructured.SetNestedSlice(out.Object, hooks, "webhooks")
	return out
}

// sameContent compares a live object with a dry-run result, ignoring the
// bookkeeping the server changes on every write.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid"} {
			unstructured.RemoveNestedField(c.Object, "metadata", f)
		}
		unstructured.RemoveNestedField(c.Object, "status")
		return c.Object
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

func conflictDetail(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		if d := se.Status().Details; d != nil && len(d.Causes) > 0 {
			var fields []string
			for _, cause := range d.Causes {
				fields = append(fields, fmt.Sprintf("%s (%s)", cause.Field, cause.Message))
			}
			return "conflicting fields: " + strings.Join(fields, "; ")
		}
	}
	return err.Error()
}

// explain turns API errors into sentences that say what to do.
func explain(err error, ref string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden: %v\n  installing the mesh needs cluster-admin-like rights (CRDs, cluster roles, webhooks); run `meshctl precheck` to see which are missing", ref, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: unauthorized: %v\n  your credentials were rejected: check the kubeconfig user", ref, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var netErr *net.OpError
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return fmt.Errorf("cannot reach the Kubernetes cluster: %w\n  point meshctl at one with --kubeconfig, --context or KUBECONFIG "+
			"(without any kubeconfig, client-go falls back to localhost:8080)", err)
	}
	return fmt.Errorf("%s: %w", ref, err)
}

func ptr[T any](v T) *T { return &v }

// --- inventory

const (
	inventoryKeyObjects = "objects"
	inventoryKeySpec    = "spec"
)

type inventoryEntry struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Component  string `json:"component"`
	// UID is the object's UID as the API server returned it when this
	// install applied it; empty while an apply of it is pending (and in
	// inventories written before UIDs were recorded).
	UID types.UID `json:"uid,omitempty"`
}

func (e inventoryEntry) key() string {
	gv, _ := schema.ParseGroupVersion(e.APIVersion)
	return gv.Group + "/" + e.Kind + "/" + e.Namespace + "/" + e.Name
}

func (e inventoryEntry) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(e.APIVersion)
	u.SetKind(e.Kind)
	u.SetNamespace(e.Namespace)
	u.SetName(e.Name)
	return u
}

func (e inventoryEntry) ref() string { return Ref(e.object()) }

// Inventory is what an install recorded in the cluster.
type Inventory struct {
	// Found is false when no install of the revision exists.
	Found   bool
	Spec    *profiles.MeshInstall
	Entries []inventoryEntry
}

func (i *Inventory) entries() []inventoryEntry {
	if i == nil {
		return nil
	}
	return i.Entries
}

func (i *Inventory) lookup(key string) (inventoryEntry, bool) {
	for _, e := range i.entries() {
		if e.key() == key {
			return e, true
		}
	}
	return inventoryEntry{}, false
}

// Refs lists the recorded objects as kind/namespace/name.
func (i *Inventory) Refs() []string {
	var out []string
	for _, e := range i.entries() {
		out = append(out, e.ref())
	}
	return out
}

func inventoryEntries(m *Manifest) []inventoryEntry {
	var out []inventoryEntry
	for _, c := range m.Components {
		for _, o := range c.Objects {
			e := entryOf(o)
			e.Component = c.Name
			out = append(out, e)
		}
	}
	return out
}

func mergeEntries(a, b []inventoryEntry) []inventoryEntry {
	seen := map[string]bool{}
	var out []inventoryEntry
	for _, e := range slices.Concat(a, b) {
		if !seen[e.key()] {
			seen[e.key()] = true
			out = append(out, e)
		}
	}
	return out
}

// ReadInventory loads the inventory of revision from the mesh namespace.
func ReadInventory(ctx context.Context, c Clients, namespace, revision string) (*Inventory, error) {
	cm, err := c.Kube.CoreV1().ConfigMaps(namespace).Get(ctx, vocab.InventoryName(revision), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &Inventory{}, nil
	}
	if err != nil {
		return nil, explain(err, "ConfigMap/"+namespace+"/"+vocab.InventoryName(revision))
	}
	inv := &Inventory{Found: true}
	if err := json.Unmarshal([]byte(cm.Data[inventoryKeyObjects]), &inv.Entries); err != nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: the install inventory is corrupt (%v): delete it and re-run meshctl install", namespace, cm.Name, err)
	}
	if s := cm.Data[inventoryKeySpec]; s != "" {
		var mi profiles.MeshInstall
		if err := yaml.Unmarshal([]byte(s), &mi); err == nil {
			inv.Spec = &mi
		}
	}
	return inv, nil
}

func writeInventory(ctx context.Context, c Clients, mi *profiles.MeshInstall, entries []inventoryEntry) error {
	objs, err := json.MarshalIndent(entries, "", " ")
	if err != nil {
		return err
	}
	spec, err := yaml.Marshal(mi)
	if err != nil {
		return err
	}
	s := &mi.Spec
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      vocab.InventoryName(s.RevisionName()),
			Namespace: s.MeshNamespace,
			Labels: map[string]string{
				vocab.LabelPartOf:   vocab.PartOfValue,
				vocab.LabelInstall:  InstallName(s),
				vocab.LabelRevision: s.RevisionName(),
			},
		},
		Data: map[string]string{inventoryKeyObjects: string(objs), inventoryKeySpec: string(spec)},
	}
	body, err := json.Marshal(cm)
	if err != nil {
		return err
	}
	_, err = c.Kube.CoreV1().ConfigMaps(s.MeshNamespace).Patch(ctx, cm.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)})
	if err != nil {
		return explain(err, "ConfigMap/"+s.MeshNamespace+"/"+cm.Name)
	}
	return nil
}
