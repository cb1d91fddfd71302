package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/go-logr/logr/testr"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/fakecustom"
	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// The server's trust domain is the mesh config's (the mesh key, read by
// pkg/meshconfig), and a bad edit of it keeps the last good config.
func TestServerReadsTheTrustDomainFromTheMeshConfig(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := yaml.Marshal(inject.DefaultConfig())
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: vocab.MeshConfigMapName(""), Namespace: "mesh-system"},
		Data:       map[string]string{vocab.ConfigMapKeyInject: string(b), vocab.ConfigMapKeyMesh: "trustDomain: td.example\n"},
	}
	client := fake.NewClientset(cm)
	var mu sync.Mutex
	var errs []error
	get, notFound, err := WatchInjectConfig(ctx, client, "mesh-system", "", func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})
	if err != nil || notFound {
		t.Fatalf("notFound %v, err %v", notFound, err)
	}
	if got := get().TrustDomain; got != "td.example" {
		t.Fatalf("trust domain %q, want the mesh config's td.example", got)
	}
	cm.Data[vocab.ConfigMapKeyMesh] = "trustDomain: td.example\ntrustDomian: typo\n"
	if _, err := client.CoreV1().ConfigMaps("mesh-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(errs)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a bad mesh config was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if msg := errs[0].Error(); !strings.Contains(msg, `configmap mesh-system/mesh key mesh:2: unknown field "trustDomian"`) {
		t.Errorf("error does not name the ConfigMap, key and line: %s", msg)
	}
	if got := get().TrustDomain; got != "td.example" {
		t.Errorf("the last good config was not kept: %q", got)
	}
}

// The root namespace of mesh-wide policy is the mesh config's.
func TestReadMeshConfig(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	mc, err := ReadMeshConfig(ctx, client, "mesh-a", "")
	if err != nil || mc.GetRootNamespace() != "mesh-a" || mc.GetTrustDomain() != vocab.DefaultTrustDomain {
		t.Fatalf("without a ConfigMap: %v, %v", mc, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: vocab.MeshConfigMapName("canary"), Namespace: "mesh-a"},
		Data:       map[string]string{vocab.ConfigMapKeyMesh: "rootNamespace: policies\ntrustDomain: td.example\n"},
	}
	if _, err := client.CoreV1().ConfigMaps("mesh-a").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err = ReadMeshConfig(ctx, client, "mesh-a", "canary")
	if err != nil || mc.GetRootNamespace() != "policies" || mc.GetTrustDomain() != "td.example" {
		t.Fatalf("from the ConfigMap: %v, %v", mc, err)
	}
	cm.Data[vocab.ConfigMapKeyMesh] = "rootNamespace: policies\nrootNamspace: x\n"
	if _, err := client.CoreV1().ConfigMaps("mesh-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = ReadMeshConfig(ctx, client, "mesh-a", "canary")
	if err == nil || !strings.Contains(err.Error(), `configmap mesh-a/mesh-canary key mesh:2: unknown field "rootNamspace"`) {
		t.Errorf("a bad mesh config: %v", err)
	}
}

// TestRootNamespaceFollowsMeshConfig: the mesh config's rootNamespace is
// read from each snapshot, so a change to the mesh ConfigMap moves the
// mesh-wide policies at once (here a PeerAuthentication STRICT in the new
// root makes a gRPC server's port STRICT); a ConfigMap that does not parse
// keeps the last root.
func TestRootNamespaceFollowsMeshConfig(t *testing.T) {
	srv := startTestServer(t)
	p := srv.pusher
	p.RootNamespace = "mesh-system"
	p.MeshConfig = meshSettingsFrom("mesh-system", "", nil)
	base := `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {ports: [{name: grpc, port: 9090}], selector: {app: echo}}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: default, labels: {app: echo}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 10.244.0.5}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: policies}
spec: {mtls: {mode: STRICT}}
`
	mesh := func(data string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mesh, namespace: mesh-system}\ndata:\n  mesh: " + data + "\n"
	}
	mode := func() (string, string) {
		p.mu.Lock()
		x := p.index
		p.mu.Unlock()
		return x.RootNamespace(), x.Servers("default").Servers[0].Ports[0].MTLS
	}
	for _, step := range []struct{ what, config, root, mtls string }{
		{"no mesh ConfigMap: the root given at start", base, "mesh-system", "PERMISSIVE"},
		{"rootNamespace: policies", base + "---\n" + mesh(`"rootNamespace: policies"`), "policies", "STRICT"},
		{"a bad edit keeps the last root", base + "---\n" + mesh(`"rootNamespace: [policies"`), "policies", "STRICT"},
		{"rootNamespace back to the mesh namespace", base + "---\n" + mesh(`"rootNamespace: mesh-system"`), "mesh-system", "PERMISSIVE"},
	} {
		p.Update(parseStore(t, step.config))
		if root, mtls := mode(); root != step.root || mtls != step.mtls {
			t.Errorf("%s: root %s, echo's port %s; want %s, %s", step.what, root, mtls, step.root, step.mtls)
		}
	}
}

