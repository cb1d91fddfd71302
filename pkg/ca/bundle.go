// Package ca is the mesh's workload identity authority: it keeps the signing
// key and trust bundle in Secrets of the mesh namespace, signs workload
// certificates for exactly the SPIFFE identity a caller proves, publishes the
// trust bundle to every namespace and issues the server's own serving
// certificates.
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// Bundle is the signing material the CA works with at one moment.
type Bundle struct {
	// Signer signs workload certificates: the self-signed root, or the
	// plugged-in intermediate.
	Signer *x509.Certificate
	Key    crypto.Signer
	// Chain is what follows a leaf in a response: Signer, then any
	// intermediates up to and including the root.
	Chain []*x509.Certificate
	// Roots are trusted: the current root and, during a rotation's overlap
	// period, the previous ones.
	Roots []*x509.Certificate
	// Source names the Secret the material came from.
	Source string
}

// RootsPEM is the trust bundle as published in the root ConfigMap.
func (b *Bundle) RootsPEM() []byte {
	var buf bytes.Buffer
	for _, c := range b.Roots {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// RootPool is Roots as a pool for verification.
func (b *Bundle) RootPool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range b.Roots {
		p.AddCert(c)
	}
	return p
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts reads every CERTIFICATE block of data; where names the Secret
// key in errors.
func parseCerts(data []byte, where string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %v", where, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", where)
	}
	return out, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// newRoot makes a self-signed root valid for ttl.
func newRoot(trustDomain string, now time.Time, ttl time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		// The serial in the name tells rotated roots apart in tools that
		// show only subjects.
		Subject:               pkix.Name{Organization: []string{trustDomain}, CommonName: "meshctl root CA " + sn.Text(16)[:8]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// parseSigner reads a CA certificate and its key (PKCS#1, PKCS#8 or SEC 1)
// and checks they belong together.
func parseSigner(certPEM, keyPEM []byte, secret string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("secret %s: %s and %s: %v", secret, KeyCACert, KeyCAKey, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("secret %s: %s: %v", secret, KeyCACert, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("secret %s: %s is not a CA certificate (it needs basicConstraints CA:TRUE and keyUsage keyCertSign)", secret, KeyCACert)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("secret %s: %s is not a signing key", secret, KeyCAKey)
	}
	return cert, key, nil
}

// parseBundle turns the data of either CA Secret into a Bundle. now decides
// whether previous roots are still inside their overlap period.
func parseBundle(secret string, data map[string][]byte, annotations map[string]string, now time.Time) (*Bundle, error) {
	for _, k := range []string{KeyCACert, KeyCAKey} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("secret %s has no %s: it needs %s, %s, %s and (for an intermediate) %s", secret, k, KeyCACert, KeyCAKey, KeyRootCert, KeyCertChain)
		}
	}
	signer, key, err := parseSigner(data[KeyCACert], data[KeyCAKey], secret)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Signer: signer, Key: key, Source: secret}
	rootData := data[KeyRootCert]
	if len(rootData) == 0 {
		rootData = data[KeyCACert]
	}
	if b.Roots, err = parseCerts(rootData, "secret "+secret+": "+KeyRootCert); err != nil {
		return nil, err
	}
	b.Chain = []*x509.Certificate{signer}
	if len(data[KeyCertChain]) > 0 {
		chain, err := parseCerts(data[KeyCertChain], "secret "+secret+": "+KeyCertChain)
		if err != nil {
			return nil, err
		}
		// Istio's cert-chain.pem may or may not start with the signer itself.
		if chain[0].Equal(signer) {
			chain = chain[1:]
		}
		b.Chain = append(b.Chain, chain...)
	}
	if !signer.Equal(b.Roots[0]) || len(b.Chain) > 1 {
		inter := x509.NewCertPool()
		for _, c := range b.Chain[1:] {
			inter.AddCert(c)
		}
		if _, err := signer.Verify(x509.VerifyOptions{Roots: b.RootPool(), Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("secret %s: %s does not chain to %s through %s: %v", secret, KeyCACert, KeyRootCert, KeyCertChain, err)
		}
	}
	if until := annotations[AnnotationPreviousRootsUntil]; until != "" && len(data[KeyPreviousRoots]) > 0 {
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return nil, fmt.Errorf("secret %s: annotation %s: %v", secret, AnnotationPreviousRootsUntil, err)
		}
		if now.Before(t) {
			prev, err := parseCerts(data[KeyPreviousRoots], "secret "+secret+": "+KeyPreviousRoots)
			if err != nil {
				return nil, err
			}
			for _, p := range prev {
				if now.Before(p.NotAfter) {
					b.Roots = append(b.Roots, p)
				}
			}
		}
	}
	return b, nil
}

// Errors of Sign, told apart by the CSR service to answer and count them.
var (
	ErrCSRSignature = errors.New("the CSR's signature does not verify")
	ErrCSRIdentity  = errors.New("the CSR asks for an identity the caller has not proven")
	ErrTTL          = errors.New("requested validity exceeds the maximum")
)

// SignOptions says what a workload certificate is for.
type SignOptions struct {
	// URIs are the only SANs of the certificate (the SPIFFE identity).
	URIs []string
	// DNSNames are added for serving certificates the CA issues to itself.
	DNSNames []string
	TTL      time.Duration
	// Server makes a serving-only certificate (the server's own).
	Server bool
}

// sign issues a certificate for pub, capped at the signer's own lifetime,
// and returns the chain as PEM certificates, leaf first and root last (the
// order of Istio's IstioCertificateResponse).
func (b *Bundle) sign(pub crypto.PublicKey, o SignOptions, now time.Time) ([]string, *x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(o.TTL)
	if notAfter.After(b.Signer.NotAfter) {
		notAfter = b.Signer.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		// A little backdating absorbs clock skew between nodes.
		NotBefore:   now.Add(-2 * time.Minute),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    o.DNSNames,
	}
	if o.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if len(o.DNSNames) > 0 {
			tmpl.Subject.CommonName = o.DNSNames[0]
		}
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, nil, err
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.Signer, pub, b.Key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	out := []string{string(encodeCert(der))}
	for _, c := range b.Chain {
		out = append(out, string(encodeCert(c.Raw)))
	}
	if last := b.Chain[len(b.Chain)-1]; !last.Equal(b.Roots[0]) {
		out = append(out, string(encodeCert(b.Roots[0].Raw)))
	}
	return out, leaf, nil
}
