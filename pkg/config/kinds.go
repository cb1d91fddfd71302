package config

import (
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Kind names a kind of object. Each kind meshctl models lives in exactly one
// API group, so the kind name alone identifies it.
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
)

// KindInfo describes a modelled kind.
type KindInfo struct {
	Kind       Kind
	Group      string   // "" for the core group
	Versions   []string // accepted versions, preferred first
	Resource   string   // plural resource name, as in kubectl get
	Namespaced bool
	Mesh       bool // an Istio-API kind whose Spec is a protobuf message
	new        func() any
}

// GroupVersion returns the preferred apiVersion of the kind.
func (k KindInfo) GroupVersion() string {
	if k.Group == "" {
		return k.Versions[0]
	}
	return k.Group + "/" + k.Versions[0]
}

var netVersions = []string{"v1", "v1beta1", "v1alpha3"}
var secVersions = []string{"v1", "v1beta1"}

var kinds = []KindInfo{
	{KindVirtualService, GroupNetworking, netVersions, "virtualservices", true, true, func() any { return &networking.VirtualService{} }},
	{KindDestinationRule, GroupNetworking, netVersions, "destinationrules", true, true, func() any { return &networking.DestinationRule{} }},
	{KindGateway, GroupNetworking, netVersions, "gateways", true, true, func() any { return &networking.Gateway{} }},
	{KindServiceEntry, GroupNetworking, netVersions, "serviceentries", true, true, func() any { return &networking.ServiceEntry{} }},
	{KindSidecar, GroupNetworking, netVersions, "sidecars", true, true, func() any { return &networking.Sidecar{} }},
	{KindWorkloadEntry, GroupNetworking, netVersions, "workloadentries", true, true, func() any { return &networking.WorkloadEntry{} }},
	{KindPeerAuthentication, GroupSecurity, secVersions, "peerauthentications", true, true, func() any { return &security.PeerAuthentication{} }},
	{KindAuthorizationPolicy, GroupSecurity, secVersions, "authorizationpolicies", true, true, func() any { return &security.AuthorizationPolicy{} }},
	{KindRequestAuthentication, GroupSecurity, secVersions, "requestauthentications", true, true, func() any { return &security.RequestAuthentication{} }},

	{KindService, "", []string{"v1"}, "services", true, false, func() any { return &corev1.Service{} }},
	{KindEndpoints, "", []string{"v1"}, "endpoints", true, false, func() any { return &corev1.Endpoints{} }},
	{KindEndpointSlice, "discovery.k8s.io", []string{"v1"}, "endpointslices", true, false, func() any { return &discoveryv1.EndpointSlice{} }},
	{KindPod, "", []string{"v1"}, "pods", true, false, func() any { return &corev1.Pod{} }},
	{KindDeployment, "apps", []string{"v1"}, "deployments", true, false, func() any { return &appsv1.Deployment{} }},
	{KindStatefulSet, "apps", []string{"v1"}, "statefulsets", true, false, func() any { return &appsv1.StatefulSet{} }},
	{KindDaemonSet, "apps", []string{"v1"}, "daemonsets", true, false, func() any { return &appsv1.DaemonSet{} }},
	{KindReplicaSet, "apps", []string{"v1"}, "replicasets", true, false, func() any { return &appsv1.ReplicaSet{} }},
	{KindJob, "batch", []string{"v1"}, "jobs", true, false, func() any { return &batchv1.Job{} }},
	{KindCronJob, "batch", []string{"v1"}, "cronjobs", true, false, func() any { return &batchv1.CronJob{} }},
	{KindNamespace, "", []string{"v1"}, "namespaces", false, false, func() any { return &corev1.Namespace{} }},
	{KindSecret, "", []string{"v1"}, "secrets", true, false, func() any { return &corev1.Secret{} }},
	{KindConfigMap, "", []string{"v1"}, "configmaps", true, false, func() any { return &corev1.ConfigMap{} }},
}

var kindsByName = func() map[Kind]KindInfo {
	m := make(map[Kind]KindInfo, len(kinds))
	for _, k := range kinds {
		m[k.Kind] = k
	}
	return m
}()

// Kinds returns every modelled kind, mesh kinds first.
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

// InfoFor returns what is known about kind.
func InfoFor(kind Kind) (KindInfo, bool) {
	k, ok := kindsByName[kind]
	return k, ok
}

// LookupKind resolves an apiVersion and kind as written in a document. It
// reports false for kinds meshctl does not model, including a known kind
// under a group or version that does not serve it.
func LookupKind(apiVersion string, kind string) (KindInfo, bool) {
	k, ok := kindsByName[Kind(kind)]
	if !ok {
		return KindInfo{}, false
	}
	group, version := "", apiVersion
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group, version = apiVersion[:i], apiVersion[i+1:]
	}
	if group != k.Group {
		return KindInfo{}, false
	}
	for _, v := range k.Versions {
		if v == version {
			return k, true
		}
	}
	return KindInfo{}, false
}

// ResolveKind accepts the names users type for a kind: the kind itself, its
// plural resource name, or either in lower case ("vs" style short names are
// left to the commands).
func ResolveKind(name string) (Kind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(name, string(k.Kind)) || strings.EqualFold(name, k.Resource) {
			return k.Kind, true
		}
	}
	return "", false
}

// newSpec returns an empty Spec value of the kind.
func (k KindInfo) newSpec() any { return k.new() }

var _ proto.Message = (*networking.VirtualService)(nil)
