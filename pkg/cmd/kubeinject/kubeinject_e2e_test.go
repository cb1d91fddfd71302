//go:build e2e

package kubeinject

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// TestBookinfoFromInstalledConfig reads the injection config from a mesh
// ConfigMap in the cluster, injects bookinfo, and creates the result: the
// API server accepts every injected object and the pods run with the sidecar.
func TestBookinfoFromInstalledConfig(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	meshNS := c.NewNamespace(t, nil)
	appNS := c.NewNamespace(t, nil)

	cfg := inject.DefaultConfig()
	cfg.ProxyImage = "registry.test/proxy:e2e"
	cfg.DiscoveryAddress = "meshctl-server." + meshNS + ".svc:15012"
	if _, err := c.Client.CoreV1().ConfigMaps(meshNS).Create(ctx, meshConfigMap(meshNS, vocab.MeshConfigMapName(""), cfg), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, appNS)
	f.MeshNamespace = meshNS
	cmd := NewCmdKubeInject(f)
	cmd.SetArgs([]string{"-f", bookinfo})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut.String(), "configmap "+meshNS+"/mesh in the cluster") {
		t.Errorf("the config source was not announced:\n%s", errOut)
	}

	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out.Bytes()), 4096)
	created := 0
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvk := u.GroupVersionKind()
		resource := strings.ToLower(gvk.Kind) + "s"
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource}
		if _, err := dyn.Resource(gvr).Namespace(appNS).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the API server rejected injected %s %s: %v", gvk.Kind, u.GetName(), err)
		}
		created++
	}
	if created != 14 {
		t.Errorf("created %d objects, want 14", created)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := c.Client.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{LabelSelector: "app=reviews,version=v2"})
		if err == nil && len(pods.Items) > 0 && pods.Items[0].Status.Phase == corev1.PodRunning {
			p := pods.Items[0]
			var proxy *corev1.Container
			for i := range p.Spec.Containers {
				if p.Spec.Containers[i].Name == vocab.ProxyContainerName {
					proxy = &p.Spec.Containers[i]
				}
			}
			if proxy == nil || proxy.Image != "registry.test/proxy:e2e" {
				t.Fatalf("running reviews-v2 pod has no proxy from the cluster's config: %+v", p.Spec.Containers)
			}
			if len(p.Spec.InitContainers) == 0 || p.Spec.InitContainers[0].Name != vocab.InitContainerName {
				t.Errorf("mesh-init is not the first init container: %+v", p.Spec.InitContainers)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reviews-v2 pod not running after 2 minutes (err %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestNativeSidecarJobAccepted injects a Job as a native sidecar and creates
// it: the API server accepts the restartPolicy Always init container, placed
// before the app's own init container.
func TestNativeSidecarJobAccepted(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	ns := c.NewNamespace(t, nil)

	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, ns)
	cmd := NewCmdKubeInject(f)
	cmd.SetArgs([]string{"-f", "../../../testdata/inject/native.yaml", "--profile", "default"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var u unstructured.Unstructured
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out.Bytes()), 4096).Decode(&u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}).Namespace(ns).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the API server rejected the injected Job: %v", err)
	}
	job, err := c.Client.BatchV1().Jobs(ns).Get(ctx, "batch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inits := job.Spec.Template.Spec.InitContainers
	if len(inits) != 3 || inits[0].Name != vocab.InitContainerName || inits[1].Name != vocab.ProxyContainerName || inits[2].Name != "fetch" ||
		inits[1].RestartPolicy == nil || *inits[1].RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("stored init containers: %+v", inits)
	}
}
