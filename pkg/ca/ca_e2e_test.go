//go:build e2e

package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/inject"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

const trustDomain = "cluster.local"

var audience = inject.DefaultConfig().TokenAudience

type env struct {
	c      *testcluster.Cluster
	meshNS string
	rootCM string
	auth   *ca.Authority
	svc    *ca.CSRService
	client securityv1alpha1.IstioCertificateServiceClient
}

// start runs the CA as `meshctl server` does: authority, root publisher and
// the CSR service over TLS on a loopback port.
func start(t *testing.T) *env {
	t.Helper()
	c := testcluster.Get(t)
	e := &env{c: c, meshNS: c.NewNamespace(t, nil), rootCM: fmt.Sprintf("mesh-ca-root-cert-e2e%d", time.Now().UnixNano())}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.auth = ca.New(c.Client, ca.Options{Namespace: e.meshNS, TrustDomain: trustDomain})
	if err := e.auth.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.auth.Run(ctx) }()
	pub := &ca.RootPublisher{Client: c.Client, CA: e.auth, ConfigMap: e.rootCM}
	go func() { _ = pub.Run(ctx) }()
	t.Cleanup(func() {
		// The publisher wrote into every namespace; leave no litter.
		nss, _ := c.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		for _, n := range nss.Items {
			_ = c.Client.CoreV1().ConfigMaps(n.Name).Delete(context.Background(), e.rootCM, metav1.DeleteOptions{})
		}
	})

	e.svc = &ca.CSRService{CA: e.auth, Auth: ca.TokenReviewAuthenticator{Client: c.Client, Audiences: []string{audience}}, Metrics: ca.NewMetrics(prometheus.NewRegistry())}
	serving := &ca.ServingCert{CA: e.auth, DNSNames: ca.ServiceDNSNames("meshctl-server", e.meshNS)}
	g := ca.NewTLSServer(serving)
	e.svc.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)

	// The client trusts only the published root and checks the server's
	// Service name, as an injected agent does.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(waitPublished(t, c, "default", e.rootCM, nil)))
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "meshctl-server." + e.meshNS + ".svc",
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.client = securityv1alpha1.NewIstioCertificateServiceClient(conn)
	return e
}

