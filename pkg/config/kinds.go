package config

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	securityclient "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Kind identifies a kind of object. Where the kind name alone is
// unambiguous, Kind is that name ("VirtualService", "HTTPRoute"). A kind
// whose name another modelled group also uses gets a group-qualified Kind:
// the Gateway API's Gateway is KindKubernetesGateway,
// "Gateway.gateway.networking.k8s.io", while the Istio one, modelled first,
// keeps "Gateway". KindInfo.Name is always the name written in documents.
type Kind string

// Mesh kinds.
const (
	KindVirtualService        Kind = "VirtualService"
	KindDestinationRule       Kind = "DestinationRule"
	KindGateway               Kind = "Gateway"
	KindServiceEntry          Kind = "ServiceEntry"
	KindSidecar               Kind = "Sidecar"
	KindWorkloadEntry         Kind = "WorkloadEntry"
	KindPeerAuthentication    Kind = "PeerAuthentication"
	KindAuthorizationPolicy   Kind = "AuthorizationPolicy"
	KindRequestAuthentication Kind = "RequestAuthentication"
)

// Kubernetes Gateway API kinds (gateway.networking.k8s.io). The Gateway is
// named after Istio's pilot, which calls it the KubernetesGateway too.
const (
	KindKubernetesGateway Kind = "Gateway." + GroupGatewayAPI
	KindGatewayClass      Kind = "GatewayClass"
	KindHTTPRoute         Kind = "HTTPRoute"
	KindGRPCRoute         Kind = "GRPCRoute"
	KindReferenceGrant    Kind = "ReferenceGrant"
)

// Core Kubernetes kinds.
const (
	KindService       Kind = "Service"
	KindEndpoints     Kind = "Endpoints"
	KindEndpointSlice Kind = "EndpointSlice"
	KindPod           Kind = "Pod"
	KindDeployment    Kind = "Deployment"
	KindStatefulSet   Kind = "StatefulSet"
	KindDaemonSet     Kind = "DaemonSet"
	KindReplicaSet    Kind = "ReplicaSet"
	KindJob           Kind = "Job"
	KindCronJob       Kind = "CronJob"
	KindNamespace     Kind = "Namespace"
	KindSecret        Kind = "Secret"
	KindConfigMap     Kind = "ConfigMap"
)

// Groups of the mesh API.
const (
	GroupNetworking = "networking.istio.io"
	GroupSecurity   = "security.istio.io"
	// GroupGatewayAPI is the Kubernetes Gateway API's group.
	GroupGatewayAPI = "gateway.networking.k8s.io"
)

// KindInfo describes a modelled kind: how documents name it, how to decode
// it, and how to list and watch it in a cluster.
type KindInfo struct {
	Kind       Kind
	Name       string   // the kind as written in documents ("Gateway")
	Group      string   // "" for the core group
	Versions   []string // accepted versions, preferred first
	Resource   string   // plural resource name, as in kubectl get
	Namespaced bool
	Mesh       bool // an Istio-API kind whose Spec is a protobuf message
	// CRD says the kind is served by a custom resource definition, which a
	// cluster may not have installed (mesh and Gateway API kinds).
	CRD bool

	// object is the typed client object of the kind (a pointer type);
	// specField is the index of its Spec field for mesh kinds, whose
	// Resource.Spec is the protobuf message and not the whole object.
	object    reflect.Type
	specField int
	// kube returns the list/watch calls of a built-in kind for one
	// namespace (custom kinds are listed by CustomResources).
	kube func(c kubernetes.Interface, ns string) cache.ListerWatcher
}

// GroupVersion returns the preferred apiVersion of the kind.
func (k KindInfo) GroupVersion() string {
	if k.Group == "" {
		return k.Versions[0]
	}
	return k.Group + "/" + k.Versions[0]
}

