package config

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// SourceType says where a resource was read from.
type SourceType string

const (
	SourceFile    SourceType = "file"
	SourceStdin   SourceType = "stdin"
	SourceCluster SourceType = "cluster"
	// SourceInstall is an object an install of the mesh creates (rendered
	// from a profile), standing in for the cluster when there is none: the
	// context of files, never itself the subject of a finding. Path names
	// the profile ("profile default").
	SourceInstall SourceType = "install"
)

// Origin is where a resource (or one of its fields) came from.
type Origin struct {
	Source SourceType `json:"source"`
	// Path is the file as the user named it; "-" for standard input.
	Path string `json:"path,omitempty"`
	// Line is 1-based; 0 when unknown (always for the cluster).
	Line int `json:"line,omitempty"`
}

// FromFile reports whether the object was read from a file or standard input
// rather than from the cluster.
func (o Origin) FromFile() bool { return o.Source == SourceFile || o.Source == SourceStdin }

// String is "routes.yaml:12", "-:3" for standard input, or "cluster".
func (o Origin) String() string {
	if o.Source == SourceCluster || o.Source == "" {
		return "cluster"
	}
	if o.Line > 0 {
		return o.Path + ":" + strconv.Itoa(o.Line)
	}
	return o.Path
}

// Key is the identity of an object: two objects with the same Key are the
// same object in the API server.
type Key struct {
	Kind      Kind   `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (k Key) String() string {
	if k.Namespace == "" {
		return string(k.Kind) + " " + k.Name
	}
	return string(k.Kind) + " " + k.Namespace + "/" + k.Name
}

// Resource is one parsed object.
type Resource struct {
	Kind       Kind
	APIVersion string
	metav1.ObjectMeta
	// Spec is the typed content (see the package documentation); nil for
	// kinds meshctl does not model.
	Spec   any
	Origin Origin

	// node is the YAML mapping of the object, for field lines.
	node *yaml.Node
}

// Key returns the identity of r.
func (r *Resource) Key() Key { return Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name} }

// Known reports whether the kind is modelled (Spec is set).
func (r *Resource) Known() bool { return r.Spec != nil }

// String is "VirtualService default/reviews".
func (r *Resource) String() string { return r.Key().String() }

// Node returns the YAML mapping node the object was parsed from, nil for
// objects from the cluster. Callers must not modify it.
func (r *Resource) Node() *yaml.Node { return r.node }

// Line returns the line of the field at path ("spec.http[0].route[1]"), or of
// its nearest existing parent, or of the document; 0 for cluster objects.
func (r *Resource) Line(path string) int {
	return r.LineAt(splitPath(path))
}

// LineAt is Line for a path already cut into keys and indexes
// (["spec","http","0","route"]), for keys that contain dots.
func (r *Resource) LineAt(segs []string) int {
	if r.node == nil {
		return r.Origin.Line
	}
	n := r.node
	line := r.Origin.Line
	for _, seg := range segs {
		next, keyLine := child(n, seg)
		if next == nil {
			break
		}
		n = next
		line = keyLine
	}
	return line
}

// OriginAt returns the origin of the field at path (see Line).
func (r *Resource) OriginAt(path string) Origin {
	o := r.Origin
	if o.FromFile() {
		o.Line = r.Line(path)
	}
	return o
}

// splitPath turns "spec.http[0].route" into ["spec","http","0","route"].
func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	return strings.Split(path, ".")
}

// child finds seg (a key, or an index in a sequence) below n and returns the
// node and the line that best points at it (the key's line for mappings).
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil, 0
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i], n.Content[i].Line
		}
	}
	return nil, 0
}

// Typed accessors; each returns nil for another kind.

func (r *Resource) VirtualService() *networking.VirtualService {
	v, _ := r.Spec.(*networking.VirtualService)
	return v
}
func (r *Resource) DestinationRule() *networking.DestinationRule {
	v, _ := r.Spec.(*networking.DestinationRule)
	return v
}
func (r *Resource) Gateway() *networking.Gateway {
	v, _ := r.Spec.(*networking.Gateway)
	return v
}
func (r *Resource) ServiceEntry() *networking.ServiceEntry {
	v, _ := r.Spec.(*networking.ServiceEntry)
	return v
}
func (r *Resource) Sidecar() *networking.Sidecar {
	v, _ := r.Spec.(*networking.Sidecar)
	return v
}
func (r *Resource) WorkloadEntry() *networking.WorkloadEntry {
	v, _ := r.Spec.(*networking.WorkloadEntry)
	return v
}
func (r *Resource) PeerAuthentication() *security.PeerAuthentication {
	v, _ := r.Spec.(*security.PeerAuthentication)
	return v
}
func (r *Resource) AuthorizationPolicy() *security.AuthorizationPolicy {
	v, _ := r.Spec.(*security.AuthorizationPolicy)
	return v
}
func (r *Resource) RequestAuthentication() *security.RequestAuthentication {
	v, _ := r.Spec.(*security.RequestAuthentication)
	return v
}

// KubernetesGateway is the accessor of the Gateway API's Gateway
// (KindKubernetesGateway); Gateway() is Istio's.
func (r *Resource) KubernetesGateway() *gatewayv1.Gateway {
	v, _ := r.Spec.(*gatewayv1.Gateway)
	return v
}
func (r *Resource) GatewayClass() *gatewayv1.GatewayClass {
	v, _ := r.Spec.(*gatewayv1.GatewayClass)
	return v
}
func (r *Resource) HTTPRoute() *gatewayv1.HTTPRoute {
	v, _ := r.Spec.(*gatewayv1.HTTPRoute)
	return v
}
func (r *Resource) GRPCRoute() *gatewayv1.GRPCRoute {
	v, _ := r.Spec.(*gatewayv1.GRPCRoute)
	return v
}
func (r *Resource) ReferenceGrant() *gatewayv1.ReferenceGrant {
	v, _ := r.Spec.(*gatewayv1.ReferenceGrant)
	return v
}
func (r *Resource) Service() *corev1.Service {
	v, _ := r.Spec.(*corev1.Service)
	return v
}
func (r *Resource) Endpoints() *corev1.Endpoints {
	v, _ := r.Spec.(*corev1.Endpoints)
	return v
}
func (r *Resource) EndpointSlice() *discoveryv1.EndpointSlice {
	v, _ := r.Spec.(*discoveryv1.EndpointSlice)
	return v
}
func (r *Resource) Pod() *corev1.Pod {
	v, _ := r.Spec.(*corev1.Pod)
	return v
}

// NamespaceObject is the accessor of KindNamespace (Namespace is the field of
// ObjectMeta).
func (r *Resource) NamespaceObject() *corev1.Namespace {
	v, _ := r.Spec.(*corev1.Namespace)
	return v
}
func (r *Resource) Secret() *corev1.Secret {
	v, _ := r.Spec.(*corev1.Secret)
	return v
}
func (r *Resource) ConfigMap() *corev1.ConfigMap {
	v, _ := r.Spec.(*corev1.ConfigMap)
	return v
}

// PodTemplate returns the pod template of a workload kind (Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) and, for a Pod, a
// template made of its metadata and spec; nil for other kinds.
func (r *Resource) PodTemplate() *corev1.PodTemplateSpec {
	switch o := r.Spec.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	case *appsv1.ReplicaSet:
		return &o.Spec.Template
	case *batchv1.Job:
		return &o.Spec.Template
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template
	case *corev1.Pod:
		return &corev1.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
	}
	return nil
}

// PodTemplatePath is the field path of the pod template of a workload kind,
// for Line ("spec.template"); "" for a Pod.
func PodTemplatePath(kind Kind) string {
	switch kind {
	case KindCronJob:
		return "spec.jobTemplate.spec.template"
	case KindPod:
		return ""
	}
	return "spec.template"
}

// IsWorkload reports whether kind runs pods from a template (or is a Pod).
func IsWorkload(kind Kind) bool {
	switch kind {
	case KindPod, KindDeployment, KindStatefulSet, KindDaemonSet, KindReplicaSet, KindJob, KindCronJob:
		return true
	}
	return false
}
