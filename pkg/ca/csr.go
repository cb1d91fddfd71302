package ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Caller is the workload a token proves.
type Caller struct{ Namespace, ServiceAccount string }

// Authenticator proves who presents a bearer token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Caller, error)
}

// TokenReviewAuthenticator asks the API server whether a projected
// service-account token is valid for one of Audiences.
type TokenReviewAuthenticator struct {
	Client    kubernetes.Interface
	Audiences []string
}

// ErrToken marks a token the API server did not accept, as opposed to the API
// server being unreachable.
var ErrToken = errors.New("token rejected")

// Authenticate implements Authenticator.
func (t TokenReviewAuthenticator) Authenticate(ctx context.Context, token string) (Caller, error) {
	tr, err := t.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: t.Audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return Caller{}, fmt.Errorf("token review: %w", err)
	}
	st := tr.Status
	if !st.Authenticated {
		msg := st.Error
		if msg == "" {
			msg = "not authenticated"
		}
		return Caller{}, fmt.Errorf("%w: %s", ErrToken, msg)
	}
	// The API server answers with the audiences the token is valid for; an
	// empty intersection means it was issued for someone else.
	matched := false
	for _, a := range st.Audiences {
		for _, want := range t.Audiences {
			matched = matched || a == want
		}
	}
	if !matched {
		return Caller{}, fmt.Errorf("%w: token is not for audience %s", ErrToken, strings.Join(t.Audiences, ","))
	}
	// Service-account usernames are system:serviceaccount:<ns>:<name>
	// (Kubernetes' authentication docs); nothing else is a workload.
	parts := strings.Split(st.User.Username, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" || parts[2] == "" || parts[3] == "" {
		return Caller{}, fmt.Errorf("%w: %s is not a service account", ErrToken, st.User.Username)
	}
	return Caller{Namespace: parts[2], ServiceAccount: parts[3]}, nil
}

// Refusal reasons, the values of the reason label of the refusal metric.
const (
	ReasonNoToken       = "no_token"
	ReasonBadToken      = "bad_token"
	ReasonTokenReview   = "token_review_failed"
	ReasonBadCSR        = "bad_csr"
	ReasonCSRTooLarge   = "csr_too_large"
	ReasonCSRSignature  = "csr_signature"
	ReasonIdentity      = "identity_mismatch"
	ReasonTTL           = "ttl_too_long"
	ReasonSigningFailed = "signing_failed"
)

// Metrics of the CSR service.
type Metrics struct {
	Issued  prometheus.Counter
	Refused *prometheus.CounterVec
	Latency prometheus.Histogram
}

// NewMetrics registers the CSR metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshctl_ca_certificates_issued_total", Help: "Workload certificates signed.",
		}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_ca_csr_refused_total", Help: "Certificate requests refused, by reason.",
		}, []string{"reason"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meshctl_ca_csr_duration_seconds", Help: "Time to answer a certificate request, token review included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, r := range []string{ReasonNoToken, ReasonBadToken, ReasonTokenReview, ReasonBadCSR, ReasonCSRTooLarge, ReasonCSRSignature, ReasonIdentity, ReasonTTL, ReasonSigningFailed} {
		m.Refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Issued, m.Refused, m.Latency)
	}
	return m
}

// CSRService implements Istio's IstioCertificateService: a workload sends a
// CSR with its projected token as `authorization: Bearer` metadata and gets
// a certificate for exactly the SPIFFE identity the token proves.
type CSRService struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	CA      *Authority
	Auth    Authenticator
	Metrics *Metrics
}

// Register adds the service to a gRPC server (the xDS server shares it).
func (s *CSRService) Register(g grpc.ServiceRegistrar) {
	securityv1alpha1.RegisterIstioCertificateServiceServer(g, s)
}

// NewTLSServer returns a gRPC server that speaks TLS with the server's own
// certificate, for :15012; register the CSR service (and xDS) on it.
func NewTLSServer(cert *ServingCert, opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(cert.TLSConfig()))}, opts...)...)
}

func (s *CSRService) refuse(reason string, code codes.Code, format string, args ...any) error {
	s.Metrics.Refused.WithLabelValues(reason).Inc()
	return status.Errorf(code, format, args...)
}

// CreateCertificate implements IstioCertificateServiceServer.
func (s *CSRService) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	start := time.Now()
	defer func() { s.Metrics.Latency.Observe(time.Since(start).Seconds()) }()

	token := bearer(ctx)
	if token == "" {
		return nil, s.refuse(ReasonNoToken, codes.Unauthenticated, "no bearer token: send the projected service-account token as `authorization: Bearer <token>` metadata")
	}
	// The cheap checks come before the token review, so junk costs the API
	// server nothing.
	if len(req.GetCsr()) > MaxCSRBytes {
		return nil, s.refuse(ReasonCSRTooLarge, codes.InvalidArgument, "CSR of %d bytes exceeds the limit of %d", len(req.GetCsr()), MaxCSRBytes)
	}
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, s.refuse(ReasonBadCSR, codes.InvalidArgument, "csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, s.refuse(ReasonBadCSR, codes.InvalidArgument, "csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, s.refuse(ReasonCSRSignature, codes.InvalidArgument, "%v: %v", ErrCSRSignature, err)
	}
	ttl := time.Duration(req.GetValidityDuration()) * time.Second
	if req.GetValidityDuration() < 0 || ttl > s.CA.opts.MaxWorkloadTTL {
		return nil, s.refuse(ReasonTTL, codes.InvalidArgument, "validity_duration %ds is outside (0, %s]", req.GetValidityDuration(), s.CA.opts.MaxWorkloadTTL)
	}

	caller, err := s.Auth.Authenticate(ctx, token)
	if err != nil {
		if errors.Is(err, ErrToken) {
			return nil, s.refuse(ReasonBadToken, codes.Unauthenticated, "%v", err)
		}
		return nil, s.refuse(ReasonTokenReview, codes.Unavailable, "%v", err)
	}
	id := SPIFFEID(s.CA.opts.TrustDomain, caller.Namespace, caller.ServiceAccount)
	if err := onlyIdentity(csr, id); err != nil {
		return nil, s.refuse(ReasonIdentity, codes.PermissionDenied, "%v", err)
	}
	chain, err := s.CA.Sign(csr.PublicKey, SignOptions{URIs: []string{id}, TTL: ttl})
	if err != nil {
		return nil, s.refuse(ReasonSigningFailed, codes.Internal, "signing: %v", err)
	}
	s.Metrics.Issued.Inc()
	return &securityv1alpha1.IstioCertificateResponse{CertChain: chain}, nil
}

// onlyIdentity accepts a CSR whose SANs are id alone, or that has none (the
// certificate then carries id); every other name is refused rather than
// silently dropped, so a misconfigured client notices.
func onlyIdentity(csr *x509.CertificateRequest, id string) error {
	var foreign []string
	for _, u := range csr.URIs {
		if u.String() != id {
			foreign = append(foreign, u.String())
		}
	}
	foreign = append(foreign, csr.DNSNames...)
	foreign = append(foreign, csr.EmailAddresses...)
	for _, ip := range csr.IPAddresses {
		foreign = append(foreign, ip.String())
	}
	if len(foreign) > 0 || len(csr.URIs) > 1 {
		return fmt.Errorf("%w: the token proves %s, the CSR also asks for %s", ErrCSRIdentity, id, strings.Join(foreign, ", "))
	}
	return nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}
