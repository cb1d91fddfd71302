//go:build e2e

package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/agent"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// secureServer is `meshctl server` as the command wires it: the xDS server
// and the identity half, with xDS registered on the identity's TLS server.
type secureServer struct {
	xds      *Server
	id       *Identity
	addr     string // the TLS port, 127.0.0.1:N
	meshNS   string
	rootCM   string
	rootPEM  []byte
	reg      *prometheus.Registry
	hostname string // the Service name the serving certificate is for
}

// testRevision keeps this server's webhook patcher off the configurations
// of other tests' servers on the shared cluster.
const testRevision = "xdstls"

func startSecureServer(t *testing.T, c *testcluster.Cluster, extraDNSNames ...string) *secureServer {
	t.Helper()
	xs, _ := startServer(t, c)
	meshNS := c.NewNamespace(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	whLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := inject.DefaultConfig()
	cfg.Revision = testRevision
	// The publisher writes into every namespace: a name of this test's own
	// keeps other tests' namespaces as they were.
	cfg.RootCertConfigMap = "mesh-ca-root-cert-" + meshNS
	reg := prometheus.NewRegistry()
	id := &Identity{
		Client: c.Client, MeshNamespace: meshNS, Revision: testRevision, ServiceName: "meshctl-server",
		ExtraDNSNames: extraDNSNames,
		InjectConfig:  func() inject.Config { return cfg }, SecureGRPCListener: grpcLn, WebhookListener: whLn,
		Registry: reg, OnError: func(err error) { t.Logf("identity: %v", err) },
	}
	if err := id.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	xs.RegisterXDS(ctx, id.GRPC)
	done := make(chan error, 1)
	go func() { done <- id.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("identity: %v", err)
		}
		nss, _ := c.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		for _, n := range nss.Items {
			_ = c.Client.CoreV1().ConfigMaps(n.Name).Delete(context.Background(), cfg.RootCertConfigMap, metav1.DeleteOptions{})
		}
	})
	return &secureServer{xds: xs, id: id, addr: grpcLn.Addr().String(), meshNS: meshNS, rootCM: cfg.RootCertConfigMap,
		rootPEM: id.CA.Bundle().RootsPEM(), reg: reg, hostname: "meshctl-server." + meshNS + ".svc"}
}

