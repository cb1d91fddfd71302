package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase corev1.PodPhase, ready bool, since time.Time) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Status: corev1.PodStatus{
			Phase: phase,
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since),
			}},
		},
	}
}

func TestIsPodReady(t *testing.T) {
	now := time.Now()
	terminating := pod("t", corev1.PodRunning, true, now)
	terminating.DeletionTimestamp = &metav1.Time{Time: now}
	noCondition := pod("n", corev1.PodRunning, true, now)
	noCondition.Status.Conditions = nil
	cases := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"running and ready", pod("a", corev1.PodRunning, true, now), true},
		{"running, not ready", pod("b", corev1.PodRunning, false, now), false},
		{"pending", pod("c", corev1.PodPending, true, now), false},
		{"terminating", terminating, false},
		{"no ready condition", noCondition, false},
	}
	for _, c := range cases {
		if got := IsPodReady(&c.pod); got != c.want {
			t.Errorf("%s: IsPodReady = %v, want %v", c.name, got, c.want)
		}
	}
	if IsPodReady(nil) {
		t.Error("IsPodReady(nil) = true")
	}
}

func TestReadyPodsOrder(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	unknown := pod("unknown-since", corev1.PodRunning, true, time.Time{})
	pods := []corev1.Pod{
		pod("new", corev1.PodRunning, true, base.Add(time.Hour)),
		pod("not-ready", corev1.PodRunning, false, base.Add(-time.Hour)),
		unknown,
		pod("old-b", corev1.PodRunning, true, base),
		pod("old-a", corev1.PodRunning, true, base),
	}
	got := ReadyPods(pods)
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	want := []string{"old-a", "old-b", "new", "unknown-since"}
	if len(names) != len(want) {
		t.Fatalf("ReadyPods = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("ReadyPods = %v, want %v", names, want)
		}
	}
}

func TestPodStatusSummary(t *testing.T) {
	now := time.Now()
	crash := pod("crash", corev1.PodRunning, false, now)
	crash.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "grafana", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
	}}
	notReady := pod("nr", corev1.PodRunning, false, now)
	notReady.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "grafana"}, {Name: "sidecar", Ready: true}}
	terminating := pod("t", corev1.PodRunning, true, now)
	terminating.DeletionTimestamp = &metav1.Time{Time: now}
	pending := pod("p", "", false, now)
	cases := map[string]struct {
		pod  corev1.Pod
		want string
	}{
		"crash":       {crash, "CrashLoopBackOff"},
		"not ready":   {notReady, "Running, not ready: grafana"},
		"terminating": {terminating, "Terminating"},
		"pending":     {pending, "Pending"},
	}
	for name, c := range cases {
		if got := PodStatusSummary(&c.pod); got != c.want {
			t.Errorf("%s: PodStatusSummary = %q, want %q", name, got, c.want)
		}
	}
}
