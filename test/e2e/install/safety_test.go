//go:build e2e

package install_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	vsGVR  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
)

// Purging one revision keeps the CRDs another still uses; purging the last
// install deletes them, after saying how many mesh resources go with them.
// Deleting CRDs would break the tests that share the cluster, so this test
// starts a cluster of its own.
func TestPurgeDeletesCRDsOnlyWithTheLastInstall(t *testing.T) {
	cl := testcluster.Own(t)
	bg := context.Background()
	const ns = "mesh-system"
	if r := meshctl(t, cl, "install", "--profile", "minimal", "-y", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("install default: exit %d", r.code)
	}
	if r := meshctl(t, cl, "install", "--profile", "minimal", "--revision", "canary", "-y", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("install canary: exit %d", r.code)
	}
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": "default"},
		"spec":     map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}}},
	}}
	if _, err := cl.Dynamic.Resource(vsGVR).Namespace("default").Create(bg, vs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crdsLeft := func() int {
		t.Helper()
		n := 0
		for _, name := range []string{"virtualservices.networking.istio.io", "destinationrules.networking.istio.io", "gateways.networking.istio.io"} {
			if c, err := cl.Dynamic.Resource(crdGVR).Get(bg, name, metav1.GetOptions{}); err == nil && c.GetDeletionTimestamp() == nil {
				n++
			}
		}
		return n
	}

	// The canary applied the CRDs last; it does not own them.
	r := meshctl(t, cl, "uninstall", "--revision", "canary", "--purge", "-y", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("uninstall --revision canary --purge: exit %d", r.code)
	}
	mustContain(t, "canary purge report", r.errOut, "Kept the mesh CRDs: still used by the install(s) "+ns+"/default")
	if crdsLeft() != 3 {
		t.Fatal("purging the canary deleted the CRDs the default control plane uses")
	}
	if _, err := cl.Dynamic.Resource(vsGVR).Namespace("default").Get(bg, "reviews", metav1.GetOptions{}); err != nil {
		t.Fatalf("purging the canary deleted a VirtualService: %v", err)
	}
	if r := meshctl(t, cl, "verify-install", "--profile", "minimal", "--mesh-namespace", ns); r.code != 0 {
		t.Errorf("the default revision is broken after purging the canary: exit %d", r.code)
	}

	// The last install: what would be lost is said before anything is.
	r = meshctl(t, cl, "uninstall", "--purge", "--dry-run", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("uninstall --purge --dry-run: exit %d", r.code)
	}
	mustContain(t, "dry-run output", r.errOut, "Would delete 11 mesh CRDs and with them 1 mesh resources in the cluster (1 VirtualService)")
	// Confirmation comes from the command line only.
	t.Setenv("MESHCTL_YES", "true")
	if r := meshctl(t, cl, "uninstall", "--purge", "--mesh-namespace", ns); r.code == 0 {
		t.Fatal("uninstall --purge with MESHCTL_YES but without -y proceeded")
	}
	if crdsLeft() != 3 {
		t.Fatal("a purge that was not confirmed deleted CRDs")
	}
	r = meshctl(t, cl, "uninstall", "--purge", "-y", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.code)
	}
	mustContain(t, "purge output", r.errOut, "Deleted 11 mesh CRDs and with them 1 mesh resources in the cluster (1 VirtualService)")
	if n := crdsLeft(); n != 0 {
		t.Errorf("purging the last install left %d of 3 CRDs", n)
	}
}

// A second install in the namespace is refused while the lock is held,
// says who holds it and since when, and takes over a lock that expired.
func TestConcurrentInstallsAreSerialized(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	if _, err := cl.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	holder := "meshctl install (revision default) on ci-runner-3 (pid 77)"
	secs := int32(30)
	acquired := metav1.NewMicroTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	renewed := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: vocab.InstallLockName, Namespace: ns},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &acquired, RenewTime: &renewed}}
	if _, err := cl.Client.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", "--profile", "minimal", "-y", "--mesh-namespace", ns}
	r := meshctl(t, cl, args...)
	if r.code == 0 {
		t.Fatal("an install ran while another held the lock")
	}
	mustContain(t, "refusal", r.errOut, holder+" has held the lock", "since "+acquired.UTC().Format(time.RFC3339))
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused install wrote its inventory: %v", err)
	}
	// Its holder stopped renewing it a minute ago: the lock has expired.
	l, _ := cl.Client.CoordinationV1().Leases(ns).Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	l.Spec.RenewTime = &old
	if _, err := cl.Client.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := meshctl(t, cl, args...); r.code != 0 {
		t.Fatalf("install over an expired lock: exit %d", r.code)
	}
	if _, err := cl.Client.CoordinationV1().Leases(ns).Get(ctx, vocab.InstallLockName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a finished install left its lock: %v", err)
	}

	// Two at once: each either runs alone or is refused with the holder.
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = meshctl(t, cl, "install", "--profile", "demo", "-y", "--mesh-namespace", ns, "--timeout", "3m")
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r.code == 0 {
			ok++
		} else if !strings.Contains(r.errOut, "has held the lock") {
			t.Errorf("a concurrent install failed for another reason than the lock: %s", r.errOut)
		}
	}
	if ok == 0 {
		t.Fatal("neither concurrent install ran")
	}
	assertConverged(t, cl, ns, "demo")
}

// kindsOf returns the resources of the objects a profile renders, apart
// from the CRDs.
func kindsOf(t *testing.T, c install.Clients, m *install.Manifest) map[schema.GroupVersionResource]bool {
	t.Helper()
	out := map[schema.GroupVersionResource]bool{}
	for _, o := range m.Objects() {
		gvk := o.GroupVersionKind()
		if gvk.Kind == "CustomResourceDefinition" {
			continue
		}
		mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatal(err)
		}
		out[mapping.Resource] = mapping.Scope.Name() == meta.RESTScopeNameNamespace
	}
	return out
}

