//go:build e2e

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
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
// webhook configurations: the writes only the leader may do. Once cut, no
// request of the replica reaches the API server, as if its process had
// died: it can neither renew nor release its Lease.
type writeCounter struct {
	mu   sync.Mutex
	n    int
	next http.RoundTripper
	cut  *atomic.Bool
}

func (w *writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if w.cut.Load() {
		return nil, errors.New("replica crashed: no request leaves it")
	}
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

// leaderEnv is a mesh namespace with the installed server Role, a
// revision's validation webhook configuration as installed (no caBundle,
// failurePolicy Ignore) and an injection config whose root certificate
// ConfigMap name is the test's own, for replicas of that revision.
type leaderEnv struct {
	c      *testcluster.Cluster
	meshNS string
	rev    string
	user   string
	cfg    inject.Config
	vwc    string
}

func newLeaderEnv(t *testing.T, rev string) *leaderEnv {
	c := testcluster.Get(t)
	meshNS := c.NewNamespace(t, nil)
	ctx := context.Background()
	e := &leaderEnv{c: c, meshNS: meshNS, rev: rev, user: installedServerRole(t, c, meshNS), cfg: inject.DefaultConfig()}
	e.cfg.Revision = rev
	// The publisher writes into every namespace: a name of this test's own
	// keeps other tests' namespaces as they were.
	e.cfg.RootCertConfigMap = "mesh-ca-root-cert-" + meshNS
	t.Cleanup(func() {
		nss, _ := c.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		for _, n := range nss.Items {
			_ = c.Client.CoreV1().ConfigMaps(n.Name).Delete(context.Background(), e.cfg.RootCertConfigMap, metav1.DeleteOptions{})
		}
	})
	ignore, none, path := admissionregistrationv1.Ignore, admissionregistrationv1.SideEffectClassNone, "/validate"
	e.vwc = "meshctl-validator-" + meshNS
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: e.vwc, Labels: map[string]string{vocab.LabelRevision: rev}},
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
		_ = c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), e.vwc, metav1.DeleteOptions{})
	})
	return e
}

// patched reports whether the webhook configuration has the CA bundle and
// failurePolicy Fail (what the leader writes).
func (e *leaderEnv) patched() bool {
	v, err := e.c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), e.vwc, metav1.GetOptions{})
	return err == nil && len(v.Webhooks[0].ClientConfig.CABundle) > 0 && *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail
}

// unpatch puts the webhook configuration back as installed, for a leader to
// patch again.
func (e *leaderEnv) unpatch(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	v, err := e.c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, e.vwc, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ignore := admissionregistrationv1.Ignore
	v.Webhooks[0].ClientConfig.CABundle = nil
	v.Webhooks[0].FailurePolicy = &ignore
	if _, err := e.c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// rootIn reports whether the root certificate ConfigMap is in ns.
func (e *leaderEnv) rootIn(ns string) bool {
	_, err := e.c.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), e.cfg.RootCertConfigMap, metav1.GetOptions{})
	return err == nil
}

type replica struct {
	le      *LeaderElection
	writes  *writeCounter
	webhook string
	stop    func()
	// crash cuts the replica off the API server and then stops it: it
	// neither renews nor releases its Lease, as a process that died.
	crash func()
}

