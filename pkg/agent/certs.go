package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// Cert is a workload certificate with its key and the trust bundle.
type Cert struct {
	ChainPEM []byte
	KeyPEM   []byte
	RootPEM  []byte
	Leaf     *x509.Certificate
}

// CAClient asks the mesh CA for certificates with Istio's certificate API
// (IstioCertificateService.CreateCertificate over gRPC and TLS).
type CAClient struct {
	// Address is host:port of the CA (the control plane's :15012).
	Address string
	// Roots verify the CA's serving certificate: the mesh root.
	Roots *x509.CertPool
	// ServerName overrides the name checked in the CA's certificate
	// (default: the host of Address).
	ServerName string
	// Token returns the pod's projected service-account token; it is read
	// for every request because the kubelet rotates it.
	Token func() (string, error)
	// Identity is the SPIFFE id asked for; the CA signs only what the token
	// proves.
	Identity string
	// ClusterID is sent as Istio's agent does, for multi-cluster CAs.
	ClusterID string
	// TTL asked for; 0 lets the CA choose.
	TTL time.Duration
	// DialOptions are added to the connection's (tests dial in memory).
	DialOptions []grpc.DialOption

	mu   sync.Mutex
	conn *grpc.ClientConn
}

func (c *CAClient) client() (securityv1alpha1.IstioCertificateServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		name := c.ServerName
		if name == "" {
			name, _, _ = strings.Cut(c.Address, ":")
		}
		creds := credentials.NewTLS(&tls.Config{RootCAs: c.Roots, ServerName: name, MinVersion: tls.VersionTLS12})
		// passthrough: the dialer resolves the Service name at each
		// connection, which follows the control plane when it moves.
		conn, err := grpc.NewClient("passthrough:///"+c.Address, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, c.DialOptions...)...)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	return securityv1alpha1.NewIstioCertificateServiceClient(c.conn), nil
}

// Close ends the connection to the CA.
func (c *CAClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Fetch creates a key and has the CA sign it.
func (c *CAClient) Fetch(ctx context.Context) (*Cert, error) {
	token, err := c.Token()
	if err != nil {
		return nil, fmt.Errorf("reading the service-account token: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.Identity)
	if err != nil {
		return nil, fmt.Errorf("identity %q: %v", c.Identity, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, URIs: []*url.URL{u}}, key)
	if err != nil {
		return nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	md := metadata.Pairs("authorization", "Bearer "+token)
	if c.ClusterID != "" {
		md.Append("ClusterID", c.ClusterID)
	}
	resp, err := cl.CreateCertificate(metadata.NewOutgoingContext(ctx, md), &securityv1alpha1.IstioCertificateRequest{
		Csr:              string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		ValidityDuration: int64(c.TTL / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("certificate request to the CA at %s: %w", c.Address, err)
	}
	if len(resp.GetCertChain()) == 0 {
		return nil, fmt.Errorf("the CA at %s answered with an empty certificate chain", c.Address)
	}
	var chain []byte
	for _, p := range resp.GetCertChain() {
		chain = append(chain, []byte(strings.TrimRight(p, "\n")+"\n")...)
	}
	block, _ := pem.Decode(chain)
	if block == nil {
		return nil, errors.New("the CA's certificate chain is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Cert{ChainPEM: chain, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), Leaf: leaf}, nil
}

// RenewAt is when a certificate is replaced: at half its lifetime, as
// Istio's agent does, so a CA outage of up to half a lifetime goes unnoticed.
func RenewAt(leaf *x509.Certificate) time.Time {
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
}

// Fetcher obtains a fresh certificate; CAClient.Fetch is the real one.
type Fetcher func(ctx context.Context) (*Cert, error)

// CertManager keeps a current certificate and hands every new one to the
// consumers (the SDS server, the proxyless files).
type CertManager struct {
	Fetch Fetcher
	// Roots returns the current trust bundle (the mounted root ConfigMap).
	Roots func() ([]byte, error)
	// OnCert receives every new certificate, in order.
	OnCert []func(*Cert) error
	// Now and After are the clock; real time when nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// RetryMin is the first delay after a failure; it doubles up to a minute.
	RetryMin time.Duration
	// OnError is told about failures that will be retried.
	OnError func(error)

	mu      sync.Mutex
	current *Cert
	ready   chan struct{}
}

func (m *CertManager) init() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready == nil {
		m.ready = make(chan struct{})
	}
}

// Ready is closed once the first certificate has been delivered.
func (m *CertManager) Ready() <-chan struct{} {
	m.init()
	return m.ready
}

// Current is the certificate in use, nil before the first.
func (m *CertManager) Current() *Cert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current
}

// Run fetches, delivers and renews certificates until ctx ends.
func (m *CertManager) Run(ctx context.Context) error {
	m.init()
	after := m.After
	if after == nil {
		after = time.After
	}
	retry := m.RetryMin
	if retry <= 0 {
		retry = time.Second
	}
	backoff := retry
	for {
		wait, err := m.renew(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if m.OnError != nil {
				m.OnError(err)
			}
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = retry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-after(wait):
		}
	}
}

func (m *CertManager) renew(ctx context.Context) (time.Duration, error) {
	c, err := m.Fetch(ctx)
	if err != nil {
		return 0, err
	}
	if m.Roots != nil {
		roots, err := m.Roots()
		if err != nil {
			return 0, fmt.Errorf("reading the mesh root certificate: %w", err)
		}
		c.RootPEM = roots
	}
	for _, f := range m.OnCert {
		if err := f(c); err != nil {
			return 0, err
		}
	}
	m.mu.Lock()
	first := m.current == nil
	m.current = c
	m.mu.Unlock()
	if first {
		close(m.ready)
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return max(RenewAt(c.Leaf).Sub(now()), time.Second), nil
}

// WriteFiles writes the certificate for proxyless gRPC. Each file is
// replaced by a rename, so a reader never sees half a key; the key is
// written before the chain, so a watcher that sees a new chain finds its key.
func (f CertFiles) WriteFiles(c *Cert) error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{f.Key(), c.KeyPEM, 0o600}, {f.Chain(), c.ChainPEM, 0o644}, {f.Root(), c.RootPEM, 0o644}} {
		if len(w.data) == 0 {
			continue
		}
		tmp, err := os.CreateTemp(f.Dir, "."+filepath.Base(w.path)+".*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(w.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), w.mode)); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), w.path); err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}
