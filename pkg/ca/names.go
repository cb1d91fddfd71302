package ca

import (
	"time"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Secrets and keys of the mesh CA. The keys of the plugged-in Secret are
// Istio's (`cacerts`), so a Secret made for istiod works unchanged.
const (
	// SelfSignedSecretName holds the root the server generates on first start.
	SelfSignedSecretName = vocab.CASecretName
	// PluggedSecretName holds a user-supplied intermediate; it takes
	// precedence over the self-signed root whenever it exists.
	PluggedSecretName = vocab.CAPluggedSecretName

	KeyCACert    = "ca-cert.pem"
	KeyCAKey     = "ca-key.pem"
	KeyRootCert  = "root-cert.pem"
	KeyCertChain = "cert-chain.pem"
	// KeyPreviousRoots holds roots replaced by a rotation; they stay trusted
	// until AnnotationPreviousRootsUntil.
	KeyPreviousRoots = "previous-root-certs.pem"
	// AnnotationPreviousRootsUntil (RFC 3339) ends the overlap period.
	AnnotationPreviousRootsUntil = vocab.AnnotationCAPreviousRootsUntil

	// RootConfigMapKey is the key of the published trust bundle in the
	// root ConfigMap injected pods mount (inject.Config.RootCertConfigMap).
	RootConfigMapKey = vocab.RootCertKey
	// LabelRootConfigMap marks root ConfigMaps the server publishes.
	LabelRootConfigMap = vocab.LabelCARootConfigMap
)

// Defaults of the CA.
const (
	DefaultWorkloadTTL    = 24 * time.Hour
	DefaultMaxWorkloadTTL = 90 * 24 * time.Hour
	DefaultRootTTL        = 10 * 365 * 24 * time.Hour
	// MaxCSRBytes bounds a CSR: a P-256 or RSA-4096 CSR with one SAN is well
	// under 4 KiB; anything near this is not a workload's request.
	MaxCSRBytes = 32 << 10
)
