package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhook"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// DefaultSecureGRPCAddress serves the CSR service (and xDS over TLS) with
// the server's mesh-CA certificate.
const DefaultSecureGRPCAddress = ":15012"

// Identity is the workload-identity half of `meshctl server`: the mesh CA
// (root in a Secret, published to every namespace), the CSR service over
// TLS and the injection and validation webhooks. Setup builds it; the xDS
// half may register its services on GRPC before Run serves.
type Identity struct {
	Client        kubernetes.Interface
	MeshNamespace string
	Revision      string
	// ServiceName is the server's Service: its DNS names are on the serving
	// certificate.
	ServiceName string
	// ExtraDNSNames are also on the serving certificate, for clients that
	// reach the server by another name (a server run out of the cluster).
	ExtraDNSNames []string
	// InjectConfig is the revision's injection config (the mesh ConfigMap);
	// its trust domain, token audience and root ConfigMap configure the CA.
	InjectConfig func() inject.Config
	WorkloadTTL  time.Duration

	// Listeners, or addresses to listen on (defaults :15012 and :15017).
	SecureGRPCListener net.Listener
	SecureGRPCAddress  string
	WebhookListener    net.Listener
	WebhookAddress     string

	Registry prometheus.Registerer
	// OnError hears about failures that are retried; may be nil.
	OnError func(error)
	// Leader, if set, runs the writes (root certificate ConfigMaps, webhook
	// configurations) only while this replica leads; nil writes always
	// (one server). Serving never waits for it.
	Leader *LeaderElection

	// Set by Setup.
	CA      *ca.Authority
	Cert    *ca.ServingCert
	GRPC    *grpc.Server
	Metrics *ca.Metrics
	XDSAuth *XDSAuth
	webhook *webhook.Server
}

// Setup loads (or creates) the CA and builds the servers.
func (i *Identity) Setup(ctx context.Context) error {
	cfg := i.InjectConfig()
	i.CA = ca.New(i.Client, ca.Options{Namespace: i.MeshNamespace, TrustDomain: cfg.TrustDomain, WorkloadTTL: i.WorkloadTTL})
	if err := i.CA.Load(ctx); err != nil {
		return err
	}
	i.Cert = &ca.ServingCert{CA: i.CA, DNSNames: append(ca.ServiceDNSNames(i.ServiceName, i.MeshNamespace), i.ExtraDNSNames...)}
	i.Metrics = ca.NewMetrics(i.Registry)
	tokens := ca.TokenReviewAuthenticator{Client: i.Client, Audiences: []string{cfg.TokenAudience}}
	csr := &ca.CSRService{CA: i.CA, Auth: tokens, Metrics: i.Metrics}
	i.XDSAuth = &XDSAuth{
		TrustDomain: func() string { return i.CA.Options().TrustDomain },
		Tokens:      tokens,
		Refused:     NewXDSAuthMetrics(i.Registry),
	}
	// One TLS server for the CA and xDS (RegisterXDS adds the latter): a
	// client certificate is verified when given, which xDS requires (or a
	// token) and the CA does not (a workload's first request has none).
	i.GRPC = grpc.NewServer(append(transport.ServerOptions(),
		grpc.Creds(credentials.NewTLS(i.Cert.MutualTLSConfig())),
		grpc.ChainStreamInterceptor(i.XDSAuth.StreamInterceptor()))...)
	csr.Register(i.GRPC)
	i.webhook = &webhook.Server{
		Client: i.Client, CA: i.CA, Cert: i.Cert, Revision: i.Revision, InjectConfig: i.InjectConfig,
		Listener: i.WebhookListener, Addr: i.WebhookAddress, OnError: i.OnError,
	}
	return nil
}

// Run serves until ctx ends or a listener fails.
func (i *Identity) Run(ctx context.Context) error {
	if i.CA == nil {
		if err := i.Setup(ctx); err != nil {
			return err
		}
	}
	ln := i.SecureGRPCListener
	if ln == nil {
		addr := i.SecureGRPCAddress
		if addr == "" {
			addr = DefaultSecureGRPCAddress
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	if i.webhook.Listener == nil && i.webhook.Addr == "" {
		i.webhook.Addr = webhookconfig.ListenAddress
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	publish := func(ctx context.Context) error {
		p := &ca.RootPublisher{Client: i.Client, CA: i.CA, ConfigMap: i.InjectConfig().RootCertConfigMap}
		if i.OnError != nil {
			p.OnError = func(ns string, err error) { i.OnError(err) }
		}
		return p.Run(ctx)
	}
	run(func() error { return i.CA.Run(ctx) })
	if i.Leader == nil {
		run(func() error { return publish(ctx) })
	} else {
		i.webhook.PatchElsewhere = true
		run(func() error { return i.Leader.Run(ctx, i.writes(publish)) })
	}
	run(func() error { return i.GRPC.Serve(ln) })
	run(func() error { return i.webhook.Run(ctx) })
	<-ctx.Done()
	i.GRPC.Stop()
	wg.Wait()
	return errors.Join(errs...)
}

// writes is what the leader does: publish the root certificate and keep
// the webhook configurations current, until leadership ends. A writer that
// fails gives leadership up (reported), for another replica to take.
func (i *Identity) writes(publish func(context.Context) error) func(context.Context) {
	return func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		for _, w := range []func(context.Context) error{publish, i.webhook.Patch} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w(ctx); err != nil && ctx.Err() == nil {
					if i.OnError != nil {
						i.OnError(err)
					}
					cancel()
				}
			}()
		}
		wg.Wait()
	}
}

// WatchInjectConfig reads the revision's injection config from its mesh
// ConfigMap and keeps following it, so the webhook injects with what the
// last install wrote. Without the ConfigMap (a server run against a cluster
// where the mesh is not installed) it serves inject.DefaultConfig for the
// revision until one appears; notFound reports that case.
func WatchInjectConfig(ctx context.Context, client kubernetes.Interface, namespace, revision string, onError func(error)) (get func() inject.Config, notFound bool, err error) {
	var cur atomic.Pointer[inject.Config]
	cfg, err := inject.ConfigFromCluster(ctx, client, namespace, revision)
	if errors.Is(err, inject.ErrNoMeshConfigMap) {
		cfg, notFound, err = inject.DefaultConfig(), true, nil
		cfg.Revision = revision
	}
	if err != nil {
		return nil, false, err
	}
	cur.Store(&cfg)
	name := vocab.MeshConfigMapName(revision)
	inf := coreinformers.NewFilteredConfigMapInformer(client, namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	})
	update := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return
		}
		c, err := inject.ConfigFromConfigMap(cm)
		if err != nil {
			// A bad edit keeps the last good config in use.
			if onError != nil {
				onError(err)
			}
			return
		}
		cur.Store(&c)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: update, UpdateFunc: func(_, n any) { update(n) },
	}); err != nil {
		return nil, false, err
	}
	go inf.Run(ctx.Done())
	return func() inject.Config { return *cur.Load() }, notFound, nil
}

// RegisterXDS serves this server's xDS on gs too (the identity's TLS
// server), with the same views as the plaintext port; streams end with ctx.
func (s *Server) RegisterXDS(ctx context.Context, gs grpc.ServiceRegistrar) {
	transport.Register(ctx, gs, s.Views, s.Status)
}

// Registry is where the server's metrics are registered (the identity
// component adds the CA's).
func (s *Server) Registry() *prometheus.Registry { return s.reg }
