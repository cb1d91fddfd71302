package agent

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
)

// SDS serves the workload certificate and the trust bundle to Envoy over
// the pod-local Unix socket, with go-control-plane's SDS server.
type SDS struct {
	cache   cachev3.SnapshotCache
	version atomic.Int64
	grpc    *grpc.Server
}

// anyNode gives every client the same secrets: only the pod's own Envoy can
// reach the socket.
type anyNode struct{}

func (anyNode) ID(*corev3.Node) string { return "" }

// NewSDS returns an SDS server with no secrets yet; Update sets them.
func NewSDS() *SDS {
	s := &SDS{cache: cachev3.NewSnapshotCache(false, anyNode{}, nil)}
	s.grpc = grpc.NewServer()
	secretservice.RegisterSecretDiscoveryServiceServer(s.grpc, serverv3.NewServer(context.Background(), s.cache, nil))
	return s
}

// Update publishes c as the secrets "default" and "ROOTCA"; fits
// CertManager.OnCert.
func (s *SDS) Update(c *Cert) error {
	cert := &tlsv3.Secret{Name: SecretWorkload, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.ChainPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.KeyPEM}},
	}}}
	secrets := []types.Resource{cert}
	if len(c.RootPEM) > 0 {
		secrets = append(secrets, &tlsv3.Secret{Name: SecretRoot, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.RootPEM}},
		}}})
	}
	snap, err := cachev3.NewSnapshot(strconv.FormatInt(s.version.Add(1), 10), map[resource.Type][]types.Resource{resource.SecretType: secrets})
	if err != nil {
		return err
	}
	return s.cache.SetSnapshot(context.Background(), "", snap)
}

// Serve serves SDS on l until Stop.
func (s *SDS) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// ListenUnix removes a stale socket left by a previous run and listens at
// path.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return net.Listen("unix", path)
}

// Stop ends every stream.
func (s *SDS) Stop() { s.grpc.Stop() }