// QualifiedName is the kind's name with its API group, as kubectl spells a
// resource type unambiguously: "Gateway.networking.istio.io"; core kinds
// have no group and are just "Service".
func (k KindInfo) QualifiedName() string {
	if k.Group == "" {
		return k.Name
	}
	return k.Name + "." + k.Group
}

// QualifiedKind returns kind with its API group ("Gateway.networking.istio.io"
// for the Istio Gateway); a kind meshctl does not model is returned as
// parsed, which already carries its group when its name is ambiguous.
func QualifiedKind(kind Kind) string {
	if k, ok := indexes().byName[kind]; ok {
		return k.QualifiedName()
	}
	return string(kind)
}

// GroupKind is the kind's API group and document name.
func (k KindInfo) GroupKind() schema.GroupKind { return schema.GroupKind{Group: k.Group, Kind: k.Name} }

// GroupVersionResource is the preferred resource path of the kind, for
// dynamic clients.
func (k KindInfo) GroupVersionResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.Group, Version: k.Versions[0], Resource: k.Resource}
}

// NewObject returns an empty typed client object of the kind (for example
// *networkingv1.VirtualService of istio.io/client-go, or *corev1.Service),
// the example object an informer of the kind is built with.
func (k KindInfo) NewObject() runtime.Object {
	return reflect.New(k.object.Elem()).Interface().(runtime.Object)
}

var netVersions = []string{"v1", "v1beta1", "v1alpha3"}
var secVersions = []string{"v1", "v1beta1"}

// mesh, core and gatewayAPI build table entries; the typed client calls of
// the built-in kinds are the only per-kind code.
func mesh(kind Kind, group string, obj runtime.Object, resource string) KindInfo {
	versions := netVersions
	if group == GroupSecurity {
		versions = secVersions
	}
	t := reflect.TypeOf(obj)
	f, ok := t.Elem().FieldByName("Spec")
	if !ok {
		panic(fmt.Sprintf("config: kind table: %s has no Spec field", t)) // a programming error, caught by any test
	}
	return KindInfo{Kind: kind, Name: string(kind), Group: group, Versions: versions, Resource: resource, Namespaced: true, Mesh: true, CRD: true,
		object: t, specField: f.Index[0]}
}

func core(kind Kind, group string, obj runtime.Object, resource string, namespaced bool,
	api func(c kubernetes.Interface, ns string) *cache.ListWatch) KindInfo {
	return KindInfo{Kind: kind, Name: string(kind), Group: group, Versions: []string{"v1"}, Resource: resource, Namespaced: namespaced,
		object: reflect.TypeOf(obj), specField: -1,
		kube: func(c kubernetes.Interface, ns string) cache.ListerWatcher {
			return cache.ToListWatcherWithWatchListSemantics(api(c, ns), c)
		}}
}

// gatewayAPI builds a Gateway API entry. Its Spec is the whole typed object,
// as for core kinds: the Gateway API types are plain Go structs decoded
// strictly from JSON. Every served version decodes into the v1 types, which
// the v1beta1 ones alias.
func gatewayAPI(kind Kind, obj runtime.Object, resource string, versions []string, namespaced bool) KindInfo {
	name, _, _ := strings.Cut(string(kind), ".")
	return KindInfo{Kind: kind, Name: name, Group: GroupGatewayAPI, Versions: versions, Resource: resource, Namespaced: namespaced, CRD: true,
		object: reflect.TypeOf(obj), specField: -1}
}

// The versions the Gateway API v1.6 standard CRDs serve.
var gatewayVersions = []string{"v1", "v1beta1"}

