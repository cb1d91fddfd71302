//go:build e2e

package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
	networkingapi "istio.io/api/networking/v1alpha3"
	securityapi "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/agent"
	"github.com/meshctl/meshctl/pkg/inject"
)

// identityRecorder answers health checks and remembers the SPIFFE identity of
// each caller, as the app's own handler would see it.
type identityRecorder struct {
	healthpb.UnimplementedHealthServer
	mu   sync.Mutex
	seen []string
}

func (r *identityRecorder) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	p, _ := peer.FromContext(ctx)
	id := "plaintext"
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 && len(ti.State.PeerCertificates[0].URIs) > 0 {
		id = ti.State.PeerCertificates[0].URIs[0].String()
	}
	r.mu.Lock()
	r.seen = append(r.seen, id)
	r.mu.Unlock()
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (r *identityRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *identityRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return ""
	}
	return r.seen[len(r.seen)-1]
}

// runAgent runs the pod's agent in-process in grpc mode (what `meshctl agent
// proxy grpc` runs) against the server's CA and TLS xDS port, and returns the
// gRPC bootstrap it wrote once it is there.
func (s *secureServer) runAgent(t *testing.T, c *testcluster.Cluster, pod *corev1.Pod, rootFile string) []byte {
	t.Helper()
	dir := t.TempDir()
	id := agent.Identity{
		PodName: pod.Name, Namespace: pod.Namespace, PodIP: pod.Status.PodIP, ServiceAccount: pod.Spec.ServiceAccountName,
		WorkloadName: pod.Labels["app"], TrustDomain: "cluster.local", Labels: pod.Labels,
	}
	_, port, _ := net.SplitHostPort(s.addr)
	discovery := net.JoinHostPort("localhost", port)
	tok := projectedToken(t, c, pod.Namespace, pod.Spec.ServiceAccountName, inject.DefaultConfig().TokenAudience)
	cl := &agent.CAClient{Address: discovery, Identity: id.SPIFFEID(), Token: func() (string, error) { return tok, nil }}
	fetch := func(ctx context.Context) (*agent.Cert, error) {
		pem, err := os.ReadFile(rootFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cl.Roots = pool
		defer cl.Close()
		return cl.Fetch(ctx)
	}
	bootstrap := filepath.Join(dir, "bootstrap.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Config{
			Mode: agent.ModeGRPC, Identity: id, DiscoveryAddress: discovery, RootCertFile: rootFile, Certificates: fetch,
			GRPCBootstrapPath: bootstrap, CertFiles: agent.CertFiles{Dir: filepath.Join(dir, "certs")},
			OnError: func(err error) { t.Logf("agent of %s: %v", pod.Name, err) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent of %s: %v", pod.Name, err)
		}
	})
	var data []byte
	if !xdstest.Eventually(30*time.Second, func() bool {
		var err error
		data, err = os.ReadFile(bootstrap)
		return err == nil
	}) {
		t.Fatalf("the agent of %s wrote no gRPC bootstrap", pod.Name)
	}
	return data
}

