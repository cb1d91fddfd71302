package config_test

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/meshctl/meshctl/internal/fakecustom"
	"github.com/meshctl/meshctl/pkg/config"
)

// The tests of ClusterSource are external: they list through fakecustom,
// which serves config.CustomResources from the fakes' trackers.

func keysOf(rs []*config.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Key().String())
	}
	return out
}

func TestClusterSourceListsOnlyWhatIsAsked(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "other"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}},
	)
	vs := &networkingclient.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}}
	vs.Spec.Hosts = []string{"reviews"}
	istio := istiofake.NewSimpleClientset(vs)
	src := &config.ClusterSource{Kube: kube, Custom: fakecustom.New(istio, nil)}

	rs, err := src.Load(context.Background(), []config.Kind{config.KindService, config.KindVirtualService}, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Kind != config.KindService || rs[0].Name != "reviews" || rs[1].VirtualService().Hosts[0] != "reviews" {
		t.Fatalf("got %v", rs)
	}
	if rs[1].Origin.Source != config.SourceCluster || rs[1].Origin.String() != "cluster" || rs[1].Line("spec.hosts") != 0 {
		t.Errorf("cluster origin = %+v", rs[1].Origin)
	}
	for _, a := range kube.Actions() {
		if a.GetResource().Resource == "secrets" || a.GetNamespace() != "default" {
			t.Errorf("unexpected call %s %s in %q", a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		}
	}

	// Files win over the cluster.
	file, _ := config.Parse("vs.yaml", []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec: {hosts: [reviews2]}\n"))
	s := config.NewStoreFrom(file, rs)
	if got := s.Get(config.KindVirtualService, "default", "reviews").VirtualService().Hosts[0]; got != "reviews2" {
		t.Errorf("file should override cluster, got host %s", got)
	}
}

func TestInformerKeepsLiveStoreInStep(t *testing.T) {
	kube := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}})
	vs := &networkingclient.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}}
	vs.Spec.Hosts = []string{"reviews"}
	istio := istiofake.NewSimpleClientset(vs)
	src := &config.ClusterSource{Kube: kube, Custom: fakecustom.New(istio, nil)}
	l := config.NewLiveStore()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, k := range []config.Kind{config.KindService, config.KindVirtualService} {
		inf, err := src.Informer(k, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inf.AddEventHandler(l.Handler(func(err error) { t.Error(err) })); err != nil {
			t.Fatal(err)
		}
		go inf.Run(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			t.Fatal("no sync")
		}
	}
	waitFor := func(what string, ok func(*config.Snapshot) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(l.Snapshot()) {
			if time.Now().After(deadline) {
				t.Fatalf("store never got %s: %v", what, keysOf(l.Snapshot().All()))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the listed objects", func(s *config.Snapshot) bool {
		v := s.Get(config.KindVirtualService, "default", "reviews")
		return s.Len() == 2 && v != nil && v.VirtualService().Hosts[0] == "reviews"
	})
	if err := kube.CoreV1().Services("default").Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Services("x").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the delete and the add", func(s *config.Snapshot) bool {
		return s.Get(config.KindService, "default", "reviews") == nil && s.Get(config.KindService, "x", "new") != nil
	})
	keys := []string{}
	for _, r := range l.Snapshot().All() {
		keys = append(keys, r.Key().String())
	}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, []string{"Service x/new", "VirtualService default/reviews"}) {
		t.Errorf("store holds %v", keys)
	}
}

func TestClusterSourceListsGatewayAPIKinds(t *testing.T) {
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "infra"},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: "istio"}}
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"}}
	other := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "other"}}
	// The fake's tracker files objects given to its constructor under a
	// version it guesses; created through the typed client they are v1.
	c := gatewayfake.NewSimpleClientset()
	ctx := context.Background()
	if _, err := c.GatewayV1().Gateways("infra").Create(ctx, gw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*gatewayv1.HTTPRoute{route, other} {
		if _, err := c.GatewayV1().HTTPRoutes(r.Namespace).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	src := &config.ClusterSource{Custom: fakecustom.New(nil, c)}
	rs, err := src.Load(context.Background(), []config.Kind{config.KindKubernetesGateway, config.KindHTTPRoute}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Kind != config.KindKubernetesGateway || rs[0].KubernetesGateway().Spec.GatewayClassName != "istio" ||
		rs[1].HTTPRoute() == nil || rs[0].APIVersion != "gateway.networking.k8s.io/v1" {
		t.Fatalf("listed %v", rs)
	}
	rs, err = src.Load(context.Background(), []config.Kind{config.KindHTTPRoute}, "default")
	if err != nil || len(rs) != 1 || rs[0].Name != "reviews" {
		t.Fatalf("listing one namespace: %v, %v", rs, err)
	}
	if _, err := (&config.ClusterSource{}).Load(context.Background(), []config.Kind{config.KindHTTPRoute}, ""); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Errorf("without a gateway client: %v", err)
	}
	if _, err := src.Load(context.Background(), []config.Kind{config.KindService}, ""); err == nil {
		t.Error("a core kind was listed without a kube client")
	}
}
