//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testcluster"
)

func TestDeploymentBecomesReady(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "2 ready replicas", func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2, err
	})
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName != testcluster.NodeName {
			t.Errorf("pod %s scheduled on %q, want %q", p.Name, p.Spec.NodeName, testcluster.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready != 2 {
		t.Fatalf("%d ready pods, want 2", ready)
	}
}

func TestCRDAndServerSideApply(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.NewNamespace(t, nil)
	ctx := context.Background()
	ext := apiextclient.NewForConfigOrDie(c.Config)
	crd := &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.e2e.meshctl.io"},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "e2e.meshctl.io",
			Names: apiextv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextv1.NamespaceScoped,
			Versions: []apiextv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{"size": {Type: "integer"}}},
					},
				}},
			}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ext.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
	waitFor(t, 30*time.Second, "CRD Established", func() (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	gvr := schema.GroupVersionResource{Group: "e2e.meshctl.io", Version: "v1", Resource: "widgets"}
	obj := []byte(`{"apiVersion":"e2e.meshctl.io/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}}`)
	var applied *unstructured.Unstructured
	waitFor(t, 30*time.Second, "server-side apply of a Widget", func() (bool, error) {
		var err error
		applied, err = c.Dynamic.Resource(gvr).Namespace(ns).Patch(ctx, "w1", types.ApplyPatchType, obj,
			metav1.PatchOptions{FieldManager: "e2e", Force: ptr.To(true)})
		// Discovery of a fresh CRD takes a moment to reach every handler.
		return err == nil, nil
	})
	size, _, _ := unstructured.NestedInt64(applied.Object, "spec", "size")
	if size != 3 {
		t.Fatalf("spec.size = %d, want 3", size)
	}
	if m := applied.GetManagedFields(); len(m) == 0 || m[0].Manager != "e2e" || m[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managed fields %+v, want an Apply entry by e2e", m)
	}
}

func TestMutatingWebhookIsCalled(t *testing.T) {
	c := testcluster.Get(t)
	marker := fmt.Sprintf("e2e-webhook-%d", time.Now().UnixNano())
	ns := c.NewNamespace(t, map[string]string{"e2e-webhook": marker})
	other := c.NewNamespace(t, nil)
	ctx := context.Background()

	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		patch := []byte(`[{"op":"add","path":"/metadata/labels","value":{"webhook":"called"}}]`)
		pt := admissionv1.PatchTypeJSONPatch
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: patch, PatchType: &pt}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	caPEM, cert := selfSignedCert(t)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cfg := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: marker},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:                    "pods.e2e.meshctl.io",
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/mutate"), CABundle: caPEM},
			Rules:                   []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create}, Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-webhook": marker}},
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), marker, metav1.DeleteOptions{})
	})
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c:1"}}}}
	}
	// The API server picks up a new webhook configuration asynchronously.
	var got *corev1.Pod
	i := 0
	waitFor(t, 30*time.Second, "webhook to mutate a pod", func() (bool, error) {
		i++
		p, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		got = p
		return p.Labels["webhook"] == "called", nil
	})
	if calls.Load() == 0 {
		t.Fatal("webhook server was never called")
	}
	if got.Labels["webhook"] != "called" {
		t.Fatalf("labels %v: patch not applied", got.Labels)
	}
	before := calls.Load()
	p, err := c.Client.CoreV1().Pods(other).Create(ctx, pod("untouched"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Labels["webhook"] != "" || calls.Load() != before {
		t.Fatalf("webhook called for a namespace outside its selector")
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func selfSignedCert(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}
