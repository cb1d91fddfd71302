//go:build e2e

package inject_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// serveWebhook serves the injection webhook on a local TLS listener with a
// certificate made for this test, and returns its URL and CA bundle.
func serveWebhook(t *testing.T) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "meshctl-test-webhook"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	cfg := inject.DefaultConfig()
	cfg.ProxyImage = "example.test/proxy:e2e"
	mux := http.NewServeMux()
	mux.Handle(inject.WebhookPath, inject.NewWebhook(func() inject.Config { return cfg }))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String() + inject.WebhookPath, certPEM
}

func hasContainer(spec corev1.PodSpec, name string) bool {
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

func dryRunPod(ctx context.Context, client kubernetes.Interface, ns string, labels map[string]string) (*corev1.Pod, error) {
	return client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.test/app:1"}}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

func TestWebhookInjectsPodsInLabeledNamespaces(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	url, caBundle := serveWebhook(t)

	// Only namespaces of this test carry this label, so the webhook never
	// touches other tests' pods.
	scope := map[string]string{"meshctl.test/webhook": fmt.Sprintf("w%d", time.Now().UnixNano())}
	injected := c.NewNamespace(t, map[string]string{vocab.NamespaceLabelInjection: "enabled", "meshctl.test/webhook": scope["meshctl.test/webhook"]})
	istioStyle := c.NewNamespace(t, map[string]string{vocab.IstioNamespaceLabelInjection: "enabled", "meshctl.test/webhook": scope["meshctl.test/webhook"]})
	plain := c.NewNamespace(t, scope)

	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "meshctl-test-" + scope["meshctl.test/webhook"]},
		Webhooks:   webhookconfig.Mutating(webhookconfig.Options{URL: strings.TrimSuffix(url, inject.WebhookPath), CABundle: caBundle, ExtraNamespaceLabels: scope}),
	}
	if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mwc.Name, metav1.DeleteOptions{})
	})

	// The API server picks up a new webhook configuration asynchronously;
	// dry-run pods show when it is in effect without creating anything.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pod, err := dryRunPod(ctx, c.Client, injected, nil)
		if err == nil && hasContainer(pod.Spec, vocab.ProxyContainerName) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never injected a dry-run pod (last error: %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Selection, checked with dry-run pods.
	for _, tc := range []struct {
		name   string
		ns     string
		labels map[string]string
		want   bool
	}{
		{"istio-injection=enabled namespace", istioStyle, nil, true},
		{"unlabeled namespace", plain, nil, false},
		{"pod opted in by label", plain, map[string]string{vocab.LabelInject: "true"}, true},
		{"pod opted out in an enabled namespace", injected, map[string]string{vocab.LabelInject: "false"}, false},
	} {
		pod, err := dryRunPod(ctx, c.Client, tc.ns, tc.labels)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := hasContainer(pod.Spec, vocab.ProxyContainerName); got != tc.want {
			t.Errorf("%s: injected=%v, want %v", tc.name, got, tc.want)
		}
	}

	// A real Deployment in each namespace: its pods get the sidecar only in
	// the labeled one.
	replicas := int32(1)
	for _, ns := range []string{injected, plain} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": "v1"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "web", Image: "example.test/web:1",
						Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intOrString(8080)}}},
					}}},
				},
			},
		}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	injectedPod := waitPod(t, c.Client, injected, "app=web")
	if !hasContainer(injectedPod.Spec, vocab.ProxyContainerName) || !hasContainer(injectedPod.Spec, vocab.InitContainerName) {
		t.Fatalf("pod %s/%s has no sidecar: %+v", injected, injectedPod.Name, injectedPod.Spec)
	}
	if injectedPod.Annotations[vocab.AnnotationStatus] == "" || injectedPod.Labels[vocab.LabelCanonicalName] != "web" {
		t.Errorf("pod %s lacks the status annotation or canonical name: %v %v", injectedPod.Name, injectedPod.Annotations, injectedPod.Labels)
	}
	for _, ctr := range injectedPod.Spec.Containers {
		if ctr.Name == vocab.ProxyContainerName && ctr.Image != "example.test/proxy:e2e" {
			t.Errorf("proxy image %q, want the handler's config", ctr.Image)
		}
		if ctr.Name == "web" && (ctr.ReadinessProbe.HTTPGet.Port.IntValue() != vocab.AgentPort) {
			t.Errorf("app probe not rewritten to the agent: %+v", ctr.ReadinessProbe.HTTPGet)
		}
	}
	plainPod := waitPod(t, c.Client, plain, "app=web")
	if hasContainer(plainPod.Spec, vocab.ProxyContainerName) || len(plainPod.Spec.InitContainers) > 0 {
		t.Errorf("pod %s/%s in an unlabeled namespace was injected", plain, plainPod.Name)
	}
}

func waitPod(t *testing.T, client kubernetes.Interface, ns, selector string) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(pods.Items) > 0 {
			return &pods.Items[0]
		}
		if time.Now().After(deadline) {
			events, _ := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
			var msgs []string
			if events != nil {
				for _, e := range events.Items {
					msgs = append(msgs, e.InvolvedObject.Name+": "+e.Message)
				}
			}
			t.Fatalf("no pod %s in %s after 90s (err %v); events:\n%s", selector, ns, err, strings.Join(msgs, "\n"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
