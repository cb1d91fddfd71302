//go:build e2e

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// writeCounter counts the requests of one replica that change ConfigMaps or
// webhook configurations: the writes only the leader may do.
type writeCounter struct {
	mu   sync.Mutex
	n    int
	next http.RoundTripper
}

func (w *writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && (strings.Contains(r.URL.Path, "/configmaps") || strings.Contains(r.URL.Path, "webhookconfigurations")) {
		w.mu.Lock()
		w.n++
		w.mu.Unlock()
	}
	return w.next.RoundTrip(r)
}

func (w *writeCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// installedServerRole creates the Role of manifests/server/rbac.yaml in ns,
// bound to the server's service account there.
func installedServerRole(t *testing.T, c *testcluster.Cluster, ns string) string {
	t.Helper()
	data, err := manifests.FS.ReadFile("server/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.Role
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var r rbacv1.Role
		if err := yaml.Unmarshal(doc, &r); err == nil && r.Kind == "Role" {
			role = &r
		}
	}
	if role == nil {
		t.Fatal("no Role in manifests/server/rbac.yaml")
	}
	ctx := context.Background()
	role.Namespace = ns
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := vocab.ServerName("")
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return "system:serviceaccount:" + ns + ":" + sa
}

// TestLeaderElectionOnlyLeaderWrites: two servers of one revision serve
// side by side from the start, but only the one holding the Lease (taken
// with exactly the installed Role's rights) publishes the root certificate
// and patches the webhook configuration; when it stops, the other takes
// over and does both.
func TestLeaderElectionOnlyLeaderWrites(t *testing.T) {
	c := testcluster.Get(t)
	meshNS := c.NewNamespace(t, nil)
	ctx := context.Background()
	const rev = "leader"
	user := installedServerRole(t, c, meshNS)
	cfg := inject.DefaultConfig()
	cfg.Revision = rev
	// The publisher writes into every namespace: a name of this test's own
	// keeps other tests' namespaces as they were.
	cfg.RootCertConfigMap = "mesh-ca-root-cert-" + meshNS
	t.Cleanup(func() {
		nss, _ := c.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		for _, n := range nss.Items {
			_ = c.Client.CoreV1().ConfigMaps(n.Name).Delete(context.Background(), cfg.RootCertConfigMap, metav1.DeleteOptions{})
		}
	})

	// A validation webhook configuration of the revision, as installed:
	// no caBundle, failurePolicy Ignore.
	ignore, none, path := admissionregistrationv1.Ignore, admissionregistrationv1.SideEffectClassNone, "/validate"
	vwcName := "meshctl-validator-" + meshNS
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: vwcName, Labels: map[string]string{vocab.LabelRevision: rev}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validation.meshctl.io", FailurePolicy: &ignore, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: meshNS, Name: "meshctl-server", Path: &path}},
			// Selects nothing, so it never slows other tests down.
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"meshctl-test": meshNS}},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), vwcName, metav1.DeleteOptions{})
	})
	patched := func() bool {
		v, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwcName, metav1.GetOptions{})
		return err == nil && len(v.Webhooks[0].ClientConfig.CABundle) > 0 && *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail
	}

	type replica struct {
		le      *LeaderElection
		writes  *writeCounter
		webhook string
		stop    func()
	}
	start := func(name string) *replica {
		writes := &writeCounter{}
		rc := rest.CopyConfig(c.Config)
		rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { writes.next = rt; return writes })
		client := kubernetes.NewForConfigOrDie(rc)
		// The election runs with the installed Role's rights only.
		ec := rest.CopyConfig(c.Config)
		ec.Impersonate = rest.ImpersonationConfig{UserName: user}
		le := &LeaderElection{Client: kubernetes.NewForConfigOrDie(ec), Namespace: meshNS, Name: vocab.ServerLeaderName(rev), Identity: name,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond}
		grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		whLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		id := &Identity{
			Client: client, MeshNamespace: meshNS, Revision: rev, ServiceName: "meshctl-server",
			InjectConfig: func() inject.Config { return cfg }, SecureGRPCListener: grpcLn, WebhookListener: whLn,
			Registry: prometheus.NewRegistry(), OnError: func(err error) { t.Logf("%s: %v", name, err) }, Leader: le,
		}
		rctx, cancel := context.WithCancel(ctx)
		if err := id.Setup(rctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- id.Run(rctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		t.Cleanup(stop)
		return &replica{le: le, writes: writes, webhook: whLn.Addr().String(), stop: stop}
	}
	serves := func(r *replica) bool {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := hc.Get("https://" + r.webhook + "/validate")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	rootIn := func(ns string) bool {
		_, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, cfg.RootCertConfigMap, metav1.GetOptions{})
		return err == nil
	}

	a := start("replica-a")
	if !xdstest.Eventually(60*time.Second, a.le.Leading) {
		t.Fatal("replica-a never led")
	}
	b := start("replica-b")
	if !xdstest.Eventually(30*time.Second, func() bool { return serves(b) }) {
		t.Fatal("replica-b does not serve its webhooks while it does not lead")
	}
	if !xdstest.Eventually(60*time.Second, patched) {
		t.Fatal("the leader did not patch the webhook configuration")
	}
	ns1 := c.NewNamespace(t, nil)
	if !xdstest.Eventually(60*time.Second, func() bool { return rootIn(ns1) }) {
		t.Fatalf("the leader did not publish the root certificate in %s", ns1)
	}
	if b.le.Leading() {
		t.Error("both replicas lead")
	}
	if n := b.writes.count(); n != 0 {
		t.Errorf("the replica that does not lead wrote %d times", n)
	}
	if a.writes.count() == 0 {
		t.Error("the leader's writes were not counted")
	}

	// The leader stops: the other takes over and does the writes.
	a.stop()
	if !xdstest.Eventually(60*time.Second, b.le.Leading) {
		t.Fatal("replica-b did not take over")
	}
	ns2 := c.NewNamespace(t, nil)
	if !xdstest.Eventually(60*time.Second, func() bool { return rootIn(ns2) }) {
		t.Fatalf("the new leader did not publish the root certificate in %s", ns2)
	}
	v, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwcName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v.Webhooks[0].ClientConfig.CABundle = nil
	v.Webhooks[0].FailurePolicy = &ignore
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !xdstest.Eventually(60*time.Second, patched) {
		t.Fatal("the new leader did not put the webhook configuration back")
	}
	if b.writes.count() == 0 {
		t.Error("the new leader's writes were not counted")
	}
}
