package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"
)

// ServiceDNSNames are the names clients use for a Service: the API server
// checks webhook certificates for <svc>.<ns>.svc, pods dial the short and
// fully qualified forms.
func ServiceDNSNames(service, namespace string) []string {
	return []string{
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
		service + "." + namespace,
		service,
	}
}

// ServingCert is the server's own certificate for its Service names (CSR
// service, xDS over TLS, webhooks), issued by the mesh CA and renewed at half
// life or as soon as the CA's signer changes.
type ServingCert struct {
	CA       *Authority
	DNSNames []string
	// TTL of each certificate; 0 means the CA's workload TTL.
	TTL time.Duration

	mu     sync.Mutex
	cert   *tls.Certificate
	signer *x509.Certificate
	renew  time.Time
}

// GetCertificate fits tls.Config.GetCertificate.
func (s *ServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Certificate()
}

// Certificate returns a current certificate, issuing one when needed.
func (s *ServingCert) Certificate() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.CA.Bundle()
	now := s.CA.opts.Now()
	if s.cert != nil && b != nil && s.signer.Equal(b.Signer) && now.Before(s.renew) {
		return s.cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = s.CA.opts.WorkloadTTL
	}
	if b == nil {
		return nil, errNotLoaded
	}
	chain, leaf, err := b.sign(key.Public(), SignOptions{DNSNames: s.DNSNames, TTL: ttl, Server: true}, now)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, p := range chain {
		blocks, _ := parseCerts([]byte(p), "chain")
		c.Certificate = append(c.Certificate, blocks[0].Raw)
	}
	s.cert, s.signer = c, b.Signer
	s.renew = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	return c, nil
}

// TLSConfig serves the current certificate to every client.
func (s *ServingCert) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}

// MutualTLSConfig is TLSConfig that also verifies a client certificate, when
// the client presents one, against the CA's current trust bundle (read at
// each handshake, so a rotation's old and new roots both verify). A client
// without one is let through: a workload asks for its first certificate with
// only its token, so each service decides what an unauthenticated TLS peer
// may do.
func (s *ServingCert) MutualTLSConfig() *tls.Config {
	base := s.TLSConfig()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := s.TLSConfig()
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if b := s.CA.Bundle(); b != nil {
			c.ClientCAs = b.RootPool()
		} else {
			c.ClientCAs = x509.NewCertPool()
		}
		return c, nil
	}
	return base
}
