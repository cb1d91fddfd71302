//go:build e2e

package install_test

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// TestReinstallAfterTheServerFlippedValidation: the install renders the
// validation webhook with failurePolicy Ignore and the running server
// switches it to Fail (and patches the caBundle) with its own field manager.
// Re-installing must neither fail with a server-side apply conflict nor
// switch validation back off.
func TestReinstallAfterTheServerFlippedValidation(t *testing.T) {
	cl := testcluster.Get(t)
	ctx := context.Background()
	ns := meshNamespace(t, cl)
	args := []string{"install", "--profile", "minimal", "-y", "--mesh-namespace", ns, "--set", "components.server.autoscale.enabled=false"}
	if r := meshctl(t, cl, args...); r.code != 0 {
		t.Fatalf("install: exit %d\n%s", r.code, r.errOut)
	}
	adm := cl.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	list, err := adm.List(ctx, metav1.ListOptions{LabelSelector: vocab.LabelRevision + "=" + vocab.DefaultRevision})
	if err != nil {
		t.Fatal(err)
	}
	// Other tests' installs share the revision label: the install's own is
	// the one whose webhooks call the server in ns.
	var vwc *admissionregistrationv1.ValidatingWebhookConfiguration
	for i := range list.Items {
		for _, w := range list.Items[i].Webhooks {
			if w.ClientConfig.Service != nil && w.ClientConfig.Service.Namespace == ns {
				vwc = &list.Items[i]
			}
		}
	}
	if vwc == nil || len(vwc.Webhooks) == 0 {
		t.Fatalf("no validating webhook configuration of the install in %s: %v", ns, list.Items)
	}
	for _, w := range vwc.Webhooks {
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
			t.Fatalf("the install renders validation with failurePolicy Ignore, got %v", w.FailurePolicy)
		}
	}
	// What the server does once it serves (pkg/webhook): an update with its
	// field manager.
	fail := admissionregistrationv1.Fail
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].FailurePolicy = &fail
		vwc.Webhooks[i].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----\n")
	}
	if _, err := adm.Update(ctx, vwc, metav1.UpdateOptions{FieldManager: webhookconfig.ServerFieldManager}); err != nil {
		t.Fatal(err)
	}

	r := meshctl(t, cl, args...)
	if r.code != 0 {
		t.Fatalf("re-install after the server's switch: exit %d\n%s", r.code, r.errOut)
	}
	mustContain(t, "re-install output", r.errOut, "nothing changed")
	got, err := adm.Get(ctx, vwc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range got.Webhooks {
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("webhook %s: the re-install switched validation back to %v", w.Name, w.FailurePolicy)
		}
		if len(w.ClientConfig.CABundle) == 0 {
			t.Errorf("webhook %s: the re-install dropped the server's caBundle", w.Name)
		}
	}
}
