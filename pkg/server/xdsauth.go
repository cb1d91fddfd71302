package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// Reasons an xDS stream on the TLS port is refused, the values of the
// reason label of meshctl_xds_auth_refused_total.
const (
	XDSRefusedNoCredentials = "no_credentials"
	XDSRefusedBadCert       = "bad_certificate"
	XDSRefusedBadToken      = "bad_token"
	XDSRefusedTokenReview   = "token_review_failed"
	XDSRefusedNodeMismatch  = "node_mismatch"
)

// XDSAuth authenticates the xDS streams of the TLS port: the client proves a
// workload identity with its mesh certificate (verified by the TLS handshake
// against the mesh roots) or, lacking one, with its projected token, and may
// then only speak as a node of that identity's namespace and service
// account. Without it, any pod could ask for another namespace's config.
type XDSAuth struct {
	// TrustDomain is the mesh's, read at each stream (the mesh config may change).
	TrustDomain func() string
	// Tokens proves bearer tokens (TokenReview with the mesh audience).
	Tokens ca.Authenticator
	// Refused counts refusals by reason; nil counts nothing.
	Refused *prometheus.CounterVec
}

// NewXDSAuthMetrics registers the refusal counter with reg (nil: not registered).
func NewXDSAuthMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshctl_xds_auth_refused_total",
		Help: "xDS streams on the TLS port refused, by reason.",
	}, []string{"reason"})
	for _, r := range []string{XDSRefusedNoCredentials, XDSRefusedBadCert, XDSRefusedBadToken, XDSRefusedTokenReview, XDSRefusedNodeMismatch} {
		v.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(v)
	}
	return v
}

// xdsServicePrefix starts the full method name of every discovery service
// (ADS, and the per-type CDS/EDS/LDS/RDS); the CA's service checks its token
// itself.
const xdsServicePrefix = "/envoy.service."

// StreamInterceptor applies the checks to xDS streams and passes every other
// stream through.
func (a *XDSAuth) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !strings.HasPrefix(info.FullMethod, xdsServicePrefix) {
			return handler(srv, ss)
		}
		caller, how, err := a.authenticate(ss.Context())
		if err != nil {
			return err
		}
		ns := &nodeCheckedStream{ServerStream: ss, auth: a, caller: caller, how: how}
		err = handler(srv, ns)
		// go-control-plane ends a stream whose Recv failed as if the client
		// had closed it: the refusal must reach the client as the status.
		if refused := ns.refused.Load(); refused != nil {
			return *refused
		}
		return err
	}
}

func (a *XDSAuth) refuse(reason string, code codes.Code, format string, args ...any) error {
	if a.Refused != nil {
		a.Refused.WithLabelValues(reason).Inc()
	}
	return status.Errorf(code, format, args...)
}

// authenticate finds who the peer is: a verified client certificate wins
// over a token.
func (a *XDSAuth) authenticate(ctx context.Context) (ca.Caller, string, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			leaf := ti.State.VerifiedChains[0][0]
			c, err := ca.CertCaller(leaf, a.TrustDomain())
			if err != nil {
				return ca.Caller{}, "", a.refuse(XDSRefusedBadCert, codes.Unauthenticated, "client certificate: %v", err)
			}
			return c, "certificate " + certName(leaf), nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var token string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
	}
	if token == "" {
		return ca.Caller{}, "", a.refuse(XDSRefusedNoCredentials, codes.Unauthenticated,
			"xDS over TLS needs a workload certificate from the mesh CA (the agent's) or the pod's projected token as `authorization: Bearer` metadata")
	}
	c, err := a.Tokens.Authenticate(ctx, token)
	if err != nil {
		if errors.Is(err, ca.ErrToken) {
			return ca.Caller{}, "", a.refuse(XDSRefusedBadToken, codes.Unauthenticated, "%v", err)
		}
		return ca.Caller{}, "", a.refuse(XDSRefusedTokenReview, codes.Unavailable, "%v", err)
	}
	return c, "token of " + c.Namespace + "/" + c.ServiceAccount, nil
}

func certName(c *x509.Certificate) string {
	if len(c.URIs) == 1 {
		return c.URIs[0].String()
	}
	return c.Subject.String()
}

// checkNode refuses a node that claims another namespace or service account
// than the caller proved. The namespace is the one the server serves the node
// config for (transport.ParseNode: node id, else NAMESPACE metadata, else
// "default"); the service account is checked when the node names one.
func (a *XDSAuth) checkNode(n *core.Node, caller ca.Caller, how string) error {
	parsed := transport.ParseNode(n)
	sa := n.GetMetadata().GetFields()["SERVICE_ACCOUNT"].GetStringValue()
	if parsed.Namespace != caller.Namespace || (sa != "" && sa != caller.ServiceAccount) {
		claim := "namespace " + parsed.Namespace
		if sa != "" {
			claim += ", service account " + sa
		}
		return a.refuse(XDSRefusedNodeMismatch, codes.PermissionDenied,
			"node %q claims %s, but the %s proves %s/%s", n.GetId(), claim, how, caller.Namespace, caller.ServiceAccount)
	}
	return nil
}

// nodeCheckedStream checks the node of every request that carries one, and
// of the first request in any case (the server keeps the first node it saw).
type nodeCheckedStream struct {
	grpc.ServerStream
	auth    *XDSAuth
	caller  ca.Caller
	how     string
	checked bool
	refused atomic.Pointer[error]
}

func (s *nodeCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	var n *core.Node
	switch r := m.(type) {
	case *discovery.DiscoveryRequest:
		n = r.GetNode()
	case *discovery.DeltaDiscoveryRequest:
		n = r.GetNode()
	default:
		return fmt.Errorf("unexpected xDS message %T", m)
	}
	if n == nil && s.checked {
		return nil
	}
	if err := s.auth.checkNode(n, s.caller, s.how); err != nil {
		s.refused.Store(&err)
		return err
	}
	s.checked = true
	return nil
}
