package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/kube"
)

// EventType says what happened to a forwarding session.
type EventType int

const (
	// EventReady: the local port accepts connections; Event.URL is set.
	EventReady EventType = iota
	// EventLost: the pod went away or the tunnel dropped; a ready pod is
	// being looked for.
	EventLost
	// EventReconnected: forwarding resumed, to Event.Pod, on the same URL.
	EventReconnected
)

// Event reports progress of Forwarder.Run to its caller.
type Event struct {
	Type EventType
	Pod  string
	URL  string
	Err  error
}

// ForwardFunc forwards one session; kube.ForwardPort in production.
type ForwardFunc func(ctx context.Context, cfg *rest.Config, pf kube.PortForward, ready func(localPort int)) error

// Forwarder keeps a local port forwarded to a ready pod of a Target.
type Forwarder struct {
	Client kubernetes.Interface
	Config *rest.Config
	Target Target
	// Address is the local address to listen on; empty means localhost.
	Address string
	// LocalPort 0 picks a free port.
	LocalPort int
	// OnEvent receives progress; it is called from Run's goroutine.
	OnEvent func(Event)
	// PollInterval is how often the forwarded pod is checked, and how long
	// to wait between looks for a ready pod after a loss. Default 1s.
	PollInterval time.Duration
	// Forward defaults to kube.ForwardPort; tests replace it.
	Forward ForwardFunc
}

// podChangedError is the cause of a session stopped by the pod watcher.
type podChangedError struct{ reason string }

func (e *podChangedError) Error() string { return e.reason }

// Run finds a ready pod, forwards to it and blocks until ctx is cancelled,
// reconnecting to a ready pod whenever the one in use goes away or the
// tunnel drops. Failures before the first connection are returned (see
// FindPod for their types); after it, Run only returns nil on cancellation
// or an error when the pod it was told to use by name is deleted.
func (f *Forwarder) Run(ctx context.Context) error {
	forward := f.Forward
	if forward == nil {
		forward = kube.ForwardPort
	}
	pod, err := FindPod(ctx, f.Client, f.Target)
	if err != nil {
		return err
	}
	localPort := f.LocalPort
	established, lostReported := false, false
	for {
		sessCtx, cancel := context.WithCancelCause(ctx)
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			f.watchPod(sessCtx, cancel, pod)
		}()
		podName := pod.Name
		sessionReady := false
		err := forward(sessCtx, f.Config, kube.PortForward{
			Namespace:  pod.Namespace,
			Pod:        podName,
			Addresses:  []string{f.address()},
			LocalPort:  localPort,
			RemotePort: f.Target.Port,
		}, func(bound int) {
			// Later sessions reuse the bound port so the URL stays valid.
			localPort = bound
			sessionReady, lostReported = true, false
			typ := EventReady
			if established {
				typ = EventReconnected
			}
			established = true
			f.emit(Event{Type: typ, Pod: podName, URL: f.url(bound)})
		})
		cause := context.Cause(sessCtx)
		cancel(nil)
		<-watchDone
		if ctx.Err() != nil {
			return nil
		}
		var changed *podChangedError
		if errors.As(cause, &changed) {
			err = changed
		}
		if !established {
			return f.startError(err)
		}
		if err == nil {
			err = errors.New("the port-forward stopped")
		}
		if !lostReported {
			f.emit(Event{Type: EventLost, Pod: podName, Err: err})
			lostReported = true
		}
		// A session that failed to start would fail again at once if retried
		// without a pause.
		if !sessionReady && !f.sleep(ctx) {
			return nil
		}
		pod, err = f.waitForReadyPod(ctx)
		if err != nil || pod == nil {
			return err
		}
	}
}

// sleep waits one poll interval; false means ctx was cancelled.
func (f *Forwarder) sleep(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(f.interval()):
		return true
	}
}

// startError explains why the very first port-forward failed.
func (f *Forwarder) startError(err error) error {
	if err == nil {
		err = errors.New("the port-forward stopped before it was ready")
	}
	// client-go reports a busy port as text only.
	if strings.Contains(err.Error(), "unable to listen on any of the requested ports") {
		return fmt.Errorf("cannot listen on %s: %w\n  choose another local port with --port (0 picks a free one)",
			net.JoinHostPort(f.address(), strconv.Itoa(f.LocalPort)), err)
	}
	return classify(f.Target.Namespace, err)
}

// waitForReadyPod polls until a ready pod of the target exists. It returns
// nil, nil when ctx is cancelled, and an error only when waiting is
// pointless: the pod asked for by name was deleted.
func (f *Forwarder) waitForReadyPod(ctx context.Context) (*corev1.Pod, error) {
	for {
		pod, err := FindPod(ctx, f.Client, f.Target)
		if err == nil {
			return pod, nil
		}
		var notFound *NotInstalledError
		if f.Target.Pod != "" && errors.As(err, &notFound) {
			return nil, fmt.Errorf("pod %s/%s was deleted: run again with -l to follow its replacement", f.Target.Namespace, f.Target.Pod)
		}
		if !f.sleep(ctx) {
			return nil, nil
		}
	}
}

// watchPod stops the session when its pod is deleted, replaced or no longer
// ready. Without it a forward to a dead pod would look healthy until the
// next browser request failed.
func (f *Forwarder) watchPod(ctx context.Context, stop context.CancelCauseFunc, pod *corev1.Pod) {
	t := time.NewTicker(f.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := f.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			stop(&podChangedError{fmt.Sprintf("pod %s/%s was deleted", pod.Namespace, pod.Name)})
			return
		case err != nil:
			// The API server being briefly unreachable does not break the
			// tunnel that is already open; check again later.
			continue
		case cur.UID != pod.UID:
			stop(&podChangedError{fmt.Sprintf("pod %s/%s was replaced", pod.Namespace, pod.Name)})
			return
		case !kube.IsPodReady(cur):
			stop(&podChangedError{fmt.Sprintf("pod %s/%s is no longer ready (%s)", pod.Namespace, pod.Name, kube.PodStatusSummary(cur))})
			return
		}
	}
}

func (f *Forwarder) emit(e Event) {
	if f.OnEvent != nil {
		f.OnEvent(e)
	}
}

func (f *Forwarder) interval() time.Duration {
	if f.PollInterval > 0 {
		return f.PollInterval
	}
	return time.Second
}

func (f *Forwarder) address() string {
	if f.Address == "" {
		return "localhost"
	}
	return f.Address
}

// url is where a browser reaches the forwarded page. A wildcard listen
// address is not something to browse to, so it shows as localhost.
func (f *Forwarder) url(port int) string {
	host := f.address()
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	path := f.Target.Path
	if path == "" {
		path = "/"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
}

// LocalPortFor returns the port to listen on: want, or when want is busy
// and fallback is allowed, 0 so that a free port is chosen.
func LocalPortFor(address string, want int, fallback bool) int {
	if want == 0 || !fallback {
		return want
	}
	if address == "" {
		address = "localhost"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(want)))
	if err != nil {
		return 0
	}
	_ = l.Close()
	return want
}
