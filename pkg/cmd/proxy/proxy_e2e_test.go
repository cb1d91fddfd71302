//go:build e2e

package proxy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/server"
	"github.com/meshctl/meshctl/pkg/vocab"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// runOnCluster runs proxy-status or proxy-config against the test cluster as
// the binary does: no --monitoring-address, so through a port-forward to a
// server pod of --mesh-namespace.
func runOnCluster(t *testing.T, c *testcluster.Cluster, args ...string) (string, error) {
	t.Helper()
	streams, _, out, _ := iostreams.Test()
	f := cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, "")
	cmd := NewCmdProxyStatus(f)
	if args[0] == "proxy-config" {
		cmd = NewCmdProxyConfig(f)
	}
	// The root command owns these flags; the in-process command needs them.
	f.ConfigFlags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.MeshNamespace, "mesh-namespace", f.MeshNamespace, "")
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args[1:])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestProxyStatusThroughPortForwardE2E: a real meshctl server watches the
// cluster; the command finds the ready server pod of the mesh namespace and
// reads the server's debug endpoints through the API server's port-forward.
// kwok, which plays the pod's kubelet, forwards the pod's port to the server
// process (the cluster's pods run no containers), so the whole path (API
// server, kubelet port-forward, the monitoring port) is the real one. A
// synced proxyless client and one that rejected its routes are shown as such.
func TestProxyStatusThroughPortForwardE2E(t *testing.T) {
	c := testcluster.Get(t)
	meshNS := c.NewNamespace(t, nil)
	appNS := c.NewNamespace(t, nil)
	ctx := context.Background()

	custom, err := config.NewCustomResources(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Options{XDSAddress: "127.0.0.1:0", MonitoringAddress: "127.0.0.1:0", MeshNamespace: meshNS,
		Kube: c.Client, Custom: custom, Log: testr.New(t), Name: "meshctl-server-0"})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})

	// reviews, with one endpoint (no traffic is sent to it).
	if _, err := c.Client.CoreV1().Services(appNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9080}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	portName, port, ready := "grpc", int32(9080), true
	if _, err := c.Client.DiscoveryV1().EndpointSlices(appNS).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "reviews-1", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.200.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The server pod the command looks for, its port forwarded to the server.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "meshctl-server-0", Namespace: meshNS, Labels: map[string]string{
			vocab.LabelComponent: vocab.ComponentServer, vocab.LabelRevision: vocab.DefaultRevision,
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "example.test/meshctl",
			Ports: []corev1.ContainerPort{{Name: "monitoring", ContainerPort: vocab.ServerMonitoringPort}}}}},
	}
	c.PortForwardPod(t, meshNS, pod.Name, s.MonitoringAddr())
	if _, err := c.Client.CoreV1().Pods(meshNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !xdstest.Eventually(2*time.Minute, func() bool {
		p, err := c.Client.CoreV1().Pods(meshNS).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && kube.IsPodReady(p)
	}) {
		t.Fatal("server pod not ready")
	}

	client := xdstest.NewClient(t, fmt.Sprintf("xds:///reviews.%s.svc.cluster.local:9080", appNS),
		xdstest.Bootstrap(s.XDSAddr(), xdstest.NodeID("10.244.1.1", "client-0", appNS), appNS))
	client.Conn.Connect()
	routeName := "outbound|9080||reviews." + appNS + ".svc.cluster.local"
	// The route exists once the server has seen the Service.
	var out string
	if !xdstest.Eventually(60*time.Second, func() bool {
		out, err = runOnCluster(t, c, "proxy-status", "--mesh-namespace", meshNS)
		return err == nil && strings.Count(out, "SYNCED") == 4
	}) {
		t.Fatalf("proxy-status through the port-forward: %v\n%s", err, out)
	}
	nackRoutes(t, s.XDSAddr(), "bad-0", appNS, routeName)
	if !xdstest.Eventually(30*time.Second, func() bool {
		out, err = runOnCluster(t, c, "proxy-status", "--mesh-namespace", meshNS)
		return err == nil && strings.Contains(out, "NACKED")
	}) {
		t.Fatalf("proxy-status shows no NACK: %v\n%s", err, out)
	}
	if got, want := strings.Join(row(t, out, "client-0."+appNS), "|"), "client-0."+appNS+"|grpc|SYNCED|SYNCED|SYNCED|SYNCED|meshctl-server-0"; got != want {
		t.Errorf("the synced client: %s, want %s\n%s", got, want, out)
	}
	if got, want := strings.Join(row(t, out, "bad-0."+appNS), "|"), "bad-0."+appNS+"|grpc|NOT SENT|NOT SENT|NOT SENT|NACKED|meshctl-server-0"; got != want {
		t.Errorf("the NACKing client: %s, want %s\n%s", got, want, out)
	}

	out, err = runOnCluster(t, c, "proxy-config", "routes", "client-0."+appNS, "--mesh-namespace", meshNS)
	if err != nil || !strings.Contains(out, routeName) {
		t.Errorf("proxy-config routes through the port-forward (%v):\n%s", err, out)
	}
	out, err = runOnCluster(t, c, "proxy-config", "endpoints", "client-0."+appNS, "--mesh-namespace", meshNS)
	if err != nil || !strings.Contains(out, "10.244.200.1") {
		t.Errorf("proxy-config endpoints through the port-forward (%v):\n%s", err, out)
	}

	// No server pod in the namespace: the command says so instead of hanging.
	empty := c.NewNamespace(t, nil)
	if _, err := runOnCluster(t, c, "proxy-status", "--mesh-namespace", empty); err == nil || !strings.Contains(err.Error(), "meshctl server") {
		t.Errorf("no server pod: %v", err)
	}
}
