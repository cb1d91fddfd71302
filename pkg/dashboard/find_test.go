package dashboard

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// installedPod is a pod labelled as the installer labels component pods.
func installedPod(ns, name, component string, ready bool, extra map[string]string) *corev1.Pod {
	l := map[string]string{
		vocab.LabelPartOf:    vocab.PartOfValue,
		vocab.LabelComponent: component,
		vocab.LabelApp:       component,
	}
	for k, v := range extra {
		l[k] = v
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l, UID: types.UID(name + "-uid")},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0)}},
		},
	}
}

// withProxy adds the sidecar container injection adds.
func withProxy(p *corev1.Pod) *corev1.Pod {
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: vocab.ProxyContainerName})
	return p
}

func grafanaTarget(t *testing.T) Target {
	t.Helper()
	tg, err := AddonTarget(vocab.ComponentGrafana, "mesh-system", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestFindPodPicksReadyPod(t *testing.T) {
	client := fake.NewClientset(
		installedPod("mesh-system", "grafana-1", "grafana", false, nil),
		installedPod("mesh-system", "grafana-2", "grafana", true, nil),
		installedPod("mesh-system", "prometheus-1", "prometheus", true, nil),
		installedPod("other", "grafana-x", "grafana", true, nil),
	)
	pod, err := FindPod(context.Background(), client, grafanaTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "grafana-2" {
		t.Fatalf("FindPod = %s, want the ready pod grafana-2", pod.Name)
	}
}

func TestFindPodSeveralReadyPodsIsStable(t *testing.T) {
	older := installedPod("mesh-system", "grafana-b", "grafana", true, nil)
	newer := installedPod("mesh-system", "grafana-a", "grafana", true, nil)
	newer.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(time.Minute))
	client := fake.NewClientset(newer, older)
	for i := 0; i < 3; i++ {
		pod, err := FindPod(context.Background(), client, grafanaTarget(t))
		if err != nil {
			t.Fatal(err)
		}
		if pod.Name != "grafana-b" {
			t.Fatalf("FindPod = %s, want grafana-b, ready the longest", pod.Name)
		}
	}
}

func TestFindPodNoneReady(t *testing.T) {
	p := installedPod("mesh-system", "grafana-1", "grafana", false, nil)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "grafana", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}},
	}}
	client := fake.NewClientset(p)
	_, err := FindPod(context.Background(), client, grafanaTarget(t))
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want *NotReadyError", err)
	}
	for _, want := range []string{"grafana-1: ImagePullBackOff", "kubectl -n mesh-system describe pod grafana-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFindPodNotInstalled(t *testing.T) {
	client := fake.NewClientset(installedPod("mesh-system", "prometheus-1", "prometheus", true, nil))
	_, err := FindPod(context.Background(), client, grafanaTarget(t))
	var ni *NotInstalledError
	if !errors.As(err, &ni) {
		t.Fatalf("err = %v, want *NotInstalledError", err)
	}
	if !strings.Contains(err.Error(), "meshctl install --set addons.grafana.enabled=true") {
		t.Errorf("error %q does not say how to install grafana", err)
	}
}