// kinds is THE kind table: parsing, the cluster lister, informers and
// FromObject all read it.
var kinds = []KindInfo{
	mesh(KindVirtualService, GroupNetworking, &networkingclient.VirtualService{}, "virtualservices"),
	mesh(KindDestinationRule, GroupNetworking, &networkingclient.DestinationRule{}, "destinationrules"),
	mesh(KindGateway, GroupNetworking, &networkingclient.Gateway{}, "gateways"),
	mesh(KindServiceEntry, GroupNetworking, &networkingclient.ServiceEntry{}, "serviceentries"),
	mesh(KindSidecar, GroupNetworking, &networkingclient.Sidecar{}, "sidecars"),
	mesh(KindWorkloadEntry, GroupNetworking, &networkingclient.WorkloadEntry{}, "workloadentries"),
	mesh(KindPeerAuthentication, GroupSecurity, &securityclient.PeerAuthentication{}, "peerauthentications"),
	mesh(KindAuthorizationPolicy, GroupSecurity, &securityclient.AuthorizationPolicy{}, "authorizationpolicies"),
	mesh(KindRequestAuthentication, GroupSecurity, &securityclient.RequestAuthentication{}, "requestauthentications"),

	gatewayAPI(KindKubernetesGateway, &gatewayv1.Gateway{}, "gateways", gatewayVersions, true),
	gatewayAPI(KindGatewayClass, &gatewayv1.GatewayClass{}, "gatewayclasses", gatewayVersions, false),
	gatewayAPI(KindHTTPRoute, &gatewayv1.HTTPRoute{}, "httproutes", gatewayVersions, true),
	gatewayAPI(KindGRPCRoute, &gatewayv1.GRPCRoute{}, "grpcroutes", []string{"v1"}, true),
	gatewayAPI(KindReferenceGrant, &gatewayv1.ReferenceGrant{}, "referencegrants", gatewayVersions, true),

	core(KindService, "", &corev1.Service{}, "services", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*corev1.ServiceList](c.CoreV1().Services(ns))
	}),
	core(KindEndpoints, "", &corev1.Endpoints{}, "endpoints", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*corev1.EndpointsList](c.CoreV1().Endpoints(ns)) //nolint:staticcheck // Endpoints is still what older tools write.
	}),
	core(KindEndpointSlice, "discovery.k8s.io", &discoveryv1.EndpointSlice{}, "endpointslices", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*discoveryv1.EndpointSliceList](c.DiscoveryV1().EndpointSlices(ns))
	}),
	core(KindPod, "", &corev1.Pod{}, "pods", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*corev1.PodList](c.CoreV1().Pods(ns))
	}),
	core(KindDeployment, "apps", &appsv1.Deployment{}, "deployments", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*appsv1.DeploymentList](c.AppsV1().Deployments(ns))
	}),
	core(KindStatefulSet, "apps", &appsv1.StatefulSet{}, "statefulsets", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*appsv1.StatefulSetList](c.AppsV1().StatefulSets(ns))
	}),
	core(KindDaemonSet, "apps", &appsv1.DaemonSet{}, "daemonsets", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*appsv1.DaemonSetList](c.AppsV1().DaemonSets(ns))
	}),
	core(KindReplicaSet, "apps", &appsv1.ReplicaSet{}, "replicasets", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*appsv1.ReplicaSetList](c.AppsV1().ReplicaSets(ns))
	}),
	core(KindJob, "batch", &batchv1.Job{}, "jobs", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*batchv1.JobList](c.BatchV1().Jobs(ns))
	}),
	core(KindCronJob, "batch", &batchv1.CronJob{}, "cronjobs", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*batchv1.CronJobList](c.BatchV1().CronJobs(ns))
	}),
	core(KindNamespace, "", &corev1.Namespace{}, "namespaces", false, func(c kubernetes.Interface, _ string) *cache.ListWatch {
		return listWatch[*corev1.NamespaceList](c.CoreV1().Namespaces())
	}),
	core(KindSecret, "", &corev1.Secret{}, "secrets", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*corev1.SecretList](c.CoreV1().Secrets(ns))
	}),
	core(KindConfigMap, "", &corev1.ConfigMap{}, "configmaps", true, func(c kubernetes.Interface, ns string) *cache.ListWatch {
		return listWatch[*corev1.ConfigMapList](c.CoreV1().ConfigMaps(ns))
	}),
}

