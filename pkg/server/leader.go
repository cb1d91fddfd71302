package server

import (
	"cmp"
	"context"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection lets one replica of a revision's servers do the writes that
// replicas would otherwise race on (the root certificate ConfigMaps, the
// webhook configurations' caBundle and failure policy). Everything else,
// serving xDS, certificates and webhooks, never waits for it. The lock is a
// Lease in the mesh namespace (get, create and update on leases: what the
// installed Role grants).
type LeaderElection struct {
	Client    kubernetes.Interface
	Namespace string
	// Name of the Lease (vocab.ServerLeaderName).
	Name string
	// Identity of this replica in the Lease (its pod name).
	Identity string
	// Timings; zero takes client-go's usual 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnChange hears when this replica starts or stops leading; may be nil.
	OnChange func(leading bool)

	leading atomic.Bool
}

// Leading reports whether this replica holds the Lease now.
func (l *LeaderElection) Leading() bool { return l.leading.Load() }

// Run campaigns until ctx ends. While this replica leads, lead runs with a
// context that ends when leadership is lost; Run waits for lead to return
// before campaigning again, so one process never writes twice over. The
// Lease is released when ctx ends, so another replica takes over at once.
func (l *LeaderElection) Run(ctx context.Context, lead func(ctx context.Context)) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: l.Namespace, Name: l.Name},
		Client:     l.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.Identity},
	}
	for ctx.Err() == nil {
		// client-go starts OnStartedLeading in a goroutine of its own: it
		// only hands over the leadership context, and lead runs here.
		leadCtx := make(chan context.Context, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            l.Name,
			LeaseDuration:   cmp.Or(l.LeaseDuration, 15*time.Second),
			RenewDeadline:   cmp.Or(l.RenewDeadline, 10*time.Second),
			RetryPeriod:     cmp.Or(l.RetryPeriod, 2*time.Second),
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) { leadCtx <- lctx },
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return err
		}
		rctx, release := context.WithCancel(ctx)
		ended := make(chan struct{})
		go func() { le.Run(rctx); close(ended) }()
		select {
		case lctx := <-leadCtx:
			l.set(true)
			lead(lctx)
			l.set(false)
			// lead may also give up on its own: the Lease is then released
			// for another replica rather than held by one that writes
			// nothing.
			release()
			<-ended
		case <-ended:
			// Leadership was won and lost before lead could start (its
			// context is over), or ctx ended while campaigning.
		}
		release()
	}
	return nil
}

func (l *LeaderElection) set(leading bool) {
	if l.leading.Swap(leading) != leading && l.OnChange != nil {
		l.OnChange(leading)
	}
}
