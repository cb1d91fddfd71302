package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options configure an Authority.
type Options struct {
	// Namespace is the mesh namespace holding the CA Secrets.
	Namespace string
	// TrustDomain of the identities signed (spiffe://<TrustDomain>/...).
	TrustDomain string
	// WorkloadTTL is the validity of a certificate whose request names none.
	WorkloadTTL time.Duration
	// MaxWorkloadTTL bounds what a request may ask for.
	MaxWorkloadTTL time.Duration
	// RootTTL is the validity of a generated root.
	RootTTL time.Duration
	// Overlap is how long a rotated-out root stays in the trust bundle. It
	// defaults to MaxWorkloadTTL, so that every certificate the old root
	// signed expires before the old root stops being trusted.
	Overlap time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.TrustDomain == "" {
		o.TrustDomain = vocab.DefaultTrustDomain
	}
	if o.WorkloadTTL <= 0 {
		o.WorkloadTTL = DefaultWorkloadTTL
	}
	if o.MaxWorkloadTTL <= 0 {
		o.MaxWorkloadTTL = DefaultMaxWorkloadTTL
	}
	if o.MaxWorkloadTTL < o.WorkloadTTL {
		o.MaxWorkloadTTL = o.WorkloadTTL
	}
	if o.RootTTL <= 0 {
		o.RootTTL = DefaultRootTTL
	}
	if o.Overlap <= 0 {
		o.Overlap = o.MaxWorkloadTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

var errNotLoaded = errors.New("the CA is not loaded yet")

// SPIFFEID is the identity of a service account in the mesh.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// Authority is the mesh CA of one server process. Replicas share the
// Secrets, so they converge on the same root whoever creates or rotates it.
type Authority struct {
	client kubernetes.Interface
	opts   Options

	mu      sync.RWMutex
	bundle  *Bundle
	changed chan struct{}
}

// New returns an Authority; Load must succeed before it signs anything.
func New(client kubernetes.Interface, opts Options) *Authority {
	opts.setDefaults()
	return &Authority{client: client, opts: opts, changed: make(chan struct{})}
}

// Options returns the effective options (defaults filled in).
func (a *Authority) Options() Options { return a.opts }

// Bundle is the current signing material; nil before Load.
func (a *Authority) Bundle() *Bundle {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.bundle
}

// Changed is closed the next time the trust bundle or signer changes. Take
// it before reading Bundle so that no change is missed.
func (a *Authority) Changed() <-chan struct{} {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.changed
}

func (a *Authority) set(b *Bundle) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.bundle
	a.bundle = b
	if old == nil || !old.Signer.Equal(b.Signer) || !bytes.Equal(old.RootsPEM(), b.RootsPEM()) {
		close(a.changed)
		a.changed = make(chan struct{})
	}
}

// Load reads the CA from the mesh namespace: the plugged-in intermediate if
// its Secret exists, else the self-signed root, generating and storing that
// root if neither exists yet.
func (a *Authority) Load(ctx context.Context) error {
	b, err := a.read(ctx)
	if err != nil {
		return err
	}
	a.set(b)
	return nil
}

func (a *Authority) read(ctx context.Context) (*Bundle, error) {
	secrets := a.client.CoreV1().Secrets(a.opts.Namespace)
	plugged, err := secrets.Get(ctx, PluggedSecretName, metav1.GetOptions{})
	switch {
	case err == nil:
		return parseBundle(a.ref(PluggedSecretName), plugged.Data, plugged.Annotations, a.opts.Now())
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading secret %s: %w", a.ref(PluggedSecretName), err)
	}
	s, err := secrets.Get(ctx, SelfSignedSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s, err = a.createRoot(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", a.ref(SelfSignedSecretName), err)
	}
	return parseBundle(a.ref(SelfSignedSecretName), s.Data, s.Annotations, a.opts.Now())
}

func (a *Authority) ref(name string) string { return a.opts.Namespace + "/" + name }

// createRoot stores a new root unless another replica got there first, in
// which case that replica's root is the one used: the Secret is only ever
// created, never overwritten.
func (a *Authority) createRoot(ctx context.Context) (*corev1.Secret, error) {
	certPEM, keyPEM, err := newRoot(a.opts.TrustDomain, a.opts.Now(), a.opts.RootTTL)
	if err != nil {
		return nil, err
	}
	secrets := a.client.CoreV1().Secrets(a.opts.Namespace)
	s, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SelfSignedSecretName, Namespace: a.opts.Namespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{KeyCACert: certPEM, KeyCAKey: keyPEM, KeyRootCert: certPEM},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return secrets.Get(ctx, SelfSignedSecretName, metav1.GetOptions{})
	}
	return s, err
}

// Rotate replaces the self-signed root with a new one. The old root stays in
// the trust bundle for the overlap period, so certificates it signed keep
// verifying until they expire. A plugged-in CA is rotated by editing its
// Secret (put both roots in root-cert.pem for the overlap).
func (a *Authority) Rotate(ctx context.Context) error {
	secrets := a.client.CoreV1().Secrets(a.opts.Namespace)
	if _, err := secrets.Get(ctx, PluggedSecretName, metav1.GetOptions{}); err == nil {
		return fmt.Errorf("the CA is the plugged-in secret %s: rotate it by updating that secret", a.ref(PluggedSecretName))
	}
	s, err := secrets.Get(ctx, SelfSignedSecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading secret %s: %w", a.ref(SelfSignedSecretName), err)
	}
	now := a.opts.Now()
	cur, err := parseBundle(a.ref(SelfSignedSecretName), s.Data, s.Annotations, now)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := newRoot(a.opts.TrustDomain, now, a.opts.RootTTL)
	if err != nil {
		return err
	}
	s = s.DeepCopy()
	s.Data = map[string][]byte{KeyCACert: certPEM, KeyCAKey: keyPEM, KeyRootCert: certPEM, KeyPreviousRoots: cur.RootsPEM()}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationPreviousRootsUntil] = now.Add(a.opts.Overlap).UTC().Format(time.RFC3339)
	// The resourceVersion makes two replicas rotating at once conflict
	// instead of one discarding the other's root.
	s, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("rotating the root in secret %s: %w", a.ref(SelfSignedSecretName), err)
	}
	b, err := parseBundle(a.ref(SelfSignedSecretName), s.Data, s.Annotations, now)
	if err != nil {
		return err
	}
	a.set(b)
	return nil
}

