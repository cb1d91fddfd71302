package install

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshctl/meshctl/pkg/vocab"
)

func lease(holder, host string, pid int, renewed time.Time) *coordinationv1.Lease {
	secs := int32(30)
	acquired := metav1.NewMicroTime(renewed.Add(-time.Minute))
	renew := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: vocab.InstallLockName, Namespace: "mesh-system",
			Annotations: map[string]string{vocab.AnnotationLockHost: host, vocab.AnnotationLockPID: strconv.Itoa(pid)}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &acquired, RenewTime: &renew},
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestLockIsRefusedWhileHeldAndTakenWhenStale(t *testing.T) {
	host, _ := os.Hostname()
	now := time.Now()
	for _, tc := range []struct {
		name     string
		existing *coordinationv1.Lease
		taken    bool
	}{
		{"held from another host", lease("meshctl install (revision default) on build-7 (pid 42)", "build-7", 42, now.Add(-5*time.Second)), false},
		{"held by a running process of this host", lease("meshctl install on this host", host, os.Getppid(), now), false},
		{"expired", lease("meshctl install on build-7 (pid 42)", "build-7", 42, now.Add(-31*time.Second)), true},
		{"left by a killed process of this host", lease("meshctl install on this host", host, deadPID(t), now), true},
		{"released", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: vocab.InstallLockName, Namespace: "mesh-system"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Clients{Kube: kubefake.NewSimpleClientset(tc.existing)}
			_, release, err := Lock(context.Background(), c, "mesh-system", LockOptions{Holder: "meshctl test"})
			if tc.taken {
				if err != nil {
					t.Fatalf("a stale lock was not taken over: %v", err)
				}
				l, _ := c.Kube.CoordinationV1().Leases("mesh-system").Get(context.Background(), vocab.InstallLockName, metav1.GetOptions{})
				if l == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, "meshctl test on ") {
					t.Errorf("lease after taking it: %+v", l)
				}
				release()
				return
			}
			var le *LockedError
			if !errors.As(err, &le) {
				t.Fatalf("a held lock was taken: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, *tc.existing.Spec.HolderIdentity) || !strings.Contains(msg, tc.existing.Spec.AcquireTime.UTC().Format(time.RFC3339)) {
				t.Errorf("the refusal does not say who holds the lock since when: %s", msg)
			}
		})
	}
}

func TestLockIsRenewedReleasedAndLost(t *testing.T) {
	c := Clients{Kube: kubefake.NewSimpleClientset()}
	leases := c.Kube.CoordinationV1().Leases("mesh-system")
	ctx := context.Background()
	_, release, err := Lock(ctx, c, "mesh-system", LockOptions{Holder: "first", Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Lock(ctx, c, "mesh-system", LockOptions{Holder: "second"}); err == nil {
		t.Fatal("a second holder took a held lock")
	}
	first, _ := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l, err := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was never renewed")
		}
	}
	release()
	if _, err := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("release left the lease: %v", err)
	}

	// Another meshctl takes the lock over (this one stalled past expiry):
	// the work under the lock is cancelled, and release leaves its lock.
	lctx, release, err := Lock(ctx, c, "mesh-system", LockOptions{Holder: "stalled", Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{})
	other := "other meshctl"
	l.Spec.HolderIdentity = &other
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lctx.Done():
		if !errors.Is(context.Cause(lctx), ErrLockLost) {
			t.Errorf("cancelled with %v, want ErrLockLost", context.Cause(lctx))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("losing the lock did not cancel the work")
	}
	release()
	if l, err := leases.Get(ctx, vocab.InstallLockName, metav1.GetOptions{}); err != nil || *l.Spec.HolderIdentity != other {
		t.Errorf("release removed a lock it no longer held: %v", err)
	}
}

// Two meshctls create the Lease at the same moment: the one whose create
// fails looks again and is refused, rather than believing it holds the lock.
func TestLockLosesTheRaceToCreate(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	other := lease("meshctl install on build-7 (pid 42)", "build-7", 42, time.Now())
	kube.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if err := kube.Tracker().Add(other); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewAlreadyExists(coordinationv1.Resource("leases"), vocab.InstallLockName)
	})
	_, _, err := Lock(context.Background(), Clients{Kube: kube}, "mesh-system", LockOptions{Holder: "late"})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder != *other.Spec.HolderIdentity {
		t.Fatalf("the loser of the race was not refused: %v", err)
	}
}
