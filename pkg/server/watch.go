package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/config"
)

// watch starts one informer per watched kind into the live store and
// returns whether all of them synced. A mesh CRD that is not installed is
// not an error: its informer keeps retrying the list (client-go's backoff)
// and fills the store once the CRD appears; until then it does not hold up
// readiness, so a cluster without the CRDs is served what it has.
func (s *Server) watch(ctx context.Context, g *errgroup.Group) (func() bool, error) {
	src := &config.ClusterSource{Kube: s.opts.Kube, Custom: s.opts.Custom}
	handler := s.live.Handler(func(err error) { s.opts.Log.Error(err, "ignored an object from the cluster") })
	type watched struct {
		kind     config.Kind
		informer cache.SharedIndexInformer
	}
	var all []watched
	add := func(kind config.Kind, ns string) error {
		inf, err := src.Informer(kind, ns, 0)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
		all = append(all, watched{kind, inf})
		g.Go(func() error { inf.Run(ctx.Done()); return nil })
		return nil
	}
	for _, k := range WatchedKinds {
		if err := add(k, ""); err != nil {
			return nil, err
		}
	}
	if s.opts.MeshNamespace != "" {
		if err := add(config.KindConfigMap, s.opts.MeshNamespace); err != nil {
			return nil, err
		}
	}
	var done atomic.Bool
	var mu sync.Mutex
	missing := map[config.Kind]bool{}
	lastCheck := time.Time{}
	return func() bool {
		if done.Load() {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		// A kind whose CRD is not served is not waited for.
		if time.Since(lastCheck) > 2*time.Second {
			lastCheck = time.Now()
			for _, w := range all {
				if info, _ := config.InfoFor(w.kind); info.CRD {
					missing[w.kind] = !s.crdServed(ctx, info)
				}
			}
		}
		for _, w := range all {
			if !w.informer.HasSynced() && !missing[w.kind] {
				return false
			}
		}
		done.Store(true)
		return true
	}, nil
}

// crdServed asks discovery whether the API server serves the kind's
// resource in its preferred version.
func (s *Server) crdServed(ctx context.Context, info config.KindInfo) bool {
	if s.opts.Kube == nil {
		return false
	}
	list, err := s.opts.Kube.Discovery().ServerResourcesForGroupVersion(info.GroupVersion())
	if err != nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == info.Resource {
			return true
		}
	}
	return false
}