// TestTrustDomainFollowsMeshConfig runs the server on a fake clientset: the
// identities mesh mTLS expects of a server (here a sidecar's auto mTLS
// cluster to reviews) are in the mesh config's trust domain and its
// trustDomainAliases, and an edit of either in the mesh ConfigMap is
// translated and pushed to the connected proxy without a restart; an edit
// that does not parse keeps the last trust domain.
func TestTrustDomainFollowsMeshConfig(t *testing.T) {
	ctx := context.Background()
	mesh := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: vocab.MeshConfigMapName(""), Namespace: "mesh-system"},
		Data:       map[string]string{vocab.ConfigMapKeyMesh: "trustDomain: one.example\n"},
	}
	pod := func(name, sa string, labels map[string]string, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels},
			Spec:   corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "x"}}},
			Status: corev1.PodStatus{PodIP: ip}}
	}
	ready := true
	kube := fake.NewClientset(mesh,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9", Selector: map[string]string{"app": "reviews"}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}},
		pod("reviews-0", "reviews", map[string]string{"app": "reviews", vocab.LabelTLSMode: vocab.TLSModeIstio}, "10.244.0.10"),
		pod("sleep-0", "sleep", map[string]string{"app": "sleep", vocab.LabelTLSMode: vocab.TLSModeIstio}, "10.244.0.20"),
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "reviews-1", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(9080))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.10"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "reviews-0", Namespace: "shop"}}}},
	)
	s, err := New(Options{XDSAddress: "127.0.0.1:0", MonitoringAddress: "127.0.0.1:0", MeshNamespace: "mesh-system",
		TrustDomain: "one.example", Kube: kube, Custom: fakecustom.New(istiofake.NewSimpleClientset(), nil), Log: testr.New(t), Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	view := s.Views.Ensure(&core.Node{Id: "sidecar~10.244.0.20~sleep-0.shop~shop.svc.cluster.local"})
	// expected returns the server identities the sidecar's cluster to
	// reviews accepts, as the proxy was last sent them.
	expected := func() []string {
		c, ok := view.Resources()[generate.ClusterType]["outbound|9080||reviews.shop.svc.cluster.local"].(*cluster.Cluster)
		if !ok || len(c.TransportSocketMatches) == 0 {
			return nil
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := c.TransportSocketMatches[0].TransportSocket.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
			out = append(out, m.GetMatcher().GetExact())
		}
		return out
	}
	waitIdentity := func(what string, want ...string) {
		t.Helper()
		if !xdstest.Eventually(20*time.Second, func() bool { return slices.Equal(expected(), want) }) {
			t.Fatalf("%s: the sidecar's cluster to reviews accepts %v, want %v", what, expected(), want)
		}
	}
	waitIdentity("at start", "spiffe://one.example/ns/shop/sa/reviews")

	edit := func(data string) {
		t.Helper()
		mesh.Data[vocab.ConfigMapKeyMesh] = data
		if _, err := kube.CoreV1().ConfigMaps("mesh-system").Update(ctx, mesh, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	edit("trustDomain: two.example\n")
	waitIdentity("after trustDomain: two.example", "spiffe://two.example/ns/shop/sa/reviews")
	// During a move of trust domain, the old one as an alias: servers
	// still holding its certificates are accepted too.
	edit("trustDomain: two.example\ntrustDomainAliases: [one.example]\n")
	waitIdentity("with trustDomainAliases: [one.example]", "spiffe://one.example/ns/shop/sa/reviews", "spiffe://two.example/ns/shop/sa/reviews")
	edit("trustDomain: two.example\n")
	waitIdentity("without the alias again", "spiffe://two.example/ns/shop/sa/reviews")

	// An edit that does not parse, once translated, leaves two.example in
	// force.
	edit("trustDomain: [two.example\n")
	if !xdstest.Eventually(20*time.Second, func() bool {
		s.Pusher.mu.Lock()
		st := s.Pusher.store
		s.Pusher.mu.Unlock()
		r := st.Get(config.KindConfigMap, "mesh-system", mesh.Name)
		return r != nil && r.ConfigMap() != nil && r.ConfigMap().Data[vocab.ConfigMapKeyMesh] == mesh.Data[vocab.ConfigMapKeyMesh]
	}) {
		t.Fatal("the bad edit was never translated")
	}
	waitIdentity("after a bad edit", "spiffe://two.example/ns/shop/sa/reviews")
	edit("{}\n")
	waitIdentity("trustDomain left out: the default", "spiffe://"+vocab.DefaultTrustDomain+"/ns/shop/sa/reviews")
}
