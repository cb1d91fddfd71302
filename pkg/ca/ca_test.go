package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const ns = "mesh-system"

func newCA(t *testing.T, client *fake.Clientset, now func() time.Time) *Authority {
	t.Helper()
	a := New(client, Options{Namespace: ns, TrustDomain: "example.test", Now: now})
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func leafFor(t *testing.T, chain []string) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	var certs []*x509.Certificate
	for _, p := range chain {
		c, err := parseCerts([]byte(p), "chain")
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c...)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	return certs[0], inter
}

func verify(leaf *x509.Certificate, inter *x509.CertPool, roots []byte, at time.Time) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(roots) {
		return errors.New("no roots")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func TestRootCreatedOnceAndKept(t *testing.T) {
	client := fake.NewClientset()
	a := newCA(t, client, nil)
	first := a.Bundle().Signer
	// A restart, and two replicas starting at once, all end with the root
	// stored first.
	var wg sync.WaitGroup
	others := make([]*Authority, 4)
	for i := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			others[i] = New(client, Options{Namespace: ns})
			if err := others[i].Load(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, o := range others {
		if !o.Bundle().Signer.Equal(first) {
			t.Fatal("a second start generated another root")
		}
	}
}

func TestConcurrentFirstStartsShareOneRoot(t *testing.T) {
	client := fake.NewClientset()
	var wg sync.WaitGroup
	cas := make([]*Authority, 8)
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cas[i] = New(client, Options{Namespace: ns})
			if err := cas[i].Load(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, a := range cas[1:] {
		if !a.Bundle().Signer.Equal(cas[0].Bundle().Signer) {
			t.Fatal("replicas starting together ended with different roots")
		}
	}
}

func csrPEMB(t testing.TB, key crypto.Signer, uri string) string {
	return csrPEM(t, key, []string{uri}, nil, nil)
}

func csrPEM(t testing.TB, key crypto.Signer, uris []string, dns []string, ips []net.IP) string {
	t.Helper()
	tmpl := &x509.CertificateRequest{DNSNames: dns, IPAddresses: ips}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotationKeepsOldCertificatesValid(t *testing.T) {
	client := fake.NewClientset()
	now := time.Now()
	clock := func() time.Time { return now }
	a := newCA(t, client, clock)
	oldChain, err := a.Sign(newKey(t).Public(), SignOptions{URIs: []string{SPIFFEID("example.test", "a", "b")}})
	if err != nil {
		t.Fatal(err)
	}
	oldLeaf, oldInter := leafFor(t, oldChain)
	changed := a.Changed()
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("rotation did not signal a change")
	}
	b := a.Bundle()
	if len(b.Roots) != 2 {
		t.Fatalf("bundle during overlap has %d roots, want the new and the old", len(b.Roots))
	}
	if err := verify(oldLeaf, oldInter, b.RootsPEM(), now.Add(time.Hour)); err != nil {
		t.Fatalf("a certificate of the old root no longer verifies: %v", err)
	}
	newChain, _ := a.Sign(newKey(t).Public(), SignOptions{URIs: []string{SPIFFEID("example.test", "a", "b")}})
	newLeaf, newInter := leafFor(t, newChain)
	if err := verify(newLeaf, newInter, b.RootsPEM(), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := newLeaf.Verify(x509.VerifyOptions{Roots: (&Bundle{Roots: b.Roots[1:]}).RootPool(), Intermediates: newInter}); err == nil {
		t.Fatal("the new certificate verifies against the old root: rotation signed with the old key")
	}
	// A replica that starts during the overlap trusts both too; one that
	// starts after it trusts only the new root.
	if n := len(newCA(t, client, clock).Bundle().Roots); n != 2 {
		t.Fatalf("replica during overlap: %d roots", n)
	}
	later := func() time.Time { return now.Add(DefaultMaxWorkloadTTL + time.Hour) }
	if n := len(newCA(t, client, later).Bundle().Roots); n != 1 {
		t.Fatalf("replica after overlap: %d roots, want 1", n)
	}
}

// makePlugged builds a root and an intermediate as a user would for cacerts.
func makePlugged(t *testing.T) (root *x509.Certificate, data map[string][]byte) {
	t.Helper()
	rootPEM, rootKeyPEM, err := newRoot("example.test", time.Now(), 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rc, rk, err := parseSigner(rootPEM, rootKeyPEM, "test")
	if err != nil {
		t.Fatal(err)
	}
	ik := newKey(t)
	sn, _ := serial()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "intermediate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rc, ik.Public(), rk)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := encodeKey(ik)
	icert := encodeCert(der)
	return rc, map[string][]byte{KeyCACert: icert, KeyCAKey: keyPEM, KeyRootCert: rootPEM, KeyCertChain: append(append([]byte{}, icert...), rootPEM...)}
}

func TestPluggedIntermediateTakesPrecedence(t *testing.T) {
	client := fake.NewClientset()
	self := newCA(t, client, nil) // a self-signed root already exists
	root, data := makePlugged(t)
	if _, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: PluggedSecretName, Namespace: ns}, Data: data,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := self.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := self.Bundle()
	if b.Source != ns+"/"+PluggedSecretName || !b.Roots[0].Equal(root) || len(b.Roots) != 1 {
		t.Fatalf("plugged CA not used: source %s", b.Source)
	}
	chain, err := self.Sign(newKey(t).Public(), SignOptions{URIs: []string{SPIFFEID("example.test", "x", "y")}, TTL: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 {
		t.Fatalf("chain has %d certificates, want leaf, intermediate, root", len(chain))
	}
	leaf, inter := leafFor(t, chain)
	if err := verify(leaf, inter, b.RootsPEM(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if leaf.NotAfter.After(b.Signer.NotAfter) {
		t.Fatal("leaf outlives the intermediate")
	}
}

func TestBrokenPluggedSecretSaysWhat(t *testing.T) {
	_, data := makePlugged(t)
	other, otherData := makePlugged(t)
	_ = other
	for name, tc := range map[string]struct {
		mutate func(map[string][]byte)
		want   string
	}{
		"no key":       {func(d map[string][]byte) { delete(d, KeyCAKey) }, "has no ca-key.pem"},
		"key mismatch": {func(d map[string][]byte) { d[KeyCAKey] = otherData[KeyCAKey] }, "ca-cert.pem and ca-key.pem"},
		"foreign root": {func(d map[string][]byte) { d[KeyRootCert] = otherData[KeyRootCert]; d[KeyCertChain] = nil }, "does not chain to root-cert.pem"},
		"garbage root": {func(d map[string][]byte) { d[KeyRootCert] = []byte("nope") }, "root-cert.pem: no PEM CERTIFICATE block"},
		"not a CA":     {func(d map[string][]byte) { d[KeyCACert], d[KeyCAKey] = leafPair(t) }, "is not a CA certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range data {
				d[k] = v
			}
			tc.mutate(d)
			client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: PluggedSecretName, Namespace: ns}, Data: d})
			err := New(client, Options{Namespace: ns}).Load(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "secret mesh-system/cacerts") {
				t.Fatalf("error %v, want one naming the secret and %q", err, tc.want)
			}
		})
	}
}

func leafPair(t *testing.T) ([]byte, []byte) {
	a := New(fake.NewClientset(), Options{Namespace: ns})
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	chain, err := a.Sign(k.Public(), SignOptions{URIs: []string{"spiffe://x/ns/a/sa/b"}})
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := encodeKey(k)
	return []byte(chain[0]), kp
}

type fakeAuth map[string]Caller

func (f fakeAuth) Authenticate(_ context.Context, token string) (Caller, error) {
	if c, ok := f[token]; ok {
		return c, nil
	}
	return Caller{}, ErrToken
}

func TestCSRServiceSignsOnlyTheProvenIdentity(t *testing.T) {
	a := newCA(t, fake.NewClientset(), nil)
	reg := prometheus.NewRegistry()
	svc := &CSRService{CA: a, Auth: fakeAuth{"good": {Namespace: "shop", ServiceAccount: "cart"}}, Metrics: NewMetrics(reg)}
	id := SPIFFEID("example.test", "shop", "cart")
	key := newKey(t)
	call := func(token, csr string, ttl int64) (*securityv1alpha1.IstioCertificateResponse, error) {
		ctx := context.Background()
		if token != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+token))
		}
		return svc.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{Csr: csr, ValidityDuration: ttl})
	}

	resp, err := call("good", csrPEM(t, key, []string{id}, nil, nil), 3600)
	if err != nil {
		t.Fatal(err)
	}
	leaf, inter := leafFor(t, resp.CertChain)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id || len(leaf.DNSNames) != 0 {
		t.Fatalf("certificate names %v %v, want only %s", leaf.URIs, leaf.DNSNames, id)
	}
	if d := leaf.NotAfter.Sub(time.Now()); d > time.Hour+time.Minute || d < 59*time.Minute {
		t.Fatalf("certificate valid for %s, asked for 1h", d)
	}
	if err := verify(leaf, inter, a.Bundle().RootsPEM(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, err = call("good", csrPEM(t, key, nil, nil, nil), 0); err != nil {
		t.Fatal(err)
	}
	leaf, _ = leafFor(t, resp.CertChain)
	if leaf.URIs[0].String() != id || leaf.NotAfter.Sub(time.Now()) < DefaultWorkloadTTL-time.Hour {
		t.Fatalf("a CSR without SANs gets %v for %s, want %s for the default TTL", leaf.URIs, leaf.NotAfter.Sub(time.Now()), id)
	}

	badSig := csrPEM(t, key, []string{id}, nil, nil)
	blk, _ := pem.Decode([]byte(badSig))
	blk.Bytes[len(blk.Bytes)-5] ^= 0xff
	badSig = string(pem.EncodeToMemory(blk))

	for _, tc := range []struct {
		name, token, csr string
		ttl              int64
		code             codes.Code
		reason           string
	}{
		{"no token", "", csrPEM(t, key, []string{id}, nil, nil), 0, codes.Unauthenticated, ReasonNoToken},
		{"unknown token", "stolen", csrPEM(t, key, []string{id}, nil, nil), 0, codes.Unauthenticated, ReasonBadToken},
		{"other service account", "good", csrPEM(t, key, []string{SPIFFEID("example.test", "shop", "admin")}, nil, nil), 0, codes.PermissionDenied, ReasonIdentity},
		{"other namespace", "good", csrPEM(t, key, []string{SPIFFEID("example.test", "bank", "cart")}, nil, nil), 0, codes.PermissionDenied, ReasonIdentity},
		{"other trust domain", "good", csrPEM(t, key, []string{SPIFFEID("evil.test", "shop", "cart")}, nil, nil), 0, codes.PermissionDenied, ReasonIdentity},
		{"extra URI", "good", csrPEM(t, key, []string{id, SPIFFEID("example.test", "shop", "admin")}, nil, nil), 0, codes.PermissionDenied, ReasonIdentity},
		{"extra DNS name", "good", csrPEM(t, key, []string{id}, []string{"bank.example.com"}, nil), 0, codes.PermissionDenied, ReasonIdentity},
		{"extra IP", "good", csrPEM(t, key, []string{id}, nil, []net.IP{net.ParseIP("10.0.0.1")}), 0, codes.PermissionDenied, ReasonIdentity},
		{"bad signature", "good", badSig, 0, codes.InvalidArgument, ReasonCSRSignature},
		{"not PEM", "good", "hello", 0, codes.InvalidArgument, ReasonBadCSR},
		{"oversized", "good", strings.Repeat("A", MaxCSRBytes+1), 0, codes.InvalidArgument, ReasonCSRTooLarge},
		{"TTL too long", "good", csrPEM(t, key, []string{id}, nil, nil), int64((DefaultMaxWorkloadTTL + time.Hour) / time.Second), codes.InvalidArgument, ReasonTTL},
		{"negative TTL", "good", csrPEM(t, key, []string{id}, nil, nil), -5, codes.InvalidArgument, ReasonTTL},
	} {
		before := testutil.ToFloat64(svc.Metrics.Refused.WithLabelValues(tc.reason))
		_, err := call(tc.token, tc.csr, tc.ttl)
		if status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want code %s", tc.name, err, tc.code)
		}
		if after := testutil.ToFloat64(svc.Metrics.Refused.WithLabelValues(tc.reason)); after != before+1 {
			t.Errorf("%s: refusal not counted under reason %s", tc.name, tc.reason)
		}
	}
	if n := testutil.ToFloat64(svc.Metrics.Issued); n != 2 {
		t.Errorf("issued counter %v, want 2", n)
	}
}

