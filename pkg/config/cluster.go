package config

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/pager"
)

// ClusterSource reads objects from a live cluster.
type ClusterSource struct {
	Kube kubernetes.Interface
	// Custom lists the mesh API's and the Gateway API's kinds; without it
	// they cannot be read.
	Custom CustomResources
	// PageSize bounds each list call so that big clusters are read in pieces
	// instead of one huge response (default 500).
	PageSize int64
}

// Load lists the given kinds in namespace ("" for all namespaces). Namespaces
// themselves are cluster-scoped and listed whole when asked for. A mesh or
// Gateway API kind whose CRD is not installed yields no objects, not an error.
func (c *ClusterSource) Load(ctx context.Context, kinds []Kind, namespace string) ([]*Resource, error) {
	var out []*Resource
	for _, k := range kinds {
		rs, err := c.list(ctx, k, namespace)
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s from the cluster: %w", k, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// ListerWatcher returns the list and watch calls of kind in namespace (""
// for all), for an informer or a reflector.
func (c *ClusterSource) ListerWatcher(kind Kind, namespace string) (cache.ListerWatcher, error) {
	info, ok := InfoFor(kind)
	if !ok {
		return nil, fmt.Errorf("kind %s is not modelled", kind)
	}
	if !info.Namespaced {
		namespace = ""
	}
	switch {
	case info.CRD && c.Custom != nil:
		return c.Custom.ListerWatcher(info, namespace), nil
	case !info.CRD && c.Kube != nil:
		return info.kube(c.Kube, namespace), nil
	}
	return nil, fmt.Errorf("no client for %s", kind)
}

// Informer returns an informer of kind in namespace ("" for all) whose
// objects FromObject turns into Resources; handlers are the caller's (see
// LiveStore.Handler). resync 0 disables periodic resyncs.
func (c *ClusterSource) Informer(kind Kind, namespace string, resync time.Duration) (cache.SharedIndexInformer, error) {
	lw, err := c.ListerWatcher(kind, namespace)
	if err != nil {
		return nil, err
	}
	info, _ := InfoFor(kind)
	return cache.NewSharedIndexInformer(lw, info.NewObject(), resync, cache.Indexers{}), nil
}

func (c *ClusterSource) list(ctx context.Context, kind Kind, ns string) ([]*Resource, error) {
	lw, err := c.ListerWatcher(kind, ns)
	if err != nil {
		return nil, err
	}
	size := c.PageSize
	if size == 0 {
		size = 500
	}
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return cache.ToListerWatcherWithContext(lw).ListWithContext(ctx, o)
	})
	p.PageSize = size
	var out []*Resource
	err = p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		r, err := FromObject(obj)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// typedAPI is what every typed client of client-go offers for one resource.
type typedAPI[L runtime.Object] interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}

func listWatch[L runtime.Object](api typedAPI[L]) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return api.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.Watch(ctx, o)
		},
	}
}
