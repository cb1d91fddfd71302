// Package webhook serves the injection and validation admission webhooks of
// `meshctl server` over TLS with a certificate of the mesh CA, and keeps the
// revision's webhook configurations trusting that CA.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	admissioninformers "k8s.io/client-go/informers/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"
	admissionlisters "k8s.io/client-go/listers/admissionregistration/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// Server is the webhook component of `meshctl server`.
type Server struct {
	Client kubernetes.Interface
	CA     *ca.Authority
	// Cert is the serving certificate for the server's Service names.
	Cert *ca.ServingCert
	// Revision selects the webhook configurations to patch: those labelled
	// vocab.LabelRevision=<revision>.
	Revision string
	// InjectConfig is read on every injection (the mesh ConfigMap may change).
	InjectConfig func() inject.Config
	// Listener to serve on; nil listens on Addr (default :15017).
	Listener net.Listener
	Addr     string
	// OnError hears about failed patches (they are retried); may be nil.
	OnError func(error)
	// PatchElsewhere leaves keeping the webhook configurations current to
	// the caller, which runs Patch (under leader election: one replica
	// writes); otherwise Run does it.
	PatchElsewhere bool

	serving atomic.Bool
}

// Handler routes the two webhooks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webhookconfig.InjectPath, inject.NewWebhook(s.InjectConfig))
	mux.Handle(webhookconfig.ValidatePath, NewValidator())
	return mux
}

// Run serves until ctx ends and keeps the webhook configurations current.
func (s *Server) Run(ctx context.Context) error {
	ln := s.Listener
	if ln == nil {
		addr := s.Addr
		if addr == "" {
			addr = webhookconfig.ListenAddress
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.Cert.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		// The API server reuses connections; idle ones need not live long.
		IdleTimeout: 90 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	s.serving.Store(true)
	if !s.PatchElsewhere {
		go func() { _ = s.patch(ctx) }()
	}
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Patch keeps the webhook configurations current until ctx ends (see
// patch); the validation failure policy becomes Fail only once this
// server's Run serves.
func (s *Server) Patch(ctx context.Context) error { return s.patch(ctx) }

// patch keeps caBundle of every webhook of the revision's configurations
// equal to the trust bundle (both roots during a rotation's overlap, so the
// API server accepts the serving certificate before and after it is
// reissued) and, once the server serves, the validation failure policy at
// Fail. It reacts to the configurations changing (a re-install, someone's
// edit) and to the CA changing.
func (s *Server) patch(ctx context.Context) error {
	rev := s.Revision
	if rev == "" {
		rev = vocab.DefaultRevision
	}
	sel := labels.SelectorFromSet(labels.Set{vocab.LabelRevision: rev})
	// Informers of the two kinds alone: through client-go's informer
	// factory the binary carried an informer and a lister of every built-in
	// API (14 MB of the 118 MB binary).
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }
	mwc := admissioninformers.NewFilteredMutatingWebhookConfigurationInformer(s.Client, 10*time.Minute, cache.Indexers{}, tweak)
	vwc := admissioninformers.NewFilteredValidatingWebhookConfigurationInformer(s.Client, 10*time.Minute, cache.Indexers{}, tweak)
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }}
	if _, err := mwc.AddEventHandler(h); err != nil {
		return err
	}
	if _, err := vwc.AddEventHandler(h); err != nil {
		return err
	}
	var running sync.WaitGroup
	defer running.Wait()
	running.Go(func() { mwc.Run(ctx.Done()) })
	running.Go(func() { vwc.Run(ctx.Done()) })
	if !cache.WaitForCacheSync(ctx.Done(), mwc.HasSynced, vwc.HasSynced) {
		return ctx.Err()
	}
	mwcs := admissionlisters.NewMutatingWebhookConfigurationLister(mwc.GetIndexer())
	vwcs := admissionlisters.NewValidatingWebhookConfigurationLister(vwc.GetIndexer())
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		changed := s.CA.Changed()
		if err := s.sync(ctx, mwcs.List, vwcs.List, sel); err != nil {
			if s.OnError != nil {
				s.OnError(err)
			}
			retry.Reset(2 * time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-changed:
		case <-retry.C:
		}
	}
}

func (s *Server) sync(ctx context.Context,
	listM func(labels.Selector) ([]*admissionregistrationv1.MutatingWebhookConfiguration, error),
	listV func(labels.Selector) ([]*admissionregistrationv1.ValidatingWebhookConfiguration, error),
	sel labels.Selector) error {
	b := s.CA.Bundle()
	if b == nil {
		return nil
	}
	bundle := b.RootsPEM()
	opts := metav1.UpdateOptions{FieldManager: webhookconfig.ServerFieldManager}
	var errs []error
	ms, _ := listM(sel)
	for _, c := range ms {
		if !needsBundle(bundle, func(yield func(*admissionregistrationv1.WebhookClientConfig) bool) {
			for i := range c.Webhooks {
				if !yield(&c.Webhooks[i].ClientConfig) {
					return
				}
			}
		}) {
			continue
		}
		c = c.DeepCopy()
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = bundle
		}
		if _, err := s.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, c, opts); err != nil {
			errs = append(errs, err)
		}
	}
	vs, _ := listV(sel)
	for _, c := range vs {
		fix := needsBundle(bundle, func(yield func(*admissionregistrationv1.WebhookClientConfig) bool) {
			for i := range c.Webhooks {
				if !yield(&c.Webhooks[i].ClientConfig) {
					return
				}
			}
		})
		for _, w := range c.Webhooks {
			fix = fix || s.serving.Load() && (w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail)
		}
		if !fix {
			continue
		}
		c = c.DeepCopy()
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = bundle
			if s.serving.Load() {
				fail := admissionregistrationv1.Fail
				c.Webhooks[i].FailurePolicy = &fail
			}
		}
		if _, err := s.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, c, opts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func needsBundle(bundle []byte, each func(func(*admissionregistrationv1.WebhookClientConfig) bool)) bool {
	need := false
	each(func(c *admissionregistrationv1.WebhookClientConfig) bool {
		need = !bytes.Equal(c.CABundle, bundle)
		return !need
	})
	return need
}