func TestServingCertRenewsOnRotation(t *testing.T) {
	a := newCA(t, fake.NewClientset(), nil)
	s := &ServingCert{CA: a, DNSNames: ServiceDNSNames("meshctl-server", ns)}
	c1, err := s.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if c1.Leaf.DNSNames[0] != "meshctl-server.mesh-system.svc" {
		t.Fatalf("names %v", c1.Leaf.DNSNames)
	}
	if c2, _ := s.Certificate(); c2 != c1 {
		t.Fatal("a fresh certificate was reissued")
	}
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	c3, _ := s.Certificate()
	if c3 == c1 || c3.Leaf.CheckSignatureFrom(a.Bundle().Signer) != nil {
		t.Fatal("serving certificate not reissued by the new root")
	}
}

func TestParseSPIFFEID(t *testing.T) {
	td, c, err := ParseSPIFFEID("spiffe://cluster.local/ns/shop/sa/cart")
	if err != nil || td != "cluster.local" || c != (Caller{Namespace: "shop", ServiceAccount: "cart"}) {
		t.Fatalf("got %q %v %v", td, c, err)
	}
	for _, bad := range []string{
		"https://cluster.local/ns/shop/sa/cart", "spiffe:///ns/shop/sa/cart", "spiffe://cluster.local/ns/shop",
		"spiffe://cluster.local/ns//sa/cart", "spiffe://cluster.local/sa/cart/ns/shop", "spiffe://cluster.local/ns/shop/sa/cart/extra",
		"spiffe://cluster.local/ns/shop/sa/cart?x=1",
	} {
		if _, _, err := ParseSPIFFEID(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestCertCallerWantsOneIdentityOfTheTrustDomain(t *testing.T) {
	cert := func(uris ...string) *x509.Certificate {
		c := &x509.Certificate{}
		for _, u := range uris {
			p, _ := url.Parse(u)
			c.URIs = append(c.URIs, p)
		}
		return c
	}
	if c, err := CertCaller(cert("spiffe://mesh.example/ns/a/sa/b"), "mesh.example"); err != nil || c.Namespace != "a" || c.ServiceAccount != "b" {
		t.Fatalf("got %v %v", c, err)
	}
	for name, c := range map[string]*x509.Certificate{
		"no identity":        cert(),
		"two identities":     cert("spiffe://mesh.example/ns/a/sa/b", "spiffe://mesh.example/ns/c/sa/d"),
		"other trust domain": cert("spiffe://other.example/ns/a/sa/b"),
	} {
		if _, err := CertCaller(c, "mesh.example"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