// kindIndexes are the lookups of the kind table, built on first use rather
// than at package initialisation, which every meshctl command pays
// (cmd/meshctl's TestStartupInitStaysLight).
type kindIndexes struct {
	byName      map[Kind]KindInfo
	byGroupKind map[schema.GroupKind]KindInfo
	byType      map[reflect.Type]KindInfo
	byDocName   map[string][]KindInfo
}

var indexes = sync.OnceValue(func() *kindIndexes {
	x := &kindIndexes{
		byName:      make(map[Kind]KindInfo, len(kinds)),
		byGroupKind: make(map[schema.GroupKind]KindInfo, len(kinds)),
		byType:      make(map[reflect.Type]KindInfo, len(kinds)),
		byDocName:   make(map[string][]KindInfo, len(kinds)),
	}
	for _, k := range kinds {
		x.byName[k.Kind] = k
		x.byGroupKind[k.GroupKind()] = k
		x.byType[k.object] = k
		x.byDocName[k.Name] = append(x.byDocName[k.Name], k)
	}
	return x
})

// Kinds returns every modelled kind: mesh kinds, Gateway API kinds, core kinds.
func Kinds() []KindInfo { return append([]KindInfo(nil), kinds...) }

// MeshKinds returns the modelled Istio-API kinds.
func MeshKinds() []Kind {
	var out []Kind
	for _, k := range kinds {
		if k.Mesh {
			out = append(out, k.Kind)
		}
	}
	return out
}

// GatewayAPIKinds returns the modelled Gateway API kinds.
func GatewayAPIKinds() []Kind {
	var out []Kind
	for _, k := range kinds {
		if k.Group == GroupGatewayAPI {
			out = append(out, k.Kind)
		}
	}
	return out
}

// InfoFor returns what is known about kind.
func InfoFor(kind Kind) (KindInfo, bool) {
	k, ok := indexes().byName[kind]
	return k, ok
}

// LookupKind resolves an apiVersion and kind as written in a document. It
// reports false for kinds meshctl does not model, including a known kind
// under a group or version that does not serve it.
func LookupKind(apiVersion string, kind string) (KindInfo, bool) {
	group, version := splitAPIVersion(apiVersion)
	k, ok := indexes().byGroupKind[schema.GroupKind{Group: group, Kind: kind}]
	if !ok {
		return KindInfo{}, false
	}
	for _, v := range k.Versions {
		if v == version {
			return k, true
		}
	}
	return KindInfo{}, false
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// unmodelledKind is the Kind of an object meshctl does not model: its name,
// qualified by its group when a modelled kind of another group has that name,
// so that (say) a Gateway API Gateway never takes the identity of an Istio
// Gateway in a Store.
func unmodelledKind(apiVersion, kind string) Kind {
	group, _ := splitAPIVersion(apiVersion)
	for _, k := range indexes().byDocName[kind] {
		if k.Group != group {
			return Kind(kind + "." + group)
		}
	}
	return Kind(kind)
}

// ResolveKind accepts the names users type for a kind: the kind itself, its
// plural resource name, either qualified by the API group as kubectl takes
// them ("gateways.networking.istio.io"), or any of these in lower case ("vs"
// style short names are left to the commands).
func ResolveKind(name string) (Kind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(name, k.Name) || strings.EqualFold(name, string(k.Kind)) || strings.EqualFold(name, k.Resource) {
			return k.Kind, true
		}
		if k.Group != "" && (strings.EqualFold(name, k.QualifiedName()) || strings.EqualFold(name, k.Resource+"."+k.Group)) {
			return k.Kind, true
		}
	}
	return "", false
}

// newSpec returns an empty Spec value of the kind: the protobuf message for
// mesh kinds, the whole object for the others.
func (k KindInfo) newSpec() any {
	if k.Mesh {
		return reflect.New(k.object.Elem().Field(k.specField).Type).Interface()
	}
	return reflect.New(k.object.Elem()).Interface()
}
