// Package kube holds small Kubernetes client helpers that several meshctl
// capabilities share: choosing a ready pod and port-forwarding to it.
package kube

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// IsPodReady reports whether pod can serve traffic now: Running, its Ready
// condition true and not being deleted. A terminating pod may still report
// Ready for its grace period, but a new connection to it would soon break.
func IsPodReady(pod *corev1.Pod) bool {
	if pod == nil || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ReadyPods returns the ready pods of pods, most stable first: the one ready
// the longest leads, so that repeated calls keep choosing the same pod rather
// than one that has only just started. Ties are broken by name so the choice
// is deterministic.
func ReadyPods(pods []corev1.Pod) []*corev1.Pod {
	var ready []*corev1.Pod
	for i := range pods {
		if IsPodReady(&pods[i]) {
			ready = append(ready, &pods[i])
		}
	}
	sort.SliceStable(ready, func(i, j int) bool {
		ti, tj := readySince(ready[i]), readySince(ready[j])
		switch {
		case ti.IsZero() != tj.IsZero():
			return !ti.IsZero()
		case !ti.Equal(tj):
			return ti.Before(tj)
		}
		return ready[i].Name < ready[j].Name
	})
	return ready
}

// readySince is when pod last became ready, zero when unknown; such pods sort
// last since nothing says they have been stable.
func readySince(pod *corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// PodStatusSummary describes why a pod is not ready in the words kubectl get
// pods uses (Pending, CrashLoopBackOff, Terminating, ...), for error messages.
func PodStatusSummary(pod *corev1.Pod) string {
	if pod.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := cs.State.Terminated; t != nil && t.Reason != "" && pod.Status.Phase != corev1.PodSucceeded {
			return t.Reason
		}
	}
	if pod.Status.Phase == corev1.PodRunning {
		var notReady []string
		for _, cs := range pod.Status.ContainerStatuses {
			if !cs.Ready {
				notReady = append(notReady, cs.Name)
			}
		}
		if len(notReady) > 0 {
			return fmt.Sprintf("Running, not ready: %s", strings.Join(notReady, ", "))
		}
		return "Running, not ready"
	}
	if pod.Status.Reason != "" {
		return pod.Status.Reason
	}
	if pod.Status.Phase == "" {
		return "Pending"
	}
	return string(pod.Status.Phase)
}
