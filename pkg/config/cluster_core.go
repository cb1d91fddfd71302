package config

import (
	"context"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	securityclient "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type (
	networkingVirtualService      = networkingclient.VirtualService
	networkingDestinationRule     = networkingclient.DestinationRule
	networkingGateway             = networkingclient.Gateway
	networkingServiceEntry        = networkingclient.ServiceEntry
	networkingSidecar             = networkingclient.Sidecar
	networkingWorkloadEntry       = networkingclient.WorkloadEntry
	securityPeerAuthentication    = securityclient.PeerAuthentication
	securityAuthorizationPolicy   = securityclient.AuthorizationPolicy
	securityRequestAuthentication = securityclient.RequestAuthentication
)

// ptrs turns a list's items into pointers into that list, so that each
// Resource owns its object without copying it.
func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func coreList[T any](ctx context.Context, kind Kind, size int64, list func(context.Context, metav1.ListOptions) ([]T, string, error), meta func(*T) metav1.ObjectMeta) ([]*Resource, error) {
	return collect(ctx, size, func(ctx context.Context, o metav1.ListOptions) ([]*T, string, error) {
		items, cont, err := list(ctx, o)
		return ptrs(items), cont, err
	}, func(x *T) *Resource {
		r := clusterResource(kind, meta(x), x)
		return r
	})
}

func (c *ClusterSource) listCore(ctx context.Context, kind Kind, ns string, size int64) ([]*Resource, error) {
	k := c.Kube
	switch kind {
	case KindService:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Service, string, error) {
			l, err := k.CoreV1().Services(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.Service) metav1.ObjectMeta { return x.ObjectMeta })
	case KindEndpoints:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Endpoints, string, error) {
			l, err := k.CoreV1().Endpoints(ns).List(ctx, o) //nolint:staticcheck // Endpoints is still what older tools write.
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.Endpoints) metav1.ObjectMeta { return x.ObjectMeta })
	case KindEndpointSlice:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]discoveryv1.EndpointSlice, string, error) {
			l, err := k.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *discoveryv1.EndpointSlice) metav1.ObjectMeta { return x.ObjectMeta })
	case KindPod:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
			l, err := k.CoreV1().Pods(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.Pod) metav1.ObjectMeta { return x.ObjectMeta })
	case KindDeployment:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.Deployment, string, error) {
			l, err := k.AppsV1().Deployments(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *appsv1.Deployment) metav1.ObjectMeta { return x.ObjectMeta })
	case KindStatefulSet:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.StatefulSet, string, error) {
			l, err := k.AppsV1().StatefulSets(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *appsv1.StatefulSet) metav1.ObjectMeta { return x.ObjectMeta })
	case KindDaemonSet:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.DaemonSet, string, error) {
			l, err := k.AppsV1().DaemonSets(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *appsv1.DaemonSet) metav1.ObjectMeta { return x.ObjectMeta })
	case KindReplicaSet:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.ReplicaSet, string, error) {
			l, err := k.AppsV1().ReplicaSets(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *appsv1.ReplicaSet) metav1.ObjectMeta { return x.ObjectMeta })
	case KindJob:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]batchv1.Job, string, error) {
			l, err := k.BatchV1().Jobs(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *batchv1.Job) metav1.ObjectMeta { return x.ObjectMeta })
	case KindCronJob:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]batchv1.CronJob, string, error) {
			l, err := k.BatchV1().CronJobs(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *batchv1.CronJob) metav1.ObjectMeta { return x.ObjectMeta })
	case KindNamespace:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Namespace, string, error) {
			l, err := k.CoreV1().Namespaces().List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.Namespace) metav1.ObjectMeta { return x.ObjectMeta })
	case KindSecret:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Secret, string, error) {
			l, err := k.CoreV1().Secrets(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.Secret) metav1.ObjectMeta { return x.ObjectMeta })
	case KindConfigMap:
		return coreList(ctx, kind, size, func(ctx context.Context, o metav1.ListOptions) ([]corev1.ConfigMap, string, error) {
			l, err := k.CoreV1().ConfigMaps(ns).List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(x *corev1.ConfigMap) metav1.ObjectMeta { return x.ObjectMeta })
	}
	return nil, nil
}
