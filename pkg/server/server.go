// Package server is `meshctl server`'s xDS half: it watches the cluster into
// the live config store, translates each new snapshot (pkg/xds/translate →
// pkg/xds/generate) for the views of the connected clients and serves them
// over ADS (pkg/xds/transport), with a monitoring port for readiness,
// Prometheus metrics and the debug pages proxy-status and proxy-config read.
//
// Flow, one direction only:
//
//	informers → live store → snapshot → Pusher (translate, validate, diff) → views → ADS streams
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/validation"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// Default addresses: 15010 is the plaintext xDS port injected proxies are
// told, 15014 the control plane's monitoring port (as in Istio).
const (
	DefaultXDSAddress        = ":15010"
	DefaultMonitoringAddress = ":15014"
)

// Options configure a Server.
type Options struct {
	XDSAddress        string
	MonitoringAddress string
	// MeshNamespace holds the mesh ConfigMap and mesh-wide policies.
	MeshNamespace string
	// RootNamespace holds mesh-wide policies (PeerAuthentication,
	// AuthorizationPolicy): the mesh config's rootNamespace
	// (ReadMeshConfig); "" means MeshNamespace.
	RootNamespace string
	// TrustDomain of workload identities (the mesh config's); "" is
	// cluster.local.
	TrustDomain string
	// Revision names the mesh ConfigMap whose rootNamespace and
	// trustDomain translation follows at runtime (RootNamespace and
	// TrustDomain are used until it is read).
	Revision string
	Kube     kubernetes.Interface
	// Custom lists and watches the mesh API's kinds.
	Custom config.CustomResources
	Log    logr.Logger
	// Name identifies this server in syncz and proxy-status (pod name).
	Name string
}

// Server is a running xDS server.
type Server struct {
	opts    Options
	Pusher  *Pusher
	Views   *transport.Views
	Status  *transport.Status
	Metrics *transport.Metrics
	reg     *prometheus.Registry
	live    *config.LiveStore

	xdsLis, monLis net.Listener
	synced         func() bool
}

// New binds both ports (so that an address in use fails at once, before any
// watch starts) and prepares the server.
func New(o Options) (*Server, error) {
	if o.XDSAddress == "" {
		o.XDSAddress = DefaultXDSAddress
	}
	if o.MonitoringAddress == "" {
		o.MonitoringAddress = DefaultMonitoringAddress
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := transport.NewMetrics(reg)
	p := &Pusher{Metrics: m, Log: o.Log, Validate: validate, RootNamespace: cmp.Or(o.RootNamespace, o.MeshNamespace), TrustDomain: o.TrustDomain}
	if o.MeshNamespace != "" {
		p.MeshConfig = meshSettingsFrom(o.MeshNamespace, o.Revision, func(err error) {
			o.Log.Info("mesh config not applied, the last one stays in force", "error", err.Error())
		})
	}
	views := transport.NewViews(p.Populate, nil)
	p.Views = views
	s := &Server{opts: o, Pusher: p, Views: views, Status: transport.NewStatus(m, views), Metrics: m, reg: reg, live: config.NewLiveStore()}
	s.Status.OnNACK = func(ps transport.ProxyStatus, typeURL, msg string) {
		o.Log.Info("config rejected by proxy (NACK); it keeps its last accepted config", "proxy", ps.ID, "type", typeURL, "error", msg)
	}
	var err error
	if s.xdsLis, err = net.Listen("tcp", o.XDSAddress); err != nil {
		return nil, fmt.Errorf("xDS address %s: %w (choose another with --xds-address)", o.XDSAddress, err)
	}
	if s.monLis, err = net.Listen("tcp", o.MonitoringAddress); err != nil {
		s.xdsLis.Close()
		return nil, fmt.Errorf("monitoring address %s: %w (choose another with --monitoring-address)", o.MonitoringAddress, err)
	}
	return s, nil
}

// XDSAddr is the bound xDS address.
func (s *Server) XDSAddr() string { return s.xdsLis.Addr().String() }

// MonitoringAddr is the bound monitoring address.
func (s *Server) MonitoringAddr() string { return s.monLis.Addr().String() }

// Ready reports whether the informers synced and a snapshot was published.
func (s *Server) Ready() bool {
	return s.synced != nil && s.synced() && s.Pusher.Ready()
}

// Run watches, translates and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	mon := &Monitor{Name: s.opts.Name, Status: s.Status, Views: s.Views, Pusher: s.Pusher, Gatherer: s.reg, Ready: s.Ready}
	hs := &http.Server{Handler: mon.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := hs.Serve(s.monLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("monitoring: %w", err)
		}
		return nil
	})
	gs := transport.NewGRPCServer(ctx, s.Views, s.Status)
	g.Go(func() error {
		if err := transport.Serve(ctx, gs, s.xdsLis); err != nil {
			return fmt.Errorf("xDS: %w", err)
		}
		return nil
	})
	synced, err := s.watch(ctx, g)
	if err != nil {
		return err
	}
	s.synced = synced
	g.Go(func() error { s.pushLoop(ctx, synced); return nil })
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	s.opts.Log.Info("serving", "xds", s.XDSAddr(), "monitoring", s.MonitoringAddr())
	return g.Wait()
}

// pushLoop publishes the live store's snapshots: once every informer synced,
// then at every change. Signals coalesce, so a burst of events becomes one
// translation of the latest snapshot, and a lone event is translated at
// once.
func (s *Server) pushLoop(ctx context.Context, synced func() bool) {
	signal, cancel := s.live.Subscribe()
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !synced() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	s.Pusher.Update(s.live.Snapshot())
	s.opts.Log.Info("informers synced; first snapshot published")
	for {
		select {
		case <-ctx.Done():
			return
		case <-signal:
			s.Pusher.Update(s.live.Snapshot())
		}
	}
}

// validate keeps objects validation would reject away from clients.
func validate(r *config.Resource) error {
	issues := validation.Validate(r)
	for _, is := range issues {
		if is.Severity == validation.SeverityError {
			return errors.New(is.String())
		}
	}
	return nil
}
