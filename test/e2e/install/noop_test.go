//go:build e2e

package install_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// A re-install skips the objects it can prove unchanged (same UID and
// resourceVersion as when it last saw them applied and ready); any write to
// one in between, even one that removes a single label, makes it apply that
// object again and repair it.
func TestReinstallSkipsOnlyWhatIsProvenUnchanged(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	args := []string{"install", "--profile", "minimal", "-y", "--mesh-namespace", ns, "--timeout", "3m"}
	if r := meshctl(t, cl, args...); r.code != 0 {
		t.Fatalf("install: exit %d", r.code)
	}
	// Every object was seen ready at a resourceVersion: the inventory holds
	// the proof for the next run.
	inv, err := install.ReadInventory(ctx, clients(t, cl), ns, "")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.InventoryName(""), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var recorded []map[string]any
	if err := json.Unmarshal([]byte(cm.Data["objects"]), &recorded); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != len(inv.Entries) || len(recorded) == 0 {
		t.Fatalf("inventory has %d entries", len(recorded))
	}
	for _, e := range recorded {
		if e["resourceVersion"] == nil || e["hash"] == nil {
			t.Errorf("inventory entry without proof of its applied state: %v", e)
		}
	}
	cmBefore, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.MeshConfigMapBaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	r := meshctl(t, cl, args...)
	if r.code != 0 {
		t.Fatalf("re-install: exit %d", r.code)
	}
	mustContain(t, "re-install output", r.errOut, "already up to date: nothing changed")
	cmAfter, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.MeshConfigMapBaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cmAfter.ResourceVersion != cmBefore.ResourceVersion {
		t.Errorf("a no-op re-install wrote ConfigMap mesh (resourceVersion %s -> %s)", cmBefore.ResourceVersion, cmAfter.ResourceVersion)
	}

	// Someone else removes one of the install's labels.
	patch := []byte(`[{"op":"remove","path":"/metadata/labels/` + strings.NewReplacer("~", "~0", "/", "~1").Replace(vocab.LabelComponent) + `"}]`)
	if _, err := cl.Client.CoreV1().ConfigMaps(ns).Patch(ctx, vocab.MeshConfigMapBaseName, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	r = meshctl(t, cl, args...)
	if r.code != 0 {
		t.Fatalf("re-install after the change: exit %d", r.code)
	}
	mustContain(t, "re-install output", r.errOut, "1 configured")
	repaired, err := cl.Client.CoreV1().ConfigMaps(ns).Get(ctx, vocab.MeshConfigMapBaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if repaired.Labels[vocab.LabelComponent] != vocab.ComponentServer {
		t.Errorf("re-install did not restore the label: %v", repaired.Labels)
	}
}
