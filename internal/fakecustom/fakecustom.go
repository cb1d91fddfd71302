// Package fakecustom serves config.CustomResources from the object trackers
// of fake clientsets, for unit tests: the typed fakes of istio.io/client-go
// and of the Gateway API keep the objects a test creates, and meshctl lists
// and watches them as it would a cluster's. Tests against a real API server
// use config.NewCustomResources.
package fakecustom

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/meshctl/meshctl/pkg/config"
)

// Tracker is what a fake clientset offers (Clientset.Tracker()).
type Tracker interface {
	Tracker() clienttesting.ObjectTracker
}

// New serves the mesh API's kinds from istio's tracker and the Gateway API's
// from gateway's; either may be nil, and its kinds then list nothing.
func New(istio, gateway Tracker) config.CustomResources {
	return resources{istio: istio, gateway: gateway}
}

type resources struct{ istio, gateway Tracker }

// ListerWatcher lists k in its preferred version, as the typed clients of
// those fakes do; the fakes cannot stream lists (watch-list semantics).
func (r resources) ListerWatcher(k config.KindInfo, namespace string) cache.ListerWatcher {
	src := r.istio
	if k.Group == config.GroupGatewayAPI {
		src = r.gateway
	}
	gvr := k.GroupVersionResource()
	gvk := schema.GroupVersionKind{Group: k.Group, Version: k.Versions[0], Kind: k.Name}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if src == nil {
				return &metav1.List{}, nil
			}
			return src.Tracker().List(gvr, gvk, namespace, o)
		},
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if src == nil {
				return watch.NewEmptyWatch(), nil
			}
			return src.Tracker().Watch(gvr, namespace, o)
		},
	}
	return cache.ToListWatcherWithWatchListSemantics(lw, noWatchList{})
}

type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }
