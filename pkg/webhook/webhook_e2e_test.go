//go:build e2e

package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/server"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

const webhookPort = 15017

// startServer runs the identity half of `meshctl server` for a revision the
// way it runs in the cluster: behind a Service, whose ClusterIP (loopback on
// the test cluster) the API server dials, with the webhook configurations of
// the revision registered without a caBundle, for the server to patch.
func startServer(t *testing.T, c *testcluster.Cluster, meshNS, revision string, scope map[string]string) (*server.Identity, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svcName := "meshctl-server-" + revision
	svc, err := c.Client.CoreV1().Services(meshNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svcName},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https-webhook", Port: webhookPort}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	whLn, err := net.Listen("tcp", net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(webhookPort)))
	if err != nil {
		t.Fatalf("listening on the Service's ClusterIP %s: %v", svc.Spec.ClusterIP, err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := inject.DefaultConfig()
	cfg.Revision = revision
	cfg.ProxyImage = "example.test/proxy:" + revision
	// The publisher writes into every namespace of the shared cluster: a
	// name of this test's own keeps other tests' namespaces as they were.
	cfg.RootCertConfigMap = "mesh-ca-root-cert-" + scope["meshctl.test/webhook"]
	id := &server.Identity{
		Client: c.Client, MeshNamespace: meshNS, Revision: revision, ServiceName: svcName,
		InjectConfig:       func() inject.Config { return cfg },
		SecureGRPCListener: grpcLn, WebhookListener: whLn,
		Registry: prometheus.NewRegistry(),
		OnError:  func(err error) { t.Logf("%s server: %v", revision, err) },
	}
	if err := id.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- id.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s server: %v", revision, err)
		}
		nss, _ := c.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		for _, n := range nss.Items {
			_ = c.Client.CoreV1().ConfigMaps(n.Name).Delete(context.Background(), cfg.RootCertConfigMap, metav1.DeleteOptions{})
		}
	})

	name := fmt.Sprintf("meshctl-e2e-%s-%s", revision, scope["meshctl.test/webhook"])
	opts := webhookconfig.Options{
		Revision: revision, MeshNamespace: meshNS, ExtraNamespaceLabels: scope,
		Service: &admissionregistrationv1.ServiceReference{Name: svcName, Namespace: meshNS, Port: ptr(int32(webhookPort))},
	}
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{vocab.LabelRevision: revision}}
	adm := c.Client.AdmissionregistrationV1()
	if _, err := adm.MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta, Webhooks: webhookconfig.Mutating(opts)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta, Webhooks: webhookconfig.Validating(opts, admissionregistrationv1.Ignore)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adm.MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = adm.ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return id, name
}

func ptr[T any](v T) *T { return &v }

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func proxies(p *corev1.Pod) []corev1.Container {
	var out []corev1.Container
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == vocab.ProxyContainerName {
				out = append(out, c)
			}
		}
	}
	return out
}

func createPod(t *testing.T, c *testcluster.Cluster, ns string, labels map[string]string, dryRun bool) (*corev1.Pod, error) {
	t.Helper()
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.test/app:1"}}},
	}, opts)
}

func TestWebhooksServedThroughTheService(t *testing.T) {
	c := testcluster.Get(t)
	testcrds.Ensure(t, c.Config, "virtualservices")
	ctx := context.Background()
	scope := map[string]string{"meshctl.test/webhook": fmt.Sprintf("s%d", time.Now().UnixNano())}
	with := func(l map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range scope {
			out[k] = v
		}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	meshNS := c.NewNamespace(t, nil)
	def, defName := startServer(t, c, meshNS, vocab.DefaultRevision, scope)
	_, canaryName := startServer(t, c, meshNS, "canary", scope)

	// The servers patch their own configurations: the trust bundle of the
	// CA (both revisions share the mesh namespace's CA), and Fail on
	// validation now that they serve.
	adm := c.Client.AdmissionregistrationV1()
	bundle := def.CA.Bundle().RootsPEM()
	for _, name := range []string{defName, canaryName} {
		waitFor(t, "caBundle and failurePolicy patched into "+name, func() bool {
			m, err1 := adm.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			v, err2 := adm.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			if err1 != nil || err2 != nil {
				return false
			}
			for _, w := range m.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
					return false
				}
			}
			return bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, bundle) && *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail
		})
	}

	labelled := c.NewNamespace(t, with(map[string]string{vocab.NamespaceLabelInjection: vocab.NamespaceInjectionEnabled}))
	plain := c.NewNamespace(t, scope)
	canary := c.NewNamespace(t, with(map[string]string{vocab.NamespaceLabelRevision: "canary"}))
	outside := c.NewNamespace(t, map[string]string{vocab.NamespaceLabelInjection: vocab.NamespaceInjectionEnabled})

	// The API server picks up configurations asynchronously: wait until a
	// dry-run pod in the labelled namespace comes back injected.
	waitFor(t, "the API server to call the injector", func() bool {
		p, err := createPod(t, c, labelled, nil, true)
		return err == nil && len(proxies(p)) == 1
	})

	for _, tc := range []struct {
		name   string
		ns     string
		labels map[string]string
		image  string // "" means not injected
	}{
		{"labelled namespace", labelled, nil, "example.test/proxy:default"},
		{"unlabelled namespace", plain, nil, ""},
		{"pod opted in by label in an unlabelled namespace", plain, map[string]string{vocab.LabelInject: "true"}, "example.test/proxy:default"},
		{"canary namespace", canary, nil, "example.test/proxy:canary"},
		{"pod opted out in a labelled namespace", labelled, map[string]string{vocab.LabelInject: "false"}, ""},
	} {
		p, err := createPod(t, c, tc.ns, tc.labels, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := proxies(p)
		switch {
		case tc.image == "" && len(got) > 0:
			t.Errorf("%s: injected", tc.name)
		case tc.image != "" && len(got) != 1:
			t.Errorf("%s: %d proxy containers, want exactly one", tc.name, len(got))
		case tc.image != "" && got[0].Image != tc.image:
			t.Errorf("%s: proxy %s, want %s (the other revision injected)", tc.name, got[0].Image, tc.image)
		}
	}
	// Namespaces outside this test's scope are never touched.
	if p, err := createPod(t, c, outside, nil, true); err != nil || len(proxies(p)) != 0 {
		t.Errorf("a namespace outside the test's scope was injected (err %v)", err)
	}

	// A pod with a container named like the init container is refused with
	// the reason, instead of a patch with a duplicate name.
	_, err := c.Client.CoreV1().Pods(labelled).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "clash-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "a"}, {Name: vocab.InitContainerName, Image: "b"}}},
	}, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "reserves for its init container") {
		t.Errorf("pod with a mesh-init container: %v, want the injector's refusal", err)
	}

	// Validation: an invalid VirtualService is refused with the reason
	// `meshctl validate` gives; a valid one is accepted.
	vsClient := c.Dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}).Namespace(plain)
	vs := func(name string, weight int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{
				"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}, "weight": weight}},
			}}},
		}}
	}
	waitFor(t, "the API server to call the validator", func() bool {
		_, err := vsClient.Create(ctx, vs("probe", -5), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil
	})
	_, err = vsClient.Create(ctx, vs("bad", -5), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "meshctl validation: VirtualService "+plain+"/bad is invalid") || !strings.Contains(err.Error(), "weight") {
		t.Fatalf("invalid VirtualService: %v, want the validation message", err)
	}
	if _, err := vsClient.Create(ctx, vs("good", 100), metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid VirtualService refused: %v", err)
	}
}