type inventoryRecord struct {
	Kind, Namespace, Name, UID string
}

// assertConverged checks that the install of profile in ns is complete and
// exact: every rendered object exists and is the one the inventory records
// (nothing lost), every object in the cluster that carries the install's
// labels is in the inventory with its UID (no orphan), verify-install
// passes, and the lock is released.
func assertConverged(t *testing.T, cl *testcluster.Cluster, ns, profile string) {
	t.Helper()
	ctx := context.Background()
	c := clients(t, cl)
	cm, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	var recs []inventoryRecord
	if err := json.Unmarshal([]byte(cm.Data["objects"]), &recs); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, r := range recs {
		recorded[r.Kind+"/"+r.Namespace+"/"+r.Name] = r.UID
	}
	m := render(t, ns, profile)
	for _, o := range m.Objects() {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		uid, ok := recorded[key]
		if !ok || uid == "" {
			t.Errorf("lost: %s is not recorded with a UID (%q)", key, uid)
		}
		live, err := c.Dynamic.Resource(mustResource(t, c, o)).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("lost: %s: %v", key, err)
			continue
		}
		if string(live.GetUID()) != uid {
			t.Errorf("%s: live UID %s, recorded %s", key, live.GetUID(), uid)
		}
	}
	if len(recs) != len(m.Objects()) {
		t.Errorf("the inventory records %d objects, the profile renders %d", len(recs), len(m.Objects()))
	}
	for gvr, namespaced := range kindsOf(t, c, render(t, ns, "demo")) {
		ri := c.Dynamic.Resource(gvr).Namespace(ns)
		if !namespaced {
			ri = c.Dynamic.Resource(gvr)
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: vocab.LabelPartOf + "=" + vocab.PartOfValue})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			if !namespaced && !strings.HasSuffix(o.GetName(), "-"+ns) {
				continue
			}
			if o.GetDeletionTimestamp() != nil || (o.GetKind() == "ConfigMap" && o.GetName() == vocab.InventoryName("")) {
				continue
			}
			key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
			if uid, ok := recorded[key]; !ok || uid != string(o.GetUID()) {
				t.Errorf("orphan: %s (UID %s) is not in the inventory (recorded %q)", key, o.GetUID(), uid)
			}
		}
	}
	if r := meshctl(t, cl, "verify-install", "--profile", profile, "--mesh-namespace", ns); r.code != 0 {
		t.Errorf("verify-install --profile %s: exit %d", profile, r.code)
	}
	if _, err := cl.Client.CoordinationV1().Leases(ns).Get(ctx, vocab.InstallLockName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lock is still held after the install finished: %v", err)
	}
}

func mustResource(t *testing.T, c install.Clients, o *unstructured.Unstructured) schema.GroupVersionResource {
	t.Helper()
	gvk := o.GroupVersionKind()
	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatal(err)
	}
	return mapping.Resource
}

// A real meshctl process killed at several points of an install (after the
// inventory is written, and after a few, many and most objects exist) is
// re-run and converges: the lock it left does not block the re-run, nothing
// is lost and nothing is orphaned, also when the re-run installs a smaller
// profile that must prune what the killed run created.
func TestKilledInstallConverges(t *testing.T) {
	cl := testcluster.Get(t)
	c := clients(t, cl)
	kinds := kindsOf(t, c, render(t, "x", "demo"))
	for _, tc := range []struct {
		killAt int // objects of the install in its namespace when killed
		rerun  string
	}{{0, "demo"}, {4, "demo"}, {12, "minimal"}, {22, "demo"}} {
		t.Run(fmt.Sprintf("after %d objects, re-run %s", tc.killAt, tc.rerun), func(t *testing.T) {
			ctx := context.Background()
			ns := meshNamespace(t, cl)
			cmd := exec.Command(os.Args[0], "install", "--profile", "demo", "-y", "--mesh-namespace", ns,
				"--kubeconfig", cl.Kubeconfig, "--timeout", "3m")
			cmd.Env = append(os.Environ(), envRunMeshctl+"=1")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			count := func() int {
				if _, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{}); err != nil {
					return -1
				}
				n := 0
				for gvr, namespaced := range kinds {
					if !namespaced {
						continue
					}
					list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: vocab.LabelPartOf + "=" + vocab.PartOfValue})
					if err == nil {
						n += len(list.Items)
					}
				}
				return n - 1 // the inventory
			}
			killed := false
		wait:
			for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
				select {
				case err := <-exited:
					t.Logf("the install finished before reaching %d objects (%v): %s", tc.killAt, err, out.String())
					break wait
				default:
				}
				if count() >= tc.killAt {
					_ = cmd.Process.Kill()
					<-exited
					killed = true
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("killed=%v with %d objects; output so far:\n%s", killed, count(), out.String())
			if killed {
				if _, err := cl.Client.CoordinationV1().Leases(ns).Get(ctx, vocab.InstallLockName, metav1.GetOptions{}); err != nil {
					t.Errorf("the killed install held no lock: %v", err)
				}
			}
			r := meshctl(t, cl, "install", "--profile", tc.rerun, "-y", "--mesh-namespace", ns, "--timeout", "3m")
			if r.code != 0 {
				t.Fatalf("re-run after the kill: exit %d", r.code)
			}
			assertConverged(t, cl, ns, tc.rerun)
		})
	}
}
