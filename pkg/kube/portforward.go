package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/go-logr/logr"

	"k8s.io/apimachinery/pkg/util/httpstream"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
)

// ErrLostConnection is matched (errors.Is) by the error ForwardPort returns
// when the tunnel to the pod closes while forwarding: the pod went away, the
// API server or kubelet dropped the stream, or a forwarded connection failed
// on the pod side.
var ErrLostConnection = portforward.ErrLostConnectionToPod

// LostConnectionError is a tunnel that closed while forwarding, with the
// last failure the forwarder saw, which usually says why.
type LostConnectionError struct {
	Namespace, Pod string
	Cause          error
}

func (e *LostConnectionError) Error() string {
	msg := fmt.Sprintf("lost the connection to pod %s/%s", e.Namespace, e.Pod)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *LostConnectionError) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrLostConnection) true.
func (e *LostConnectionError) Is(target error) bool { return target == ErrLostConnection }

// PortForward is one forwarding session from local addresses to a pod port.
type PortForward struct {
	Namespace string
	Pod       string
	// Addresses to listen on locally; "localhost" listens on both 127.0.0.1
	// and ::1, as kubectl port-forward does. Empty means localhost.
	Addresses []string
	// LocalPort 0 picks a free port; ready receives the one chosen.
	LocalPort  int
	RemotePort int
}

// NewPortForwardDialer returns the dialer kubectl uses for pods/portforward:
// SPDY tunnelled over a websocket, falling back to plain SPDY when the API
// server (older than 1.30, or behind a proxy that drops the upgrade) refuses
// the websocket upgrade.
func NewPortForwardDialer(cfg *rest.Config, namespace, pod string) (httpstream.Dialer, error) {
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	u := core.RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// ForwardPort forwards pf until ctx is done, when it closes its listeners
// and returns nil. It calls ready once with the bound local port as soon as
// connections are accepted. It returns an error wrapping ErrLostConnection
// when the tunnel closes under it, or the reason it could not start.
func ForwardPort(ctx context.Context, cfg *rest.Config, pf PortForward, ready func(localPort int)) error {
	dialer, err := NewPortForwardDialer(cfg, pf.Namespace, pf.Pod)
	if err != nil {
		return err
	}
	return forwardWithDialer(ctx, dialer, pf, ready)
}

func forwardWithDialer(ctx context.Context, dialer httpstream.Dialer, pf PortForward, ready func(localPort int)) error {
	addresses := pf.Addresses
	if len(addresses) == 0 {
		addresses = []string{"localhost"}
	}
	// client-go reports failures of single connections (the pod refused the
	// port, a stream broke) through the context's logger, which is klog on
	// stderr by default. Keep them instead, to say why a tunnel was lost.
	rec := &errorRecorder{}
	ctx = klog.NewContext(ctx, logr.New(rec))
	readyCh := make(chan struct{})
	ports := []string{strconv.Itoa(pf.LocalPort) + ":" + strconv.Itoa(pf.RemotePort)}
	// The forwarder's own progress lines ("Forwarding from ...", "Handling
	// connection ...") are kubectl's UI; callers report in their own words.
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, addresses, ports, readyCh, io.Discard, io.Discard)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()

	select {
	case err := <-done:
		return describeForwardError(ctx, pf, err, rec.lastError())
	case <-readyCh:
	}
	bound, err := fw.GetPorts()
	if err != nil || len(bound) == 0 {
		fw.Close()
		<-done
		return fmt.Errorf("port-forward to pod %s/%s started without a local port: %v", pf.Namespace, pf.Pod, err)
	}
	if ready != nil {
		ready(int(bound[0].Local))
	}
	err = <-done
	return describeForwardError(ctx, pf, err, rec.lastError())
}

func describeForwardError(ctx context.Context, pf PortForward, err, last error) error {
	switch {
	case ctx.Err() != nil:
		return nil
	case err == nil:
		// ForwardPorts returns nil only when stopped, which only ctx does.
		return nil
	case errors.Is(err, portforward.ErrLostConnectionToPod):
		return &LostConnectionError{Namespace: pf.Namespace, Pod: pf.Pod, Cause: last}
	}
	return fmt.Errorf("port-forward to pod %s/%s port %d: %w", pf.Namespace, pf.Pod, pf.RemotePort, err)
}

// errorRecorder is a logr sink that keeps the last error logged through it.
type errorRecorder struct {
	mu   sync.Mutex
	last error
}

func (r *errorRecorder) Init(logr.RuntimeInfo)          {}
func (r *errorRecorder) Enabled(int) bool               { return false }
func (r *errorRecorder) Info(int, string, ...any)       {}
func (r *errorRecorder) WithValues(...any) logr.LogSink { return r }
func (r *errorRecorder) WithName(string) logr.LogSink   { return r }

func (r *errorRecorder) Error(err error, msg string, _ ...any) {
	if err == nil {
		err = errors.New(msg)
	}
	r.mu.Lock()
	r.last = err
	r.mu.Unlock()
}

func (r *errorRecorder) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