func TestFindPodFallsBackToAppLabel(t *testing.T) {
	// Istio's sample addons label their pods app=grafana only.
	upstream := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "grafana-upstream", Namespace: "mesh-system", Labels: map[string]string{"app": "grafana"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	client := fake.NewClientset(upstream)
	pod, err := FindPod(context.Background(), client, grafanaTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "grafana-upstream" {
		t.Fatalf("FindPod = %s", pod.Name)
	}
}

func TestFindPodRevision(t *testing.T) {
	client := fake.NewClientset(
		installedPod("mesh-system", "server-default", vocab.ComponentServer, true, map[string]string{vocab.LabelRevision: "default"}),
		installedPod("mesh-system", "server-canary", vocab.ComponentServer, true, map[string]string{vocab.LabelRevision: "canary"}),
		installedPod("mesh-system", "server-canary-unready", vocab.ComponentServer, false, map[string]string{vocab.LabelRevision: "canary"}),
	)
	for rev, want := range map[string]string{"canary": "server-canary", "default": "server-default"} {
		tg := ServerTarget("server", "mesh-system", "", nil, rev, vocab.ServerMonitoringPort, "/debug")
		pod, err := FindPod(context.Background(), client, tg)
		if err != nil {
			t.Fatalf("revision %s: %v", rev, err)
		}
		if pod.Name != want {
			t.Errorf("revision %s: FindPod = %s, want %s", rev, pod.Name, want)
		}
	}
	tg := ServerTarget("server", "mesh-system", "", nil, "stable", vocab.ServerMonitoringPort, "/debug")
	if _, err := FindPod(context.Background(), client, tg); !errors.As(err, new(*NotInstalledError)) {
		t.Fatalf("unknown revision: err = %v, want *NotInstalledError", err)
	}
}

func TestFindPodByNameAndSelector(t *testing.T) {
	client := fake.NewClientset(
		withProxy(installedPod("shop", "productpage-1", "productpage", true, nil)),
		withProxy(installedPod("shop", "reviews-1", "reviews", false, nil)),
	)
	pod, err := FindPod(context.Background(), client, ProxyAdminTarget("shop", "productpage-1", nil))
	if err != nil || pod.Name != "productpage-1" {
		t.Fatalf("by name: pod %v, err %v", pod, err)
	}
	if _, err := FindPod(context.Background(), client, ProxyAdminTarget("shop", "reviews-1", nil)); !errors.As(err, new(*NotReadyError)) {
		t.Fatalf("unready pod by name: err = %v", err)
	}
	_, err = FindPod(context.Background(), client, ProxyAdminTarget("shop", "nope", nil))
	if !errors.As(err, new(*NotInstalledError)) || !strings.Contains(err.Error(), "pod nope not found in namespace shop") {
		t.Fatalf("missing pod: err = %v", err)
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "productpage"})
	pod, err = FindPod(context.Background(), client, ProxyAdminTarget("shop", "", sel))
	if err != nil || pod.Name != "productpage-1" {
		t.Fatalf("by selector: pod %v, err %v", pod, err)
	}
}

func TestFindPodNeedsProxy(t *testing.T) {
	plain := installedPod("shop", "db-1", "db", true, nil)
	gateway := installedPod("mesh-system", "ingress-1", vocab.ComponentIngressGateway, true, nil)
	istio := installedPod("shop", "legacy-1", "legacy", true, nil)
	istio.Spec.Containers = []corev1.Container{{Name: "app"}, {Name: "istio-proxy"}}
	unready := withProxy(installedPod("shop", "db-2", "db", false, nil))
	client := fake.NewClientset(plain, gateway, istio, unready)

	_, err := FindPod(context.Background(), client, ProxyAdminTarget("shop", "db-1", nil))
	if !errors.As(err, new(*NoProxyError)) || !strings.Contains(err.Error(), "kubectl label namespace shop mesh-injection=enabled") {
		t.Fatalf("pod without sidecar: err = %v", err)
	}
	// Among matching pods only those with a proxy count: db-2 has one but is
	// not ready, so the error is about readiness, not the plain db-1.
	sel := labels.SelectorFromSet(labels.Set{vocab.LabelComponent: "db"})
	_, err = FindPod(context.Background(), client, ProxyAdminTarget("shop", "", sel))
	var nr *NotReadyError
	if !errors.As(err, &nr) || len(nr.Pods) != 1 || nr.Pods[0].Name != "db-2" {
		t.Fatalf("selector with unready proxied pod: err = %v", err)
	}
	for _, c := range []struct{ ns, pod string }{{"mesh-system", "ingress-1"}, {"shop", "legacy-1"}} {
		if _, err := FindPod(context.Background(), client, ProxyAdminTarget(c.ns, c.pod, nil)); err != nil {
			t.Errorf("%s runs Envoy: %v", c.pod, err)
		}
	}
}

func TestFindPodForbiddenAndUnreachable(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("user cannot list"))
	})
	_, err := FindPod(context.Background(), client, grafanaTarget(t))
	if !errors.As(err, new(*ForbiddenError)) || !strings.Contains(err.Error(), "kubectl auth can-i get pods/portforward -n mesh-system") {
		t.Fatalf("forbidden: err = %v", err)
	}

	client = fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	})
	_, err = FindPod(context.Background(), client, grafanaTarget(t))
	if !errors.As(err, new(*UnreachableError)) {
		t.Fatalf("unreachable: err = %v", err)
	}
}

func TestAddonTargetUnknown(t *testing.T) {
	if _, err := AddonTarget("servicegraph", "mesh-system", nil); err == nil {
		t.Fatal("AddonTarget accepted an unknown addon")
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "my-grafana"})
	tg, err := AddonTarget("grafana", "mon", sel)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Selector.String() != "app=my-grafana" || tg.FallbackSelector != nil || tg.Port != 3000 || tg.Namespace != "mon" {
		t.Fatalf("AddonTarget with -l = %+v", tg)
	}
}

// The hint must stay a valid install command: an addon's --set path is owned
// by pkg/profiles and could be renamed there.
func TestAddonInstallHintEnablesTheAddon(t *testing.T) {
	for _, name := range Addons() {
		hint := AddonInstallHint(name)
		set, ok := strings.CutPrefix(hint, "meshctl install --set ")
		if !ok {
			t.Fatalf("hint %q is not `meshctl install --set ...`", hint)
		}
		mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: "minimal", Sets: []string{set}})
		if err != nil {
			t.Fatalf("%s: %v", hint, err)
		}
		addon, ok := mi.Spec.Addons.ByName()[name]
		if !ok || !addon.Enabled {
			t.Errorf("%s does not enable the %s addon", hint, name)
		}
	}
}
