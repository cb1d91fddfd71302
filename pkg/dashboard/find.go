package dashboard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// NotInstalledError means no pod matches the target: the addon or control
// plane is not installed in that namespace, or the selector is wrong.
type NotInstalledError struct {
	Target Target
}

func (e *NotInstalledError) Error() string {
	t := e.Target
	if t.Pod != "" {
		return fmt.Sprintf("pod %s not found in namespace %s: list the pods with `kubectl get pods -n %s`, or pass -n",
			t.Pod, t.Namespace, t.Namespace)
	}
	msg := fmt.Sprintf("%s is not installed: no pod in namespace %s matches %s", t.Name, t.Namespace, t.Selector)
	if t.InstallHint != "" {
		return msg + fmt.Sprintf("\n  install it with: %s\n  or, if it is installed elsewhere, pass --mesh-namespace or -l", t.InstallHint)
	}
	return msg + "\n  check the namespace (-n) and the selector (-l)"
}

// NotReadyError means pods exist but none is ready to serve.
type NotReadyError struct {
	Target Target
	Pods   []corev1.Pod
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d pod(s) in namespace %s but none is ready:", e.Target.Name, len(e.Pods), e.Target.Namespace)
	for i := range e.Pods {
		fmt.Fprintf(&b, "\n  %s: %s", e.Pods[i].Name, kube.PodStatusSummary(&e.Pods[i]))
	}
	first := ""
	if len(e.Pods) > 0 {
		first = e.Pods[0].Name
	}
	fmt.Fprintf(&b, "\n  see why with `kubectl -n %s describe pod %s`, then run this again once it is ready", e.Target.Namespace, first)
	return b.String()
}

// NoProxyError means the pods found run no Envoy, so they have no admin page.
type NoProxyError struct {
	Target Target
	Pods   []corev1.Pod
}

func (e *NoProxyError) Error() string {
	names := make([]string, len(e.Pods))
	for i := range e.Pods {
		names[i] = e.Pods[i].Name
	}
	ns := e.Target.Namespace
	return fmt.Sprintf("no Envoy in pod(s) %s of namespace %s: they have no %s sidecar\n"+
		"  inject one: `kubectl label namespace %s %s=%s` and restart the workload, or `meshctl kube-inject`",
		strings.Join(names, ", "), ns, vocab.ProxyContainerName, ns, vocab.NamespaceLabelInjection, vocab.NamespaceInjectionEnabled)
}

// ForbiddenError means the user may not read the pods or open a
// port-forward to them.
type ForbiddenError struct {
	Namespace string
	Err       error
}

func (e *ForbiddenError) Error() string {
	// The websocket transport needs get on pods/portforward, the SPDY
	// fallback create; name both so one Role fixes either.
	return fmt.Sprintf("%v\n  dashboards need to list pods and to get and create pods/portforward in namespace %s: "+
		"check with `kubectl auth can-i get pods/portforward -n %s` and ask a cluster admin for a Role that grants them",
		e.Err, e.Namespace, e.Namespace)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// UnreachableError means the API server did not answer.
type UnreachableError struct {
	Err error
}

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// FindPod returns a ready pod of t, or an error saying why there is none:
// *NotInstalledError, *NotReadyError, *NoProxyError, *ForbiddenError or
// *UnreachableError.
func FindPod(ctx context.Context, client kubernetes.Interface, t Target) (*corev1.Pod, error) {
	var pods []corev1.Pod
	if t.Pod != "" {
		pod, err := client.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, &NotInstalledError{Target: t}
		}
		if err != nil {
			return nil, classify(t.Namespace, err)
		}
		pods = []corev1.Pod{*pod}
	} else {
		for _, sel := range []labels.Selector{t.Selector, t.FallbackSelector} {
			if sel == nil {
				continue
			}
			list, err := client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return nil, classify(t.Namespace, err)
			}
			if len(list.Items) > 0 {
				pods = list.Items
				break
			}
		}
	}
	if len(pods) == 0 {
		return nil, &NotInstalledError{Target: t}
	}
	if t.NeedsProxy {
		var withProxy []corev1.Pod
		for i := range pods {
			if HasProxy(&pods[i]) {
				withProxy = append(withProxy, pods[i])
			}
		}
		if len(withProxy) == 0 {
			return nil, &NoProxyError{Target: t, Pods: pods}
		}
		pods = withProxy
	}
	ready := kube.ReadyPods(pods)
	if len(ready) == 0 {
		return nil, &NotReadyError{Target: t, Pods: pods}
	}
	return ready[0], nil
}

// classify turns a client error into one that says what to do.
func classify(namespace string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || isForbiddenText(err) {
		return &ForbiddenError{Namespace: namespace, Err: err}
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		// No Status from the server: it was never reached (refused, DNS,
		// TLS, timeout).
		return &UnreachableError{Err: err}
	}
	return err
}

// isForbiddenText recognises a refused port-forward upgrade: client-go
// flattens the API server's Status into the text of its upgrade error, so
// the type is lost.
func isForbiddenText(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "forbidden") && strings.Contains(s, "portforward")
}