func runningPod(t *testing.T, c *testcluster.Cluster, ns, name, sa string, labels map[string]string, port int32) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	_, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{
			Name: "app", Image: "example.test/" + name, Ports: []corev1.ContainerPort{{ContainerPort: port}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	if !xdstest.Eventually(60*time.Second, func() bool {
		pod, err = c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && pod.Status.PodIP != "" && pod.Status.Phase == corev1.PodRunning
	}) {
		t.Fatalf("pod %s/%s not running: %v", ns, name, err)
	}
	return pod
}

// proxylessMesh is a namespace on the cluster with the xDS-enabled gRPC
// server "echo" (service account echo, port 9090) running with the
// certificates and bootstrap its agent wrote, DestinationRule ISTIO_MUTUAL
// and PeerAuthentication STRICT: clients made with client() call it over
// mutual TLS with their own agent's identity.
type proxylessMesh struct {
	c        *testcluster.Cluster
	s        *secureServer
	ns       string
	ic       *istioclient.Clientset
	lis      net.Listener
	rec      *identityRecorder
	rootFile string
}

const proxylessEchoPort = 9090

func startProxylessMesh(t *testing.T) *proxylessMesh {
	t.Helper()
	c := testcluster.Get(t)
	testcrds.Ensure(t, c.Config, "destinationrules", "peerauthentications", "authorizationpolicies")
	s := startSecureServer(t, c, "localhost")
	ns := c.NewNamespace(t, nil)
	ctx := context.Background()
	createServiceAccount(t, c, ns, "echo")
	const port = proxylessEchoPort
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"},
			Ports: []corev1.ServicePort{{Name: "grpc", Port: port, TargetPort: intstr.FromInt32(port)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	echo := runningPod(t, c, ns, "echo", "echo", map[string]string{"app": "echo"}, port)
	if !xdstest.Eventually(60*time.Second, func() bool {
		sl, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=echo"})
		return err == nil && len(sl.Items) > 0 && len(sl.Items[0].Endpoints) == 1
	}) {
		t.Fatal("no endpoint for echo")
	}

	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.NetworkingV1().DestinationRules(ns).Create(ctx, &networkingv1.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: networkingapi.DestinationRule{Host: "echo", TrafficPolicy: &networkingapi.TrafficPolicy{
			Tls: &networkingapi.ClientTLSSettings{Mode: networkingapi.ClientTLSSettings_ISTIO_MUTUAL},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.SecurityV1().PeerAuthentications(ns).Create(ctx, &securityv1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec:       securityapi.PeerAuthentication{Mtls: &securityapi.PeerAuthentication_MutualTLS{Mode: securityapi.PeerAuthentication_MutualTLS_STRICT}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The app binds the pod's IP: routable only inside hack/cluster/netns-run.sh.
	lis, err := net.Listen("tcp", net.JoinHostPort(echo.Status.PodIP, fmt.Sprint(port)))
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skipf("pod IP %s is not routable here: run the test binary inside hack/cluster/netns-run.sh (make test does)", echo.Status.PodIP)
	}
	if err != nil {
		t.Fatal(err)
	}

	// The root the pods mount: the ConfigMap the server published.
	var rootPEM string
	if !xdstest.Eventually(30*time.Second, func() bool {
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, s.rootCM, metav1.GetOptions{})
		if err == nil {
			rootPEM = cm.Data["root-cert.pem"]
		}
		return rootPEM != ""
	}) {
		t.Fatal("root certificate not published")
	}
	rootFile := filepath.Join(t.TempDir(), "root-cert.pem")
	if err := os.WriteFile(rootFile, []byte(rootPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	serverBootstrap := s.runAgent(t, c, echo, rootFile)

	// The xDS-enabled server, with xDS credentials: it serves what its
	// listener says (mTLS under STRICT, RBAC from AuthorizationPolicies).
	screds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := xds.NewGRPCServer(grpc.Creds(screds), xds.BootstrapContentsForTesting(serverBootstrap),
		xds.ServingModeCallback(func(addr net.Addr, a xds.ServingModeChangeArgs) {
			t.Logf("echo server %s: %s %v", addr, a.Mode, a.Err)
		}))
	if err != nil {
		t.Fatal(err)
	}
	rec := &identityRecorder{}
	healthpb.RegisterHealthServer(gs, rec)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return &proxylessMesh{c: c, s: s, ns: ns, ic: ic, lis: lis, rec: rec, rootFile: rootFile}
}

// client starts a pod with service account sa and its agent, and returns a
// connection to echo through xds:/// with the agent's certificates, and the
// agent's bootstrap.
func (m *proxylessMesh) client(t *testing.T, sa string) (*grpc.ClientConn, []byte) {
	t.Helper()
	createServiceAccount(t, m.c, m.ns, sa)
	pod := runningPod(t, m.c, m.ns, sa, sa, map[string]string{"app": sa}, 8080)
	bootstrap := m.s.runAgent(t, m.c, pod, m.rootFile)
	return m.dial(t, bootstrap), bootstrap
}

// dial connects to echo through xds:/// with a bootstrap of client().
func (m *proxylessMesh) dial(t *testing.T, bootstrap []byte) *grpc.ClientConn {
	t.Helper()
	rb, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	ccreds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(fmt.Sprintf("xds:///echo.%s.svc.cluster.local:%d", m.ns, proxylessEchoPort), grpc.WithTransportCredentials(ccreds), grpc.WithResolvers(rb))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestProxylessMTLSWithAgentCertificates: two proxyless gRPC apps, an
// xds:/// client and an xDS-enabled server, use the certificates and
// bootstraps their agents wrote from the real CA. With a DestinationRule
// ISTIO_MUTUAL and PeerAuthentication STRICT the call is mutual TLS: each
// side sees the other's SPIFFE identity, and a plaintext client is refused.
func TestProxylessMTLSWithAgentCertificates(t *testing.T) {
	m := startProxylessMesh(t)
	ns, rec, lis := m.ns, m.rec, m.lis
	ctx := context.Background()
	conn, bootstrap := m.client(t, "client")

	var serverPeer peer.Peer
	var lastErr error
	if !xdstest.Eventually(60*time.Second, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, lastErr = healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&serverPeer))
		return lastErr == nil
	}) {
		t.Fatalf("no successful call through xDS within 60s: %v", lastErr)
	}
	if got, want := rec.last(), "spiffe://cluster.local/ns/"+ns+"/sa/client"; got != want {
		t.Errorf("the server saw caller %q, want %q", got, want)
	}
	ti, ok := serverPeer.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 || len(ti.State.PeerCertificates[0].URIs) == 0 {
		t.Fatalf("the client's connection is not TLS with a certificate: %#v", serverPeer.AuthInfo)
	}
	if got, want := ti.State.PeerCertificates[0].URIs[0].String(), "spiffe://cluster.local/ns/"+ns+"/sa/echo"; got != want {
		t.Errorf("the client saw server %q, want %q", got, want)
	}

	t.Run("server identity checked against the service's accounts", func(t *testing.T) {
		// The DestinationRule names no subjectAltNames: the call above passed
		// the default check (echo's service account). Naming another
		// identity makes the client refuse the real server. grpc-go checks
		// at the handshake, so a new connection shows it (the established
		// one is not closed).
		drs := m.ic.NetworkingV1().DestinationRules(ns)
		dr, err := drs.Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dr.Spec.TrafficPolicy.Tls.SubjectAltNames = []string{"spiffe://cluster.local/ns/" + ns + "/sa/impostor"}
		if dr, err = drs.Update(ctx, dr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		call := func() error {
			c := m.dial(t, bootstrap)
			defer c.Close()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, err := healthpb.NewHealthClient(c).Check(cctx, &healthpb.HealthCheckRequest{})
			return err
		}
		var err2 error
		if !xdstest.Eventually(30*time.Second, func() bool {
			err2 = call()
			return status.Code(err2) == codes.Unavailable
		}) {
			t.Fatalf("subjectAltNames of another identity: the call got %v, want Unavailable", err2)
		}
		if !strings.Contains(err2.Error(), "SANs") {
			t.Errorf("refused for another reason than the server's identity: %v", err2)
		}
		served := rec.count()
		if err := call(); status.Code(err) != codes.Unavailable {
			t.Errorf("subjectAltNames of another identity: a further call got %v, want Unavailable", err)
		}
		if rec.count() != served {
			t.Error("a call reached the server whose identity the client must refuse")
		}
		dr.Spec.TrafficPolicy.Tls.SubjectAltNames = nil
		if _, err := drs.Update(ctx, dr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if !xdstest.Eventually(30*time.Second, func() bool { err2 = call(); return err2 == nil }) {
			t.Fatalf("default subjectAltNames again: %v", err2)
		}
	})

	t.Run("plaintext client refused under STRICT", func(t *testing.T) {
		plain, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		before := rec.count()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(plain).Check(cctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("a plaintext call to a STRICT server: want Unavailable, got %v", err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.seen) != before {
			t.Errorf("the plaintext call reached the app: %v", rec.seen[before:])
		}
	})
}

// TestProxylessAuthorizationPolicy: AuthorizationPolicies reach the
// xDS-enabled gRPC server as RBAC filters of its listener and grpc-go
// enforces them on mutual TLS identities from the real CA: ALLOW naming one
// client's SPIFFE identity lets it call and refuses another identity with
// PermissionDenied; a DENY policy on one method path refuses that method
// only.
func TestProxylessAuthorizationPolicy(t *testing.T) {
	m := startProxylessMesh(t)
	ctx := context.Background()
	allowedConn, _ := m.client(t, "client")
	otherConn, _ := m.client(t, "other")
	allowed, other := healthpb.NewHealthClient(allowedConn), healthpb.NewHealthClient(otherConn)
	check := func(c healthpb.HealthClient) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.Check(cctx, &healthpb.HealthCheckRequest{})
		return err
	}
	list := func(c healthpb.HealthClient) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.List(cctx, &healthpb.HealthListRequest{})
		return err
	}
	// Without a policy both identities are served.
	for _, c := range []healthpb.HealthClient{allowed, other} {
		var err error
		if !xdstest.Eventually(60*time.Second, func() bool { err = check(c); return err == nil }) {
			t.Fatalf("no successful call through xDS within 60s: %v", err)
		}
	}

	aps := m.ic.SecurityV1().AuthorizationPolicies(m.ns)
	if _, err := aps.Create(ctx, &securityv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "only-client"},
		Spec: securityapi.AuthorizationPolicy{
			Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "echo"}},
			Action:   securityapi.AuthorizationPolicy_ALLOW,
			Rules: []*securityapi.Rule{{From: []*securityapi.Rule_From{{Source: &securityapi.Source{
				Principals: []string{"cluster.local/ns/" + m.ns + "/sa/client"},
			}}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var errOther, errAllowed error
	if !xdstest.Eventually(30*time.Second, func() bool {
		errOther = check(other)
		return status.Code(errOther) == codes.PermissionDenied
	}) {
		t.Fatalf("ALLOW only client: the other identity got %v, want PermissionDenied", errOther)
	}
	for range 20 {
		if errAllowed = check(allowed); errAllowed != nil {
			t.Fatalf("ALLOW only client: the client itself got %v", errAllowed)
		}
		if errOther = check(other); status.Code(errOther) != codes.PermissionDenied {
			t.Fatalf("ALLOW only client: the other identity got %v, want PermissionDenied", errOther)
		}
	}
	if got, want := m.rec.last(), "spiffe://cluster.local/ns/"+m.ns+"/sa/client"; got != want {
		t.Errorf("the last call that reached the app came from %q, want %q", got, want)
	}

	// A DENY on one method: the allowed client loses List, keeps Check.
	if _, err := aps.Create(ctx, &securityv1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "no-list"},
		Spec: securityapi.AuthorizationPolicy{
			Action: securityapi.AuthorizationPolicy_DENY,
			Rules: []*securityapi.Rule{{To: []*securityapi.Rule_To{{Operation: &securityapi.Operation{
				Paths: []string{"/grpc.health.v1.Health/List"},
			}}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var errList error
	if !xdstest.Eventually(30*time.Second, func() bool {
		errList = list(allowed)
		return status.Code(errList) == codes.PermissionDenied
	}) {
		t.Fatalf("DENY List: List got %v, want PermissionDenied", errList)
	}
	if err := check(allowed); err != nil {
		t.Errorf("DENY List: Check must still be served, got %v", err)
	}

	// Without the ALLOW policy, the other identity is served again, List
	// stays denied for everyone.
	if err := aps.Delete(ctx, "only-client", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !xdstest.Eventually(30*time.Second, func() bool { errOther = check(other); return errOther == nil }) {
		t.Fatalf("ALLOW deleted: the other identity got %v", errOther)
	}
	if err := list(other); status.Code(err) != codes.PermissionDenied {
		t.Errorf("DENY List: the other identity's List got %v, want PermissionDenied", err)
	}
}
