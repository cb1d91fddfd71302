package testcluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// EnvKubeconfig names a running cluster for tests to share. `make test` starts
// one cluster for the whole run and sets it, so test packages do not each pay
// for a start.
const EnvKubeconfig = "MESHCTL_TEST_KUBECONFIG"

var shared struct {
	sync.Mutex
	cluster *Cluster
	owned   bool
	err     error
}

// Get returns the cluster for this test binary: the one named by
// MESHCTL_TEST_KUBECONFIG, or else one started now from the cached binaries
// and stopped by Main (or, failing that, killed when the test binary exits).
func Get(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.cluster == nil && shared.err == nil {
		if kc := os.Getenv(EnvKubeconfig); kc != "" {
			shared.cluster, shared.err = Connect(kc)
		} else {
			dir, err := os.MkdirTemp("", "meshctl-testcluster-")
			if err != nil {
				shared.err = err
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				shared.cluster, shared.err = Start(ctx, Options{Dir: dir})
				cancel()
				shared.owned = shared.err == nil
			}
		}
	}
	if shared.err != nil {
		t.Fatalf("local test cluster unavailable: %v", shared.err)
	}
	return shared.cluster
}

// Own starts a cluster for this test alone, stopped when the test ends: for
// tests that change what every test on the shared cluster relies on (the
// mesh CRDs, whether a kind is served).
func Own(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting a cluster of this test's own: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Main runs the tests of a package and stops the cluster Get started, if any.
// Use it from TestMain: os.Exit(testcluster.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.owned {
		shared.cluster.Stop()
		_ = os.RemoveAll(shared.cluster.Dir)
	}
	return code
}

// NewNamespace creates a namespace with a unique name for one test, waits
// until pods can be created in it, and deletes it when the test ends.
func (c *Cluster) NewNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	prefix := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: strings.Trim(prefix, "-") + "-",
		Labels:       labels,
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating test namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	// Pods are refused until the ServiceAccount controller has made "default".
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return ns.Name
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s: default ServiceAccount not created: %v", ns.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var portForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"}

// PortForwardPod makes port-forwards to every port of the pod reach
// targetAddr ("127.0.0.1:PORT") on this machine, through kwok, which plays
// the pod's kubelet. It stands in for a real container listening in the pod.
func (c *Cluster) PortForwardPod(t testing.TB, namespace, pod, targetAddr string) {
	t.Helper()
	host, port, ok := strings.Cut(targetAddr, ":")
	if !ok {
		t.Fatalf("PortForwardPod: target %q is not host:port", targetAddr)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil {
		t.Fatalf("PortForwardPod: target %q: %v", targetAddr, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "PortForward",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec": map[string]any{"forwards": []any{
			map[string]any{"target": map[string]any{"port": int64(p), "address": host}},
		}},
	}}
	ctx := context.Background()
	if _, err := c.Dynamic.Resource(portForwardGVR).Namespace(namespace).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating kwok PortForward for pod %s/%s: %v", namespace, pod, err)
	}
	t.Cleanup(func() {
		_ = c.Dynamic.Resource(portForwardGVR).Namespace(namespace).Delete(context.Background(), pod, metav1.DeleteOptions{})
	})
}
