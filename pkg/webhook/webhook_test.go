package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

func review(t *testing.T, h http.Handler, kind, obj string, op admissionv1.Operation) *admissionv1.AdmissionResponse {
	t.Helper()
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u1", Kind: metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: kind},
			Name: "reviews", Namespace: "shop", Operation: op, Object: runtime.RawExtension{Raw: []byte(obj)},
		},
	})
	req := httptest.NewRequest(http.MethodPost, webhookconfig.ValidatePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || out.Response.UID != "u1" {
		t.Fatalf("bad review answer %s (%v)", rec.Body, err)
	}
	return out.Response
}

func TestValidatorUsesTheRulesOfValidate(t *testing.T) {
	h := NewValidator()
	good := `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews","namespace":"shop"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews"}}]}]}}`
	if r := review(t, h, "VirtualService", good, admissionv1.Create); !r.Allowed {
		t.Fatalf("valid VirtualService refused: %v", r.Result)
	}
	bad := `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews","namespace":"shop"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews"},"weight":-5}]}]}}`
	r := review(t, h, "VirtualService", bad, admissionv1.Update)
	if r.Allowed || !strings.Contains(r.Result.Message, "VirtualService shop/reviews is invalid") || !strings.Contains(r.Result.Message, "weight") {
		t.Fatalf("invalid VirtualService: allowed=%v %v", r.Allowed, r.Result)
	}
	typo := `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews"},"spec":{"hosts":["reviews"],"htp":[]}}`
	if r := review(t, h, "VirtualService", typo, admissionv1.Create); r.Allowed || !strings.Contains(r.Result.Message, `"htp"`) {
		t.Fatalf("unknown field: allowed=%v %v", r.Allowed, r.Result)
	}
	// Schema errors reach the webhook as validate reports them: every one,
	// each with its field path, expectation and did-you-mean.
	schema := `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews"},"spec":{"host":"reviews","trafficPolicy":{"tls":{"mode":"ISTIO_MUTAL"}},"subsets":[{"name":"v1","labelz":{}}]}}`
	r = review(t, h, "DestinationRule", schema, admissionv1.Create)
	for _, want := range []string{"spec.trafficPolicy.tls.mode: invalid value \"ISTIO_MUTAL\"", "did you mean ISTIO_MUTUAL?", "spec.subsets[0].labelz: unknown field", "did you mean labels?"} {
		if r.Allowed || !strings.Contains(r.Result.Message, want) {
			t.Errorf("schema errors: allowed=%v, message lacks %q: %v", r.Allowed, want, r.Result)
		}
	}
	if r := review(t, h, "VirtualService", bad, admissionv1.Delete); !r.Allowed {
		t.Fatal("a delete is never refused")
	}
	if r := review(t, h, "VirtualService", `"just a string"`, admissionv1.Create); r.Allowed {
		t.Fatal("a non-object was allowed")
	}
}

func TestPatcherSetsBundleAndFailurePolicyOfItsRevisionOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := webhookconfig.Options{Service: &admissionregistrationv1.ServiceReference{Name: "meshctl-server", Namespace: "mesh-system"}}
	mine := func(name, rev string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
		meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{vocab.LabelRevision: rev}}
		o := opts
		o.Revision = rev
		return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta, Webhooks: webhookconfig.Mutating(o)},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta, Webhooks: webhookconfig.Validating(o, admissionregistrationv1.Ignore)}
	}
	m1, v1 := mine("default", vocab.DefaultRevision)
	m2, v2 := mine("canary", "canary")
	client := fake.NewClientset(m1, v1, m2, v2)
	auth := ca.New(client, ca.Options{Namespace: "mesh-system"})
	if err := auth.Load(ctx); err != nil {
		t.Fatal(err)
	}
	s := &Server{Client: client, CA: auth, Revision: vocab.DefaultRevision}
	s.serving.Store(true)
	go func() { _ = s.patch(ctx) }()

	admission := client.AdmissionregistrationV1()
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	patched := func(bundle []byte) bool {
		m, _ := admission.MutatingWebhookConfigurations().Get(ctx, "default", metav1.GetOptions{})
		v, _ := admission.ValidatingWebhookConfigurations().Get(ctx, "default", metav1.GetOptions{})
		for _, w := range m.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
				return false
			}
		}
		return bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, bundle) && *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail
	}
	wait("caBundle and Fail on the default revision's configurations", func() bool { return patched(auth.Bundle().RootsPEM()) })

	// Someone resets the bundle (a re-install): it is put back.
	m, _ := admission.MutatingWebhookConfigurations().Get(ctx, "default", metav1.GetOptions{})
	m.Webhooks[0].ClientConfig.CABundle = nil
	if _, err := admission.MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("the bundle restored", func() bool { return patched(auth.Bundle().RootsPEM()) })

	// A rotation puts both roots in.
	if err := auth.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	wait("both roots after rotation", func() bool {
		return strings.Count(string(auth.Bundle().RootsPEM()), "BEGIN CERTIFICATE") == 2 && patched(auth.Bundle().RootsPEM())
	})

	// The canary's configurations are not this server's business.
	cm, _ := admission.MutatingWebhookConfigurations().Get(ctx, "canary", metav1.GetOptions{})
	cv, _ := admission.ValidatingWebhookConfigurations().Get(ctx, "canary", metav1.GetOptions{})
	if cm.Webhooks[0].ClientConfig.CABundle != nil || *cv.Webhooks[0].FailurePolicy != admissionregistrationv1.Ignore {
		t.Fatal("the default revision's server patched the canary's webhooks")
	}
}
