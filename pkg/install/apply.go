package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
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
	"k8s.io/client-go/metadata"
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
	// Metadata, when set, reads objects' metadata only (what the ownership
	// check and the proof that an object is unchanged need): the CRDs are
	// ~850 KB that the API server would otherwise encode on every install.
	Metadata metadata.Interface
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
	// The live objects read for the ownership check also tell the apply
	// below whether an object is new or unchanged.
	var live map[*unstructured.Unstructured]*unstructured.Unstructured
	if nsExists {
		if live, err = checkOwnership(ctx, c, m, old, o.ForceConflicts); err != nil {
			return res, err
		}
	}
	entries, err := inventoryEntries(m)
	if err != nil {
		return res, err
	}
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
	notServed := kindsNotServedYet(c, m)
	next := 0 // index into entries, which follow the objects' order
	for _, comp := range m.Components {
		progress(Event{Component: comp.Name})
		compEntries := entries[next : next+len(comp.Objects)]
		outcomes, err := applyComponent(ctx, c, comp.Objects, compEntries, old, o, nsExists, live, notServed)
		if err != nil {
			return res, err
		}
		changed, created, newUIDs := false, false, false
		for i, obj := range comp.Objects {
			out := outcomes[i]
			if out.uid != "" && entries[next].UID != out.uid {
				entries[next].UID = out.uid
				union[unionIndex[entries[next].key()]].UID = out.uid
				newUIDs = true
			}
			next++
			res.Objects = append(res.Objects, ObjectResult{Ref: Ref(obj), Component: comp.Name, Action: out.action})
			changed = changed || out.action != ActionUnchanged
			created = created || out.action == ActionCreated
		}
		if !o.DryRun {
			// Record what was created before waiting, which may take
			// minutes: a run interrupted now leaves an exact inventory.
			if newUIDs {
				if err := writeInventory(ctx, c, m.Spec, union); err != nil {
					return res, err
				}
			}
			var pending []*unstructured.Unstructured
			var at []int
			for i, out := range outcomes {
				if out.resourceVersion == "" {
					pending = append(pending, comp.Objects[i])
					at = append(at, i)
				}
			}
			rvs, err := waitReady(ctx, c, pending, deadline, o.PollInterval)
			if err != nil {
				return res, fmt.Errorf("%s is not ready: %w", ComponentTitle(comp.Name), err)
			}
			for j, i := range at {
				outcomes[i].resourceVersion = rvs[j]
			}
			for i, out := range outcomes {
				compEntries[i].ResourceVersion = out.resourceVersion
			}
			if len(notServed) > 0 && slices.ContainsFunc(comp.Objects, func(o *unstructured.Unstructured) bool { return o.GetKind() == kindCRD }) {
				// The CRDs are established: the mapper learns their
				// kinds for the components that use them.
				meta.MaybeResetRESTMapper(c.Mapper)
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

// applyOutcome is what applying one object did.
type applyOutcome struct {
	action Action
	// uid of the object in the cluster ("" in a dry run of an object that
	// does not exist).
	uid types.UID
	// applied is the object as the API server returned it (nil in a dry
	// run into a namespace that does not exist yet, or when not applied).
	applied *unstructured.Unstructured
	// ready is set when the object was not applied because it is proven
	// unchanged since it was last seen ready (see unchangedSince).
	ready bool
	// resourceVersion at which the object is known to be as applied and
	// ready ("" when it is not known yet).
	resourceVersion string
}

// unchangedSince proves that applying the object again would change
// nothing: the live object is the very one (same UID) at the very
// resourceVersion at which this install last saw it applied from the same
// configuration and ready. Every write to an object, by anyone and to any
// field (status included), changes its resourceVersion.
func unchangedSince(recorded, now inventoryEntry, live *unstructured.Unstructured) bool {
	return recorded.ResourceVersion != "" && recorded.Hash != "" && recorded.Hash == now.Hash &&
		recorded.UID != "" && live.GetUID() == recorded.UID && live.GetResourceVersion() == recorded.ResourceVersion
}

// maxInFlight bounds the requests an install has in flight at once; the
// client's rate limiter (QPS and burst of its REST config) applies on top.
const maxInFlight = 16

// applyWave is the step in which an object is applied within a component:
// the kinds others depend on by name (namespaces, CRDs) first, webhook
// configurations last so that they never intercept the creation of their
// own backend, everything else in between and concurrently.
func applyWave(kind string) int {
	switch kind {
	case "Namespace", kindCRD:
		return 0
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		return 2
	}
	return 1
}

// applyComponent applies the objects of one component, concurrently within
// each wave, and returns the outcomes in the objects' order. live holds
// what the ownership check read (absent: not read; nil: not found).
func applyComponent(ctx context.Context, c Clients, objs []*unstructured.Unstructured, entries []inventoryEntry, old *Inventory,
	o ApplyOptions, nsExists bool, live map[*unstructured.Unstructured]*unstructured.Unstructured, notServed map[schema.GroupKind]bool) ([]applyOutcome, error) {
	out := make([]applyOutcome, len(objs))
	for wave := 0; wave <= 2; wave++ {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(maxInFlight)
		for i, obj := range objs {
			if applyWave(obj.GetKind()) != wave {
				continue
			}
			known, ok := live[obj]
			if ok && known != nil {
				if e, found := old.lookup(entries[i].key()); found && unchangedSince(e, entries[i], known) {
					out[i] = applyOutcome{action: ActionUnchanged, uid: known.GetUID(), ready: true, resourceVersion: known.GetResourceVersion()}
					continue
				}
			}
			if o.DryRun && notServed[obj.GroupVersionKind().GroupKind()] {
				// Its CRD is created by this install, not by a dry run.
				out[i] = applyOutcome{action: ActionCreated}
				continue
			}
			if o.DryRun {
				// A dry run compares the whole live object with the
				// server's answer; the one read so far is metadata only.
				ok = false
			}
			g.Go(func() error {
				var err error
				out[i], err = applyObject(gctx, c, obj, o, nsExists, known, ok)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyObject applies obj. known is the live object when haveLive (nil
// when it does not exist); otherwise it is read first.
func applyObject(ctx context.Context, c Clients, obj *unstructured.Unstructured, o ApplyOptions, nsExists bool,
	known *unstructured.Unstructured, haveLive bool) (applyOutcome, error) {
	ri, err := resourceFor(c, obj)
	if err != nil {
		return applyOutcome{}, err
	}
	if !nsExists && obj.GetNamespace() != "" {
		// A dry run into a namespace that does not exist yet: the API
		// server would refuse every object, and all of them are new.
		return applyOutcome{action: ActionCreated}, nil
	}
	live := known
	if !haveLive {
		live, err = ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return applyOutcome{}, explain(err, Ref(obj))
		}
		if apierrors.IsNotFound(err) {
			live = nil
		}
	}
	body, err := json.Marshal(leaveServerFields(obj, live).Object)
	if err != nil {
		return applyOutcome{}, err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &o.ForceConflicts}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	applied, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		if apierrors.IsConflict(err) {
			return applyOutcome{}, fmt.Errorf("%s was modified by someone else: %v\n  "+
				"re-run with --force-conflicts to take these fields over, or revert the change", Ref(obj), conflictDetail(err))
		}
		return applyOutcome{}, explain(err, Ref(obj))
	}
	out := applyOutcome{uid: applied.GetUID(), applied: applied}
	if o.DryRun && live == nil {
		out.uid = ""
	}
	if !o.DryRun && readyAsApplied(obj, applied) {
		out.resourceVersion = applied.GetResourceVersion()
	}
	switch {
	case live == nil:
		out.action = ActionCreated
	case !o.DryRun && applied.GetResourceVersion() == live.GetResourceVersion():
		out.action = ActionUnchanged
	case o.DryRun && sameContent(live, applied):
		out.action = ActionUnchanged
	default:
		out.action = ActionConfigured
	}
	return out, nil
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
	// Hash identifies the configuration this install applied; with
	// ResourceVersion, the version at which it then saw the object ready,
	// it proves a later apply of the same configuration a no-op (see
	// unchangedSince).
	Hash            string `json:"hash,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
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

func inventoryEntries(m *Manifest) ([]inventoryEntry, error) {
	var out []inventoryEntry
	for _, c := range m.Components {
		for _, o := range c.Objects {
			e := entryOf(o)
			e.Component = c.Name
			body, err := json.Marshal(o.Object)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", Ref(o), err)
			}
			sum := sha256.Sum256(body)
			e.Hash = hex.EncodeToString(sum[:16])
			out = append(out, e)
		}
	}
	return out, nil
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
