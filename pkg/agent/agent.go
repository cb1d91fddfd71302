package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Mode is what the agent runs beside the app.
type Mode string

const (
	// ModeEnvoy runs Envoy as the pod's sidecar proxy.
	ModeEnvoy Mode = "sidecar"
	// ModeRouter runs Envoy as a gateway: the same agent, and a node id of
	// type router, from which the server builds gateway listeners.
	ModeRouter Mode = "router"
	// ModeGRPC runs no proxy: the app is a proxyless gRPC client and server
	// that reads the bootstrap and certificate files the agent writes.
	ModeGRPC Mode = "grpc"
)

// Config is everything the agent of one pod needs; the command fills it from
// the environment the injector set.
type Config struct {
	Mode     Mode
	Identity Identity
	// DiscoveryAddress is the control plane (xDS and CA), host:port.
	DiscoveryAddress string
	// RootCertFile is the mounted mesh root certificate.
	RootCertFile string

	// Certificates comes from the CA; a CertManager runs it.
	Certificates Fetcher

	// Envoy mode.
	Envoy          Envoy
	BootstrapPath  string
	SDSSocket      string
	AdminPort      int
	PrometheusPort int

	// gRPC mode: the bootstrap (GRPC_XDS_BOOTSTRAP) and the certificates.
	GRPCBootstrapPath string
	CertFiles         CertFiles

	// HealthListener serves /healthz/ready (15021); AgentListener serves
	// merged metrics and app probes (15020).
	HealthListener net.Listener
	AgentListener  net.Listener
	AgentOptions   AgentOptions

	// OnError is told about failures the agent retries (CA unreachable).
	OnError func(error)
}

// Run runs the agent until ctx ends or, with Envoy, until Envoy exits (its
// status is returned as *ExitError).
func Run(ctx context.Context, c Config) error {
	certs := &CertManager{Fetch: c.Certificates, OnError: c.OnError}
	if c.RootCertFile != "" {
		certs.Roots = func() ([]byte, error) { return os.ReadFile(c.RootCertFile) }
	}
	var ready ReadyFunc
	var sds *SDS
	switch c.Mode {
	case ModeEnvoy, ModeRouter:
		b, err := EnvoyBootstrap(EnvoyOptions{
			Kind: c.Mode, Identity: c.Identity, DiscoveryAddress: c.DiscoveryAddress, RootCertFile: c.RootCertFile,
			SDSSocket: c.SDSSocket, AdminPort: c.AdminPort, PrometheusPort: c.PrometheusPort,
		})
		if err != nil {
			return err
		}
		data, err := MarshalBootstrap(b)
		if err != nil {
			return err
		}
		if err := writeFile(c.BootstrapPath, data); err != nil {
			return fmt.Errorf("writing the Envoy bootstrap: %w", err)
		}
		sds = NewSDS()
		certs.OnCert = append(certs.OnCert, sds.Update)
		ready = EnvoyReady(c.Envoy.AdminURL)
	case ModeGRPC:
		data, err := GRPCBootstrap(c.Identity, c.DiscoveryAddress, c.CertFiles)
		if err != nil {
			return err
		}
		certs.OnCert = append(certs.OnCert, c.CertFiles.WriteFiles)
		var written atomic.Bool
		// The bootstrap is written once the certificate files exist, so an
		// app started by it never finds them missing.
		certs.OnCert = append(certs.OnCert, func(*Cert) error {
			if written.Load() {
				return nil
			}
			if err := writeFile(c.GRPCBootstrapPath, data); err != nil {
				return fmt.Errorf("writing the gRPC bootstrap: %w", err)
			}
			written.Store(true)
			return nil
		})
		ready = func(context.Context) error {
			if !written.Load() {
				return errors.New("no workload certificate yet: the gRPC bootstrap is not written")
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown agent mode %q (want %s, %s or %s)", c.Mode, ModeEnvoy, ModeRouter, ModeGRPC)
	}

	g, gctx := errgroup.WithContext(ctx)
	// Servers stop when the agent stops, not when the drain begins: the
	// kubelet keeps probing while Envoy drains.
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	var servers []*http.Server
	serve := func(l net.Listener, h http.Handler) {
		if l == nil {
			return
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return serveCtx }}
		servers = append(servers, s)
		go func() { _ = s.Serve(l) }()
	}
	serve(c.HealthListener, HealthHandler(ready))
	serve(c.AgentListener, AgentHandler(c.AgentOptions))
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()

	certCtx, stopCerts := context.WithCancel(context.Background())
	defer stopCerts()
	certsDone := make(chan struct{})
	go func() { _ = certs.Run(certCtx); close(certsDone) }()
	defer func() { stopCerts(); <-certsDone }()

	if sds != nil {
		l, err := ListenUnix(c.SDSSocket)
		if err != nil {
			return fmt.Errorf("listening for SDS on %s: %w", c.SDSSocket, err)
		}
		go func() { _ = sds.Serve(l) }()
		defer sds.Stop()
		g.Go(func() error {
			// Envoy starts once it can get its certificate: started earlier, it
			// would only report the missing secret.
			select {
			case <-certs.Ready():
			case <-gctx.Done():
				return nil
			}
			return c.Envoy.Run(ctx)
		})
	} else {
		g.Go(func() error { <-gctx.Done(); return nil })
	}
	err := g.Wait()
	var ee *ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return err
	}
	if err != nil && !errors.As(err, &ee) {
		return err
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
