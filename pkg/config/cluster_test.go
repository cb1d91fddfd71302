package config

import (
	"context"
	"testing"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestClusterSourceListsOnlyWhatIsAsked(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "other"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}},
	)
	vs := &networkingclient.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}}
	vs.Spec.Hosts = []string{"reviews"}
	istio := istiofake.NewSimpleClientset(vs)
	src := &ClusterSource{Kube: kube, Istio: istio}

	rs, err := src.Load(context.Background(), []Kind{KindService, KindVirtualService}, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Kind != KindService || rs[0].Name != "reviews" || rs[1].VirtualService().Hosts[0] != "reviews" {
		t.Fatalf("got %v", rs)
	}
	if rs[1].Origin.Source != SourceCluster || rs[1].Origin.String() != "cluster" || rs[1].Line("spec.hosts") != 0 {
		t.Errorf("cluster origin = %+v", rs[1].Origin)
	}
	for _, a := range kube.Actions() {
		if a.GetResource().Resource == "secrets" || a.GetNamespace() != "default" {
			t.Errorf("unexpected call %s %s in %q", a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		}
	}

	// Files win over the cluster.
	file, _ := Parse("vs.yaml", []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec: {hosts: [reviews2]}\n"))
	s := NewStoreFrom(file, rs)
	if got := s.Get(KindVirtualService, "default", "reviews").VirtualService().Hosts[0]; got != "reviews2" {
		t.Errorf("file should override cluster, got host %s", got)
	}
}
