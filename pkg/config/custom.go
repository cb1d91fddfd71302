package config

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	securityclient "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// CustomResources gives the list and watch calls of the custom kinds
// (KindInfo.CRD: the mesh API's and the Gateway API's) in a namespace (""
// for all).
type CustomResources interface {
	ListerWatcher(k KindInfo, namespace string) cache.ListerWatcher
}

// NewCustomResources returns the CustomResources of a cluster: REST
// clients that decode into istio.io/client-go's and the Gateway API's typed
// objects, over a scheme of the modelled kinds alone that is built on first
// use. The generated clientsets of those APIs would register every kind of
// theirs when the process starts, which every meshctl command paid,
// `meshctl version` included (issue 16).
func NewCustomResources(cfg *rest.Config) (CustomResources, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("making an HTTP client for the cluster: %w", err)
	}
	return &restResources{cfg: rest.CopyConfig(cfg), http: hc, clients: map[schema.GroupVersion]rest.Interface{}}, nil
}

type restResources struct {
	cfg  *rest.Config
	http *http.Client

	mu      sync.Mutex
	clients map[schema.GroupVersion]rest.Interface
}

// customScheme knows the typed objects of the custom kinds meshctl lists.
var customScheme = sync.OnceValue(func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{networkingclient.AddToScheme, securityclient.AddToScheme, gatewayv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("config: registering the custom kinds: %v", err)) // a programming error, caught by any test
		}
	}
	return s
})

func (r *restResources) client(gv schema.GroupVersion) (rest.Interface, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[gv]; ok {
		return c, nil
	}
	cfg := rest.CopyConfig(r.cfg)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(customScheme()).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	c, err := rest.RESTClientForConfigAndClient(cfg, r.http)
	if err != nil {
		return nil, fmt.Errorf("making a client for %s: %w", gv, err)
	}
	r.clients[gv] = c
	return c, nil
}

// ListerWatcher lists and watches k in its preferred version, as the
// generated typed clients do.
func (r *restResources) ListerWatcher(k KindInfo, namespace string) cache.ListerWatcher {
	gv := schema.GroupVersion{Group: k.Group, Version: k.Versions[0]}
	params := runtime.NewParameterCodec(customScheme())
	request := func(o *metav1.ListOptions) (*rest.Request, error) {
		c, err := r.client(gv)
		if err != nil {
			return nil, err
		}
		req := c.Get().NamespaceIfScoped(namespace, k.Namespaced && namespace != "").Resource(k.Resource).VersionedParams(o, params)
		if o.TimeoutSeconds != nil {
			req = req.Timeout(time.Duration(*o.TimeoutSeconds) * time.Second)
		}
		return req, nil
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list, err := customScheme().New(gv.WithKind(k.Name + "List"))
			if err != nil {
				return nil, err
			}
			req, err := request(&o)
			if err != nil {
				return nil, err
			}
			return list, req.Do(ctx).Into(list)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			req, err := request(&o)
			if err != nil {
				return nil, err
			}
			return req.Watch(ctx)
		},
	}
	return cache.ToListWatcherWithWatchListSemantics(lw, nil)
}
