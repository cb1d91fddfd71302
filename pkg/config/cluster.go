package config

import (
	"context"
	"fmt"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterSource reads objects from a live cluster.
type ClusterSource struct {
	Kube  kubernetes.Interface
	Istio istioclient.Interface
	// PageSize bounds each list call so that big clusters are read in pieces
	// instead of one huge response (default 500).
	PageSize int64
}

// Load lists the given kinds in namespace ("" for all namespaces). Namespaces
// themselves are cluster-scoped and listed whole when asked for. A mesh kind
// whose CRD is not installed yields no objects, not an error.
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

func clusterResource(kind Kind, meta metav1.ObjectMeta, spec any) *Resource {
	info := kindsByName[kind]
	return &Resource{Kind: kind, APIVersion: info.GroupVersion(), ObjectMeta: meta, Spec: spec, Origin: Origin{Source: SourceCluster}}
}

// collect pages through one list call.
func collect[T any](ctx context.Context, size int64, list func(context.Context, metav1.ListOptions) ([]T, string, error), conv func(T) *Resource) ([]*Resource, error) {
	opts := metav1.ListOptions{Limit: size}
	var out []*Resource
	for {
		items, cont, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, conv(it))
		}
		if cont == "" {
			return out, nil
		}
		opts.Continue = cont
	}
}

func (c *ClusterSource) list(ctx context.Context, kind Kind, ns string) ([]*Resource, error) {
	size := c.PageSize
	if size == 0 {
		size = 500
	}
	info, ok := InfoFor(kind)
	if !ok {
		return nil, fmt.Errorf("kind %s is not modelled", kind)
	}
	if info.Mesh && c.Istio == nil || !info.Mesh && c.Kube == nil {
		return nil, fmt.Errorf("no client for %s", kind)
	}
	switch kind {
	case KindVirtualService:
		api := c.Istio.NetworkingV1().VirtualServices(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingVirtualService, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingVirtualService) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindDestinationRule:
		api := c.Istio.NetworkingV1().DestinationRules(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingDestinationRule, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingDestinationRule) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindGateway:
		api := c.Istio.NetworkingV1().Gateways(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingGateway, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingGateway) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindServiceEntry:
		api := c.Istio.NetworkingV1().ServiceEntries(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingServiceEntry, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingServiceEntry) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindSidecar:
		api := c.Istio.NetworkingV1().Sidecars(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingSidecar, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingSidecar) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindWorkloadEntry:
		api := c.Istio.NetworkingV1().WorkloadEntries(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*networkingWorkloadEntry, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *networkingWorkloadEntry) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindPeerAuthentication:
		api := c.Istio.SecurityV1().PeerAuthentications(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*securityPeerAuthentication, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *securityPeerAuthentication) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindAuthorizationPolicy:
		api := c.Istio.SecurityV1().AuthorizationPolicies(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*securityAuthorizationPolicy, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *securityAuthorizationPolicy) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	case KindRequestAuthentication:
		api := c.Istio.SecurityV1().RequestAuthentications(ns)
		return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*securityRequestAuthentication, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *securityRequestAuthentication) *Resource { return clusterResource(kind, x.ObjectMeta, &x.Spec) })
	}
	return c.listCore(ctx, kind, ns, size)
}