// needsRotation: a self-signed root is replaced while it still outlives
// the overlap period twice, so the old root never expires inside it.
func (a *Authority) needsRotation(b *Bundle) bool {
	return b.Source == a.ref(SelfSignedSecretName) && b.Signer.NotAfter.Sub(a.opts.Now()) < 2*a.opts.Overlap
}

// Run keeps the Authority current until ctx ends: it reloads when either CA
// Secret changes (another replica rotated, a user plugged in a CA), drops
// previous roots when their overlap ends and rotates a root nearing expiry.
func (a *Authority) Run(ctx context.Context) error {
	if a.Bundle() == nil {
		if err := a.Load(ctx); err != nil {
			return err
		}
	}
	kick := make(chan struct{}, 1)
	poke := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if s, ok := obj.(*corev1.Secret); ok && (s.Name == PluggedSecretName || s.Name == SelfSignedSecretName) {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	inf := coreinformers.NewSecretInformer(a.client, a.opts.Namespace, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke,
	}); err != nil {
		return err
	}
	var running sync.WaitGroup
	defer running.Wait()
	running.Go(func() { inf.Run(ctx.Done()) })
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
		}
		b, err := a.read(ctx)
		if err != nil {
			// Keep signing with what was loaded: a bad edit of a Secret
			// must not take workload identity down.
			continue
		}
		if a.needsRotation(b) {
			if err := a.Rotate(ctx); err == nil {
				continue
			}
		}
		a.set(b)
	}
}

// Sign issues a certificate for pub; see SignOptions.
func (a *Authority) Sign(pub crypto.PublicKey, o SignOptions) ([]string, error) {
	b := a.Bundle()
	if b == nil {
		return nil, errNotLoaded
	}
	if o.TTL <= 0 {
		o.TTL = a.opts.WorkloadTTL
	}
	if o.TTL > a.opts.MaxWorkloadTTL {
		return nil, fmt.Errorf("%w: %s > %s", ErrTTL, o.TTL, a.opts.MaxWorkloadTTL)
	}
	chain, _, err := b.sign(pub, o, a.opts.Now())
	return chain, err
}

// ParseSPIFFEID reads a workload identity of the mesh's form; anything else
// (another path layout, a query, no trust domain) is an error naming it.
func ParseSPIFFEID(id string) (trustDomain string, caller Caller, err error) {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return "", Caller{}, fmt.Errorf("%q is not a spiffe:// identity", id)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[0] == "" || parts[1] != "ns" || parts[2] == "" || parts[3] != "sa" || parts[4] == "" || strings.ContainsAny(rest, "?#") {
		return "", Caller{}, fmt.Errorf("%q is not of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", id)
	}
	return parts[0], Caller{Namespace: parts[2], ServiceAccount: parts[4]}, nil
}

// CertCaller is the workload a verified certificate proves: its one SPIFFE
// URI SAN, which must be of trustDomain.
func CertCaller(cert *x509.Certificate, trustDomain string) (Caller, error) {
	if len(cert.URIs) != 1 {
		return Caller{}, fmt.Errorf("the certificate carries %d URI SANs, want exactly one SPIFFE identity", len(cert.URIs))
	}
	td, c, err := ParseSPIFFEID(cert.URIs[0].String())
	if err != nil {
		return Caller{}, err
	}
	if td != trustDomain {
		return Caller{}, fmt.Errorf("identity %s is of trust domain %s, not the mesh's %s", cert.URIs[0], td, trustDomain)
	}
	return c, nil
}