// start runs the identity half of a server of the revision as a replica
// named name, electing with the installed Role's rights and the given
// Lease timings.
func (e *leaderEnv) start(t *testing.T, name string, lease, renew, retry time.Duration) *replica {
	cut := &atomic.Bool{}
	writes := &writeCounter{cut: cut}
	rc := rest.CopyConfig(e.c.Config)
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { writes.next = rt; return writes })
	client := kubernetes.NewForConfigOrDie(rc)
	// The election runs with the installed Role's rights only.
	ec := rest.CopyConfig(e.c.Config)
	ec.Impersonate = rest.ImpersonationConfig{UserName: e.user}
	electionCut := &writeCounter{cut: cut}
	ec.Wrap(func(rt http.RoundTripper) http.RoundTripper { electionCut.next = rt; return electionCut })
	le := &LeaderElection{Client: kubernetes.NewForConfigOrDie(ec), Namespace: e.meshNS, Name: vocab.ServerLeaderName(e.rev), Identity: name,
		LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	whLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{
		Client: client, MeshNamespace: e.meshNS, Revision: e.rev, ServiceName: "meshctl-server",
		InjectConfig: func() inject.Config { return e.cfg }, SecureGRPCListener: grpcLn, WebhookListener: whLn,
		Registry: prometheus.NewRegistry(), OnError: func(err error) { t.Logf("%s: %v", name, err) }, Leader: le,
	}
	rctx, cancel := context.WithCancel(context.Background())
	if err := id.Setup(rctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- id.Run(rctx) }()
	var once sync.Once
	stop := func(crashed bool) {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !crashed {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	t.Cleanup(func() { stop(false) })
	return &replica{le: le, writes: writes, webhook: whLn.Addr().String(),
		stop:  func() { stop(false) },
		crash: func() { cut.Store(true); stop(true) }}
}

// TestLeaderElectionOnlyLeaderWrites: two servers of one revision serve
// side by side from the start, but only the one holding the Lease (taken
// with exactly the installed Role's rights) publishes the root certificate
// and patches the webhook configuration; when it stops, the other takes
// over and does both.
func TestLeaderElectionOnlyLeaderWrites(t *testing.T) {
	e := newLeaderEnv(t, "leader")
	start := func(name string) *replica {
		return e.start(t, name, 4*time.Second, 3*time.Second, 500*time.Millisecond)
	}
	a := start("replica-a")
	if !xdstest.Eventually(60*time.Second, a.le.Leading) {
		t.Fatal("replica-a never led")
	}
	b := start("replica-b")
	if !xdstest.Eventually(30*time.Second, func() bool { return b.servesWebhooks() }) {
		t.Fatal("replica-b does not serve its webhooks while it does not lead")
	}
	if !xdstest.Eventually(60*time.Second, e.patched) {
		t.Fatal("the leader did not patch the webhook configuration")
	}
	ns1 := e.c.NewNamespace(t, nil)
	if !xdstest.Eventually(60*time.Second, func() bool { return e.rootIn(ns1) }) {
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
	ns2 := e.c.NewNamespace(t, nil)
	if !xdstest.Eventually(60*time.Second, func() bool { return e.rootIn(ns2) }) {
		t.Fatalf("the new leader did not publish the root certificate in %s", ns2)
	}
	e.unpatch(t)
	if !xdstest.Eventually(60*time.Second, e.patched) {
		t.Fatal("the new leader did not put the webhook configuration back")
	}
	if b.writes.count() == 0 {
		t.Error("the new leader's writes were not counted")
	}
}

// servesWebhooks reports whether the replica answers on its webhook port.
func (r *replica) servesWebhooks() bool {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + r.webhook + "/validate")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// TestLeaderElectionCrashedLeader: a leader that dies (cut off the API
// server, then stopped: it neither renews nor releases its Lease) keeps the
// Lease until the lease duration has passed since its last renewal, then
// the other replica takes it and does the writes (publishes the root
// certificate in a new namespace, patches the webhook configuration back).
// The Lease's history is read from a watch, so that the order and times of
// its records, not the test's clock, show what happened.
func TestLeaderElectionCrashedLeader(t *testing.T) {
	e := newLeaderEnv(t, "crash")
	const lease = 6 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := vocab.ServerLeaderName(e.rev)
	w, err := e.c.Client.CoordinationV1().Leases(e.meshNS).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var history []coordinationv1.LeaseSpec
	go func() {
		for ev := range w.ResultChan() {
			if l, ok := ev.Object.(*coordinationv1.Lease); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				mu.Lock()
				history = append(history, *l.Spec.DeepCopy())
				mu.Unlock()
			}
		}
	}()
	holder := func(h coordinationv1.LeaseSpec) string {
		if h.HolderIdentity == nil {
			return ""
		}
		return *h.HolderIdentity
	}

	a := e.start(t, "replica-a", lease, 4*time.Second, 500*time.Millisecond)
	if !xdstest.Eventually(60*time.Second, a.le.Leading) {
		t.Fatal("replica-a never led")
	}
	b := e.start(t, "replica-b", lease, 4*time.Second, 500*time.Millisecond)
	if !xdstest.Eventually(30*time.Second, b.servesWebhooks) {
		t.Fatal("replica-b does not serve its webhooks while it does not lead")
	}
	if !xdstest.Eventually(60*time.Second, e.patched) {
		t.Fatal("the leader did not patch the webhook configuration")
	}
	if !a.le.Leading() || b.le.Leading() {
		t.Fatalf("before the crash: replica-a leads %v, replica-b leads %v", a.le.Leading(), b.le.Leading())
	}
	bWrites := b.writes.count()

	a.crash()
	e.unpatch(t)
	if !xdstest.Eventually(60*time.Second, b.le.Leading) {
		t.Fatal("replica-b did not take over the Lease of the crashed leader")
	}
	ns := e.c.NewNamespace(t, nil)
	if !xdstest.Eventually(60*time.Second, func() bool { return e.rootIn(ns) }) {
		t.Fatalf("the new leader did not publish the root certificate in %s", ns)
	}
	if !xdstest.Eventually(60*time.Second, e.patched) {
		t.Fatal("the new leader did not patch the webhook configuration back")
	}
	if b.writes.count() == bWrites {
		t.Error("the new leader's writes were not counted")
	}

	// The Lease went from replica-a straight to replica-b: never released
	// (a release leaves no holder), and taken no earlier than the lease
	// duration after replica-a's last renewal.
	if !xdstest.Eventually(30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(history, func(h coordinationv1.LeaseSpec) bool { return holder(h) == "replica-b" })
	}) {
		t.Fatal("the watch never saw replica-b hold the Lease")
	}
	mu.Lock()
	defer mu.Unlock()
	first := slices.IndexFunc(history, func(h coordinationv1.LeaseSpec) bool { return holder(h) == "replica-b" })
	last := -1
	for i := first - 1; i >= 0; i-- {
		if holder(history[i]) == "replica-a" {
			last = i
			break
		}
	}
	if last < 0 {
		t.Fatalf("replica-b took a Lease replica-a never held: %v", history[:first+1])
	}
	for _, h := range history[last+1 : first] {
		t.Errorf("between replica-a's last renewal and replica-b's acquisition the Lease was held by %q (released?)", holder(h))
	}
	renewed, acquired := history[last].RenewTime, history[first].AcquireTime
	if renewed == nil || acquired == nil {
		t.Fatalf("Lease records without times: %+v, %+v", history[last], history[first])
	}
	t.Logf("replica-b took the Lease %v after replica-a's last renewal (lease duration %v)", acquired.Sub(renewed.Time), lease)
	if got := acquired.Sub(renewed.Time); got < lease {
		t.Errorf("replica-b took the Lease %v after replica-a's last renewal, before the lease duration %v: it was not held to its term", got, lease)
	}
	if n := history[first].LeaseTransitions; n == nil || *n < 1 {
		t.Errorf("the takeover is not counted in leaseTransitions: %v", n)
	}
}