// waitPublished waits until ns has the root ConfigMap (matching want when
// want is not nil) and returns its bundle.
func waitPublished(t *testing.T, c *testcluster.Cluster, ns, name string, want func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cm.Data[ca.RootConfigMapKey] != "" && (want == nil || want(cm.Data[ca.RootConfigMapKey])) {
			return cm.Data[ca.RootConfigMapKey]
		}
		if time.Now().After(deadline) {
			t.Fatalf("ConfigMap %s/%s not published as expected (err %v)", ns, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func serviceAccount(t *testing.T, c *testcluster.Cluster, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func token(t *testing.T, c *testcluster.Cluster, ns, sa string, audiences ...string) string {
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

// expiredToken is signed with the cluster's own service-account key, so it
// is genuine in every respect except that it has expired.
func expiredToken(t *testing.T, c *testcluster.Cluster, sa *corev1.ServiceAccount) string {
	t.Helper()
	key, err := c.ServiceAccountTokenKey()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": testcluster.ServiceAccountIssuer, "aud": []string{audience},
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": sa.Namespace, "serviceaccount": map[string]any{"name": sa.Name, "uid": string(sa.UID)}},
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func csr(t *testing.T, key crypto.Signer, ids ...string) string {
	t.Helper()
	tmpl := &x509.CertificateRequest{}
	for _, id := range ids {
		u, _ := url.Parse(id)
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func (e *env) request(t *testing.T, tok, csrPEM string) ([]*x509.Certificate, error) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	resp, err := e.client.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: csrPEM})
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, p := range resp.CertChain {
		b, _ := pem.Decode([]byte(p))
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out, nil
}

func verifyAgainst(chain []*x509.Certificate, bundle string) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(bundle))
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func TestWorkloadGetsExactlyItsIdentity(t *testing.T) {
	e := start(t)
	app := e.c.NewNamespace(t, nil)
	other := e.c.NewNamespace(t, nil)
	sa := serviceAccount(t, e.c, app, "cart")
	serviceAccount(t, e.c, app, "admin")
	serviceAccount(t, e.c, other, "cart")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := ca.SPIFFEID(trustDomain, app, "cart")
	good := token(t, e.c, app, "cart", audience)

	chain, err := e.request(t, good, csr(t, key, id))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain[0].URIs) != 1 || chain[0].URIs[0].String() != id {
		t.Fatalf("certificate for %v, want %s", chain[0].URIs, id)
	}
	if d := time.Until(chain[0].NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("certificate valid for %s, want the default 24h", d)
	}
	// The bundle a pod in its namespace mounts verifies it.
	if err := verifyAgainst(chain, waitPublished(t, e.c, app, e.rootCM, nil)); err != nil {
		t.Fatalf("certificate does not verify against the published root: %v", err)
	}

	for _, tc := range []struct {
		name, token, csr string
		code             codes.Code
		reason           string
	}{
		{"another service account's identity", good, csr(t, key, ca.SPIFFEID(trustDomain, app, "admin")), codes.PermissionDenied, ca.ReasonIdentity},
		{"another namespace's identity", good, csr(t, key, ca.SPIFFEID(trustDomain, other, "cart")), codes.PermissionDenied, ca.ReasonIdentity},
		{"token of the API server's audience", token(t, e.c, app, "cart"), csr(t, key, id), codes.Unauthenticated, ca.ReasonBadToken},
		{"token of another audience", token(t, e.c, app, "cart", "vault"), csr(t, key, id), codes.Unauthenticated, ca.ReasonBadToken},
		{"expired token", expiredToken(t, e.c, sa), csr(t, key, id), codes.Unauthenticated, ca.ReasonBadToken},
		{"garbage token", "not-a-jwt", csr(t, key, id), codes.Unauthenticated, ca.ReasonBadToken},
	} {
		before := testutil.ToFloat64(e.svc.Metrics.Refused.WithLabelValues(tc.reason))
		_, err := e.request(t, tc.token, tc.csr)
		if status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
		if testutil.ToFloat64(e.svc.Metrics.Refused.WithLabelValues(tc.reason)) != before+1 {
			t.Errorf("%s: not counted as %s", tc.name, tc.reason)
		}
	}
	// The genuine expired token is refused for its expiry, not for a
	// forging mistake of this test.
	_, err = e.request(t, expiredToken(t, e.c, sa), csr(t, key, id))
	if !strings.Contains(status.Convert(err).Message(), "expired") {
		t.Errorf("expired token refused with %q, want the expiry named", status.Convert(err).Message())
	}
}

func TestRootPublishedToNewAndEditedNamespaces(t *testing.T) {
	e := start(t)
	ns := e.c.NewNamespace(t, nil)
	want := string(e.auth.Bundle().RootsPEM())
	waitPublished(t, e.c, ns, e.rootCM, func(s string) bool { return s == want })
	cms := e.c.Client.CoreV1().ConfigMaps(ns)
	cm, _ := cms.Get(context.Background(), e.rootCM, metav1.GetOptions{})
	cm.Data[ca.RootConfigMapKey] = "tampered"
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, e.c, ns, e.rootCM, func(s string) bool { return s == want })
	if err := cms.Delete(context.Background(), e.rootCM, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, e.c, ns, e.rootCM, func(s string) bool { return s == want })
}

func TestRotationKeepsIssuedCertificatesValid(t *testing.T) {
	e := start(t)
	app := e.c.NewNamespace(t, nil)
	serviceAccount(t, e.c, app, "cart")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := ca.SPIFFEID(trustDomain, app, "cart")
	tok := token(t, e.c, app, "cart", audience)
	old, err := e.request(t, tok, csr(t, key, id))
	if err != nil {
		t.Fatal(err)
	}
	oldRoot := string(e.auth.Bundle().RootsPEM())
	// A second replica rotates: this one follows through the Secret.
	other := ca.New(e.c.Client, ca.Options{Namespace: e.meshNS, TrustDomain: trustDomain})
	if err := other.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := other.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	bundle := waitPublished(t, e.c, app, e.rootCM, func(s string) bool { return s != oldRoot && strings.Count(s, "BEGIN CERTIFICATE") == 2 })
	if err := verifyAgainst(old, bundle); err != nil {
		t.Fatalf("a certificate issued before the rotation fails against the published bundle: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fresh, err := e.request(t, tok, csr(t, key, id))
		if err != nil {
			t.Fatal(err)
		}
		if fresh[len(fresh)-1].Equal(other.Bundle().Roots[0]) {
			if err := verifyAgainst(fresh, bundle); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server still signs with the old root after another replica rotated")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
