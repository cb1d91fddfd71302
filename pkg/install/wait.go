package install

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Status is whether one installed object exists and is ready, and why not.
type Status struct {
	Ref       string `json:"object"`
	Component string `json:"component"`
	Exists    bool   `json:"exists"`
	Ready     bool   `json:"ready"`
	// Reason says what is missing when not ready ("pod x: Pending:
	// Unschedulable: 0/1 nodes are available ...").
	Reason string `json:"reason,omitempty"`
	// resourceVersion of the object this status was read from.
	resourceVersion string
}

// NotReadyError lists every object that did not become ready in time, each
// with its reason, rather than a bare "timed out".
type NotReadyError struct {
	Timeout  bool
	NotReady []Status
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	if e.Timeout {
		b.WriteString("timed out waiting for readiness")
	} else {
		b.WriteString("not ready")
	}
	b.WriteString(" (increase --timeout if the cluster is just slow):")
	for _, s := range e.NotReady {
		fmt.Fprintf(&b, "\n  %s: %s", s.Ref, s.Reason)
	}
	return b.String()
}

// waitReady waits until every object is ready, checking them concurrently,
// and returns the resourceVersion at which each was seen ready.
func waitReady(ctx context.Context, c Clients, objs []*unstructured.Unstructured, deadline time.Time, poll time.Duration) ([]string, error) {
	rvs := make([]string, len(objs))
	pending := make([]int, len(objs))
	for i := range objs {
		pending[i] = i
	}
	for len(pending) > 0 {
		sts := make([]Status, len(pending))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(maxInFlight)
		for j, i := range pending {
			g.Go(func() error {
				var err error
				sts[j], err = ObjectStatus(gctx, c, objs[i])
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var still []int
		var notReady []Status
		for j, st := range sts {
			if st.Ready {
				rvs[pending[j]] = st.resourceVersion
				continue
			}
			still = append(still, pending[j])
			notReady = append(notReady, st)
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if !time.Now().Before(deadline) {
			return nil, &NotReadyError{Timeout: true, NotReady: notReady}
		}
		t := time.NewTimer(min(poll, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return rvs, nil
}

// ObjectStatus reports whether the live counterpart of a rendered object
// exists and is ready.
func ObjectStatus(ctx context.Context, c Clients, obj *unstructured.Unstructured) (Status, error) {
	st := Status{Ref: Ref(obj), Component: obj.GetLabels()[vocab.LabelComponent]}
	ri, err := resourceFor(c, obj)
	if err != nil {
		st.Reason = err.Error()
		return st, nil
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		st.Reason = "not found"
		return st, nil
	}
	if err != nil {
		return st, explain(err, st.Ref)
	}
	return statusOf(ctx, c, obj, live), nil
}

// readyAsApplied tells whether the object the apply returned was ready
// then, without asking the cluster why not.
func readyAsApplied(obj, applied *unstructured.Unstructured) bool {
	switch obj.GetKind() {
	case "CustomResourceDefinition":
		ok, _ := conditionTrue(applied, "Established", "")
		return ok
	case "Deployment":
		return deploymentIsReady(applied)
	}
	return true
}

// statusOf is the status of obj given its live counterpart.
func statusOf(ctx context.Context, c Clients, obj, live *unstructured.Unstructured) Status {
	st := Status{Ref: Ref(obj), Component: obj.GetLabels()[vocab.LabelComponent], Exists: true, resourceVersion: live.GetResourceVersion()}
	switch obj.GetKind() {
	case "CustomResourceDefinition":
		st.Ready, st.Reason = conditionTrue(live, "Established", "CRD not Established")
	case "Deployment":
		st.Ready, st.Reason = deploymentReady(ctx, c, live)
	default:
		st.Ready = true
	}
	return st
}

func conditionTrue(u *unstructured.Unstructured, condType, what string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == condType {
			if m["status"] == "True" {
				return true, ""
			}
			return false, fmt.Sprintf("%s: %v", what, m["message"])
		}
	}
	return false, what + " yet"
}

func deploymentIsReady(live *unstructured.Unstructured) bool {
	ok, _, _, _, _ := deploymentCounts(live)
	return ok
}

// deploymentCounts reports whether the Deployment has rolled out its latest
// spec and its ready, wanted, total and updated replicas.
func deploymentCounts(live *unstructured.Unstructured) (bool, int64, int64, int64, int64) {
	gen := live.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
	want, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	if !found {
		want = 1
	}
	updated, _, _ := unstructured.NestedInt64(live.Object, "status", "updatedReplicas")
	ready, _, _ := unstructured.NestedInt64(live.Object, "status", "readyReplicas")
	available, _, _ := unstructured.NestedInt64(live.Object, "status", "availableReplicas")
	total, _, _ := unstructured.NestedInt64(live.Object, "status", "replicas")
	return observed >= gen && updated >= want && available >= want && ready >= want && total <= want, ready, want, total, updated
}

func deploymentReady(ctx context.Context, c Clients, live *unstructured.Unstructured) (bool, string) {
	ok, ready, want, total, updated := deploymentCounts(live)
	if ok {
		return true, ""
	}
	gen := live.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
	summary := fmt.Sprintf("%d/%d replicas ready", ready, want)
	if observed < gen {
		summary = "the deployment controller has not seen the latest spec yet"
	} else if total > want {
		summary = fmt.Sprintf("rolling out: %d old replica(s) still running", total-updated)
	}
	if why := podReasons(ctx, c, live); why != "" {
		summary += ": " + why
	}
	return false, summary
}

// podReasons explains why a Deployment's pods are not ready: unschedulable,
// containers waiting (image pull, crash loop) or running but not ready.
func podReasons(ctx context.Context, c Clients, dep *unstructured.Unstructured) string {
	sel, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 {
		return ""
	}
	pods, err := c.Kube.CoreV1().Pods(dep.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return ""
	}
	if len(pods.Items) == 0 {
		return "no pods created yet (check `kubectl get events -n " + dep.GetNamespace() + "` for quota or admission errors)"
	}
	var reasons []string
	for _, p := range pods.Items {
		if r := podReason(&p); r != "" {
			reasons = append(reasons, "pod "+p.Name+": "+r)
		}
	}
	sort.Strings(reasons)
	if len(reasons) > 3 {
		reasons = append(reasons[:3], fmt.Sprintf("and %d more", len(reasons)-3))
	}
	return strings.Join(reasons, "; ")
}

func podReason(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Pending: %s: %s", c.Reason, c.Message)
		}
	}
	if p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) == 0 {
		return "Pending: containers not started yet"
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil:
			return fmt.Sprintf("container %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			return fmt.Sprintf("container %s terminated: %s (exit code %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		case cs.State.Running != nil && !cs.Ready:
			return fmt.Sprintf("container %s is running but not Ready (readiness probe failing)", cs.Name)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("%s: not Ready: %s %s", p.Status.Phase, c.Reason, c.Message)
		}
	}
	return ""
}