func createServiceAccount(t *testing.T, c *testcluster.Cluster, ns, name string) {
	t.Helper()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func projectedToken(t *testing.T, c *testcluster.Cluster, ns, sa string, audiences ...string) string {
	t.Helper()
	exp := int64(600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// workloadCert gets the certificate of ns/sa from the server's CA the way the
// agent does (its CA client, the SA's projected token).
func (s *secureServer) workloadCert(t *testing.T, c *testcluster.Cluster, ns, sa string) *agent.Cert {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.rootPEM)
	tok := projectedToken(t, c, ns, sa, inject.DefaultConfig().TokenAudience)
	cl := &agent.CAClient{
		Address: s.addr, ServerName: s.hostname, Roots: roots,
		Identity: "spiffe://cluster.local/ns/" + ns + "/sa/" + sa,
		Token:    func() (string, error) { return tok, nil },
	}
	defer cl.Close()
	cert, err := cl.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// foreignCert is a certificate for the same identity from a CA the mesh does
// not trust.
func foreignCert(t *testing.T, spiffeID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spiffeID)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{Organization: []string{"elsewhere"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// grpcNode is a proxyless client's node as the agent writes it.
func grpcNode(t *testing.T, ns, sa string) *core.Node {
	t.Helper()
	md, err := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": ns, "SERVICE_ACCOUNT": sa})
	if err != nil {
		t.Fatal(err)
	}
	return &core.Node{Id: fmt.Sprintf("sidecar~10.244.9.9~client.%s~%s.svc.cluster.local", ns, ns), Metadata: md}
}

// askListener opens an ADS stream over TLS and asks for one listener; it
// returns the response or the stream's error.
func (s *secureServer) askListener(t *testing.T, cert *tls.Certificate, token string, node *core.Node, name string) (*discovery.DiscoveryResponse, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.rootPEM)
	cfg := &tls.Config{RootCAs: roots, ServerName: s.hostname, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Always sent, even when the server does not list its issuer as
		// acceptable (Go's client would send nothing then), so the server's
		// own verification is what is tested.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server already ended fails Send with io.EOF; its status
	// comes from Recv.
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: generate.ListenerType, ResourceNames: []string{name}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return stream.Recv()
}

func tlsCert(t *testing.T, c *agent.Cert) *tls.Certificate {
	t.Helper()
	kp, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &kp
}

// TestXDSOverTLS: the CA's TLS port serves the same xDS as the plaintext
// one, to clients that prove a workload identity matching their node.
func TestXDSOverTLS(t *testing.T) {
	c := testcluster.Get(t)
	s := startSecureServer(t, c)
	ns, other := c.NewNamespace(t, nil), c.NewNamespace(t, nil)
	createServiceAccount(t, c, ns, "client")
	createServiceAccount(t, c, other, "client")
	if _, err := c.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9080, TargetPort: intstr.FromInt32(9080)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	listener := fmt.Sprintf("reviews.%s.svc.cluster.local:9080", ns)
	mine := tlsCert(t, s.workloadCert(t, c, ns, "client"))
	theirs := tlsCert(t, s.workloadCert(t, c, other, "client"))
	refused := func(reason string) float64 {
		return testutil.ToFloat64(s.id.XDSAuth.Refused.WithLabelValues(reason))
	}

	t.Run("workload certificate of the node's identity", func(t *testing.T) {
		// The server may not have seen the Service yet: ask until the
		// listener is there.
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := s.askListener(t, mine, "", grpcNode(t, ns, "client"), listener)
			if err != nil {
				t.Fatalf("a client with its own workload certificate was refused: %v", err)
			}
			if len(resp.GetResources()) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no listener %s over TLS: %v", listener, resp)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("projected token instead of a certificate", func(t *testing.T) {
		resp, err := s.askListener(t, nil, projectedToken(t, c, ns, "client", inject.DefaultConfig().TokenAudience), grpcNode(t, ns, "client"), listener)
		if err != nil || len(resp.GetResources()) != 1 {
			t.Fatalf("token client: %v %v", resp, err)
		}
	})
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		token  string
		node   *core.Node
		code   codes.Code
		reason string
		msg    string
	}{
		{name: "no certificate and no token", node: grpcNode(t, ns, "client"), code: codes.Unauthenticated, reason: XDSRefusedNoCredentials, msg: "needs a workload certificate"},
		{name: "token of another audience", token: projectedToken(t, c, ns, "client", "someone-else"), node: grpcNode(t, ns, "client"), code: codes.Unauthenticated, reason: XDSRefusedBadToken, msg: "audience"},
		{name: "another namespace's certificate", cert: theirs, node: grpcNode(t, ns, "client"), code: codes.PermissionDenied, reason: XDSRefusedNodeMismatch, msg: "proves " + other + "/client"},
		{name: "own certificate, node claims another service account", cert: mine, node: grpcNode(t, ns, "admin"), code: codes.PermissionDenied, reason: XDSRefusedNodeMismatch, msg: "service account admin"},
		{name: "another namespace's token", token: projectedToken(t, c, other, "client", inject.DefaultConfig().TokenAudience), node: grpcNode(t, ns, "client"), code: codes.PermissionDenied, reason: XDSRefusedNodeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refused(tc.reason)
			resp, err := s.askListener(t, tc.cert, tc.token, tc.node, listener)
			if status.Code(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Fatalf("want %s (%q), got %v %v", tc.code, tc.msg, resp, err)
			}
			if got := refused(tc.reason) - before; got != 1 {
				t.Errorf("refusals counted as %s: %v, want 1", tc.reason, got)
			}
		})
	}
	t.Run("certificate from a foreign CA", func(t *testing.T) {
		f := foreignCert(t, "spiffe://cluster.local/ns/"+ns+"/sa/client")
		resp, err := s.askListener(t, &f, "", grpcNode(t, ns, "client"), listener)
		if err == nil {
			t.Fatalf("a certificate the mesh did not sign was accepted: %v", resp)
		}
		// The TLS handshake fails, so no stream ever reaches the server.
		if status.Code(err) != codes.Unavailable {
			t.Errorf("want the connection refused (Unavailable), got %v", err)
		}
	})
	t.Run("the CA on the same port still serves a client without a certificate", func(t *testing.T) {
		if cert := s.workloadCert(t, c, ns, "client"); cert.Leaf == nil {
			t.Fatal("no certificate")
		}
	})
}
