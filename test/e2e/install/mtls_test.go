//go:build e2e

package install_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/internal/testcluster"
)

var paGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}

// meshConfig.mtls.mode STRICT is installed as the mesh-wide
// PeerAuthentication, on a cluster that does not serve PeerAuthentication
// until the install's own CRDs are established; a dry run there changes
// nothing, and a re-install with PERMISSIVE prunes the policy. The test
// starts a cluster of its own: the shared one has the CRDs from other tests.
func TestMeshMTLSModeIsInstalled(t *testing.T) {
	cl := testcluster.Own(t)
	bg := context.Background()
	const ns = "mesh-system"
	// The namespace exists, so the dry run reads the cluster for every
	// object, PeerAuthentication included, whose kind is not served yet.
	if _, err := cl.Client.CoreV1().Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	strict := []string{"--profile", "minimal", "--set", "meshConfig.mtls.mode=STRICT", "--mesh-namespace", ns}
	r := meshctl(t, cl, append([]string{"install", "--dry-run"}, strict...)...)
	if r.code != 0 {
		t.Fatalf("install --dry-run with STRICT before the CRDs exist: exit %d\n%s", r.code, r.errOut)
	}
	mustContain(t, "dry run", r.out+r.errOut, "PeerAuthentication/"+ns+"/default")
	if _, err := cl.Dynamic.Resource(crdGVR).Get(bg, "peerauthentications.security.istio.io", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the dry run created the PeerAuthentication CRD (or reading it failed: %v)", err)
	}

	if r := meshctl(t, cl, append([]string{"install", "-y"}, strict...)...); r.code != 0 {
		t.Fatalf("install with STRICT: exit %d\n%s", r.code, r.errOut)
	}
	pa, err := cl.Dynamic.Resource(paGVR).Namespace(ns).Get(bg, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the mesh-wide PeerAuthentication was not installed: %v", err)
	}
	if mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode"); mode != "STRICT" {
		t.Errorf("PeerAuthentication %s/default has mode %q, want STRICT", ns, mode)
	}
	if r := meshctl(t, cl, "verify-install", "--profile", "minimal", "--set", "meshConfig.mtls.mode=STRICT", "--mesh-namespace", ns); r.code != 0 {
		t.Errorf("verify-install after installing STRICT: exit %d\n%s%s", r.code, r.out, r.errOut)
	}

	r = meshctl(t, cl, "install", "-y", "--profile", "minimal", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("re-install with PERMISSIVE: exit %d\n%s", r.code, r.errOut)
	}
	if !strings.Contains(r.out+r.errOut, "Control plane: pruned PeerAuthentication/"+ns+"/default") || !strings.Contains(r.out+r.errOut, "1 pruned") {
		t.Errorf("re-install with PERMISSIVE does not report the PeerAuthentication pruned:\n%s%s", r.out, r.errOut)
	}
	if _, err := cl.Dynamic.Resource(paGVR).Namespace(ns).Get(bg, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PeerAuthentication %s/default still there after re-installing with PERMISSIVE (err %v)", ns, err)
	}

	// Installed again, uninstall removes it with the rest.
	if r := meshctl(t, cl, append([]string{"install", "-y"}, strict...)...); r.code != 0 {
		t.Fatalf("install with STRICT again: exit %d\n%s", r.code, r.errOut)
	}
	if r := meshctl(t, cl, "uninstall", "-y", "--mesh-namespace", ns); r.code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", r.code, r.errOut)
	}
	if _, err := cl.Dynamic.Resource(paGVR).Namespace(ns).Get(bg, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PeerAuthentication %s/default still there after uninstall (err %v)", ns, err)
	}
}
