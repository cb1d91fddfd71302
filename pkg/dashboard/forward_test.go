package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/kube"
)

// fakeForward records each session and stays up until its context ends or
// the test drops it.
type fakeForward struct {
	sessions chan kube.PortForward
	drop     chan error
	bound    int
}

func newFakeForward(bound int) *fakeForward {
	return &fakeForward{sessions: make(chan kube.PortForward, 10), drop: make(chan error), bound: bound}
}

func (f *fakeForward) forward(ctx context.Context, _ *rest.Config, pf kube.PortForward, ready func(int)) error {
	f.sessions <- pf
	port := pf.LocalPort
	if port == 0 {
		port = f.bound
	}
	ready(port)
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.drop:
		return err
	}
}

func runForwarder(t *testing.T, fw *Forwarder) (events chan Event, cancel func() error) {
	t.Helper()
	events = make(chan Event, 10)
	fw.OnEvent = func(e Event) { events <- e }
	fw.PollInterval = 10 * time.Millisecond
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	t.Cleanup(stop)
	return events, func() error { stop(); return <-done }
}

func next(t *testing.T, events chan Event, want EventType) Event {
	t.Helper()
	select {
	case e := <-events:
		if e.Type != want {
			t.Fatalf("event %+v, want type %d", e, want)
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatalf("no event of type %d", want)
	}
	return Event{}
}

func TestForwarderReadyAndCancel(t *testing.T) {
	client := fake.NewClientset(installedPod("mesh-system", "kiali-1", "kiali", true, nil))
	ff := newFakeForward(41234)
	tg, _ := AddonTarget("kiali", "mesh-system", nil)
	events, cancel := runForwarder(t, &Forwarder{Client: client, Target: tg, Address: "0.0.0.0", Forward: ff.forward})
	e := next(t, events, EventReady)
	if e.URL != "http://localhost:41234/kiali" || e.Pod != "kiali-1" {
		t.Fatalf("ready event %+v", e)
	}
	pf := <-ff.sessions
	if pf.Pod != "kiali-1" || pf.Namespace != "mesh-system" || pf.RemotePort != 20001 || pf.LocalPort != 0 || pf.Addresses[0] != "0.0.0.0" {
		t.Fatalf("session %+v", pf)
	}
	if err := cancel(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestForwarderReconnectsAfterPodReplaced(t *testing.T) {
	client := fake.NewClientset(installedPod("mesh-system", "grafana-1", "grafana", true, nil))
	ff := newFakeForward(43000)
	events, cancel := runForwarder(t, &Forwarder{Client: client, Target: grafanaTarget(t), Forward: ff.forward})
	ready := next(t, events, EventReady)
	<-ff.sessions

	ctx := context.Background()
	if err := client.CoreV1().Pods("mesh-system").Delete(ctx, "grafana-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	lost := next(t, events, EventLost)
	if lost.Pod != "grafana-1" || !strings.Contains(lost.Err.Error(), "grafana-1 was deleted") {
		t.Fatalf("lost event %+v", lost)
	}
	if _, err := client.CoreV1().Pods("mesh-system").Create(ctx, installedPod("mesh-system", "grafana-2", "grafana", true, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	again := next(t, events, EventReconnected)
	if again.Pod != "grafana-2" || again.URL != ready.URL {
		t.Fatalf("reconnected event %+v, want grafana-2 on %s", again, ready.URL)
	}
	if pf := <-ff.sessions; pf.LocalPort != 43000 {
		t.Fatalf("reconnect listened on port %d, want the first session's 43000", pf.LocalPort)
	}
	if err := cancel(); err != nil {
		t.Fatal(err)
	}
}

func TestForwarderReconnectsAfterTunnelDrop(t *testing.T) {
	client := fake.NewClientset(installedPod("mesh-system", "jaeger-1", "jaeger", true, nil))
	ff := newFakeForward(16686)
	tg, _ := AddonTarget("jaeger", "mesh-system", nil)
	events, cancel := runForwarder(t, &Forwarder{Client: client, Target: tg, Forward: ff.forward})
	next(t, events, EventReady)
	<-ff.sessions
	ff.drop <- fmt.Errorf("lost: %w", kube.ErrLostConnection)
	if lost := next(t, events, EventLost); !errors.Is(lost.Err, kube.ErrLostConnection) {
		t.Fatalf("lost event %+v", lost)
	}
	if e := next(t, events, EventReconnected); e.Pod != "jaeger-1" {
		t.Fatalf("reconnected to %s", e.Pod)
	}
	if err := cancel(); err != nil {
		t.Fatal(err)
	}
}

func TestForwarderNamedPodDeletedStops(t *testing.T) {
	client := fake.NewClientset(withProxy(installedPod("shop", "productpage-1", "productpage", true, nil)))
	ff := newFakeForward(15000)
	events, cancel := runForwarder(t, &Forwarder{Client: client, Target: ProxyAdminTarget("shop", "productpage-1", nil), Forward: ff.forward})
	next(t, events, EventReady)
	if err := client.CoreV1().Pods("shop").Delete(context.Background(), "productpage-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	next(t, events, EventLost)
	err := cancel()
	if err == nil || !strings.Contains(err.Error(), "run again with -l") {
		t.Fatalf("Run = %v, want the deleted-pod error", err)
	}
}

func TestForwarderFirstForwardErrors(t *testing.T) {
	client := fake.NewClientset(installedPod("mesh-system", "grafana-1", "grafana", true, nil))
	cases := map[string]struct {
		err  error
		want string
	}{
		"forbidden": {
			errors.New(`error upgrading connection: pods "grafana-1" is forbidden: User "bob" cannot create resource "pods/portforward"`),
			"kubectl auth can-i get pods/portforward",
		},
		"busy port": {
			errors.New("unable to listen on any of the requested ports: [{3000 3000}]"),
			"choose another local port with --port",
		},
	}
	for name, c := range cases {
		fw := &Forwarder{Client: client, Target: grafanaTarget(t), LocalPort: 3000,
			Forward: func(context.Context, *rest.Config, kube.PortForward, func(int)) error { return c.err }}
		err := fw.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Run = %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestLocalPortFor(t *testing.T) {
	if got := LocalPortFor("127.0.0.1", 0, true); got != 0 {
		t.Errorf("LocalPortFor(0) = %d, want 0", got)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if got := LocalPortFor("127.0.0.1", busy, true); got != 0 {
		t.Errorf("busy default port: LocalPortFor = %d, want 0 (pick a free one)", got)
	}
	if got := LocalPortFor("127.0.0.1", busy, false); got != busy {
		t.Errorf("busy explicit port: LocalPortFor = %d, want %d kept so the error names it", got, busy)
	}
	l.Close()
	if got := LocalPortFor("127.0.0.1", busy, true); got != busy {
		t.Errorf("free port: LocalPortFor = %d, want %d", got, busy)
	}
}
