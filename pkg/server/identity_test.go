package server

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func TestWatchInjectConfigFollowsTheMeshConfigMap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset()
	get, notFound, err := WatchInjectConfig(ctx, client, "mesh-system", "canary", nil)
	if err != nil || !notFound || get().Revision != "canary" || get().ProxyImage != inject.DefaultConfig().ProxyImage {
		t.Fatalf("without a ConfigMap: notFound=%v err=%v", notFound, err)
	}
	cfg := inject.DefaultConfig()
	cfg.Revision, cfg.ProxyImage = "canary", "example.test/proxy:new"
	b, _ := yaml.Marshal(cfg)
	if _, err := client.CoreV1().ConfigMaps("mesh-system").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: vocab.MeshConfigMapName("canary"), Namespace: "mesh-system"},
		Data:       map[string]string{vocab.ConfigMapKeyInject: string(b)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get().ProxyImage != "example.test/proxy:new" {
		if time.Now().After(deadline) {
			t.Fatalf("config not followed: %s", get().ProxyImage)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
