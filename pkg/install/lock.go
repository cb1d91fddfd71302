package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// DefaultLockDuration is how long a lock outlives its holder's last renewal.
// A killed meshctl on another machine blocks the namespace at most this long.
const DefaultLockDuration = 30 * time.Second

// LockOptions say who takes the lock.
type LockOptions struct {
	// Holder is what another meshctl is told holds the lock, e.g. "meshctl
	// install (revision default)"; the host and pid are added.
	Holder string
	// Duration of the lease; 0 means DefaultLockDuration.
	Duration time.Duration
	// now is the clock (tests replace it).
	now func() time.Time
}

// LockedError says that another meshctl holds the lock.
type LockedError struct {
	Namespace string
	Holder    string
	Since     time.Time
	Expires   time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another meshctl is changing the mesh in namespace %s: %s has held the lock (Lease %s/%s) since %s\n"+
		"  wait for it to finish and re-run; if that process was killed, its lock expires at %s unless renewed, "+
		"and a re-run on the host it ran on takes it over at once",
		e.Namespace, e.Holder, e.Namespace, vocab.InstallLockName, e.Since.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
}

// ErrLockLost cancels the work of a holder whose lock was taken over (it
// could not renew it in time, and another meshctl took it).
var ErrLockLost = errors.New("lost the install lock to another meshctl: stopped; re-run to converge")

// Lock takes the namespace's lock, or fails at once with a *LockedError
// naming the holder: failing says more to a CI job than waiting would, and
// the lock of a killed process does not last (see LockOptions). The
// returned context is ctx, cancelled with ErrLockLost if the lock is lost;
// release stops renewing and deletes the Lease.
func Lock(ctx context.Context, c Clients, namespace string, o LockOptions) (context.Context, func(), error) {
	if o.Duration == 0 {
		o.Duration = DefaultLockDuration
	}
	if o.now == nil {
		o.now = time.Now
	}
	host, _ := os.Hostname()
	pid := os.Getpid()
	identity := fmt.Sprintf("%s on %s (pid %d)", o.Holder, host, pid)
	leases := c.Kube.CoordinationV1().Leases(namespace)
	secs := int32(o.Duration / time.Second)

	var held *coordinationv1.Lease
	for attempt := 0; held == nil; attempt++ {
		if attempt == 5 {
			return nil, nil, fmt.Errorf("Lease %s/%s: kept changing while taking it; re-run", namespace, vocab.InstallLockName)
		}
		now := metav1.NewMicroTime(o.now())
		want := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: vocab.InstallLockName, Namespace: namespace,
				Labels:      map[string]string{vocab.LabelPartOf: vocab.PartOfValue},
				Annotations: map[string]string{vocab.AnnotationLockHost: host, vocab.AnnotationLockPID: strconv.Itoa(pid)}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &identity, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
		}
		cur, err := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
		var got *coordinationv1.Lease
		switch {
		case apierrors.IsNotFound(err):
			got, err = leases.Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Another meshctl created it first: look again.
				continue
			}
		case err != nil:
		case free(cur, o.now(), host):
			want.ResourceVersion = cur.ResourceVersion
			got, err = leases.Update(ctx, want, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				continue
			}
		default:
			return nil, nil, lockedError(namespace, cur)
		}
		if err != nil {
			return nil, nil, explain(err, "Lease/"+namespace+"/"+vocab.InstallLockName)
		}
		// Only a successful write holds the lock (client-go returns an
		// empty object, not nil, with an error).
		held = got
	}

	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.Duration / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, err := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
			if err == nil && (cur.UID != held.UID || cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != identity) {
				cancel(ErrLockLost)
				return
			}
			if err != nil {
				// A blip; the next tick tries again, well before expiry.
				continue
			}
			now := metav1.NewMicroTime(o.now())
			cur.Spec.RenewTime = &now
			if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil && apierrors.IsConflict(err) {
				continue
			}
		}
	}()
	release := func() {
		close(stop)
		<-done
		cancel(nil)
		// Deleted only if still ours: a lock taken over must stay.
		cur, err := leases.Get(context.Background(), vocab.InstallLockName, metav1.GetOptions{})
		if err != nil || cur.UID != held.UID || cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != identity {
			return
		}
		_ = leases.Delete(context.Background(), vocab.InstallLockName, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
	}
	return ctx, release, nil
}

// free tells whether a lock may be taken: nobody holds it, it expired, or
// its holder was a process of this host that no longer runs.
func free(l *coordinationv1.Lease, now time.Time, host string) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return true
	}
	if expires(l).Before(now) {
		return true
	}
	if l.Annotations[vocab.AnnotationLockHost] == host {
		if pid, err := strconv.Atoi(l.Annotations[vocab.AnnotationLockPID]); err == nil && pid > 0 && !processAlive(pid) {
			return true
		}
	}
	return false
}

func expires(l *coordinationv1.Lease) time.Time {
	var last time.Time
	switch {
	case l.Spec.RenewTime != nil:
		last = l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		last = l.Spec.AcquireTime.Time
	default:
		last = l.CreationTimestamp.Time
	}
	d := DefaultLockDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return last.Add(d)
}

func lockedError(namespace string, l *coordinationv1.Lease) *LockedError {
	e := &LockedError{Namespace: namespace, Holder: *l.Spec.HolderIdentity, Expires: expires(l), Since: l.CreationTimestamp.Time}
	if l.Spec.AcquireTime != nil {
		e.Since = l.Spec.AcquireTime.Time
	}
	return e
}

// lockLost turns the cancellation of a holder whose lock was taken over
// into ErrLockLost.
func lockLost(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrLockLost) {
		return fmt.Errorf("%w (%v)", ErrLockLost, err)
	}
	return err
}
