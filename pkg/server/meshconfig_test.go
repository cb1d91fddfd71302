package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
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
	p.MeshConfig = rootNamespaceFrom("mesh-system", "", nil)
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
