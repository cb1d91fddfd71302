package config

import (
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// FromObject turns a typed object of a modelled kind, as client-go and
// istio.io/client-go clients and informers return it (*corev1.Service,
// *networkingv1.VirtualService, …), into a Resource from the cluster. The
// Resource shares the object's maps and spec: neither may be modified
// afterwards, which is what informer caches require anyway.
func FromObject(obj runtime.Object) (*Resource, error) {
	if obj == nil {
		return nil, fmt.Errorf("no object")
	}
	info, ok := indexes().byType[reflect.TypeOf(obj)]
	if !ok {
		return nil, fmt.Errorf("%T is not a kind meshctl models", obj)
	}
	v := reflect.ValueOf(obj)
	if v.IsNil() {
		return nil, fmt.Errorf("nil %T", obj)
	}
	meta := objectMeta(obj)
	if meta == nil {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	spec := any(obj)
	if info.Mesh {
		spec = v.Elem().Field(info.specField).Addr().Interface()
	}
	return &Resource{Kind: info.Kind, APIVersion: info.GroupVersion(), ObjectMeta: *meta, Spec: spec, Origin: Origin{Source: SourceCluster}}, nil
}

// KeyOf returns the identity of what an informer hands to a delete handler:
// a typed object, or the cache.DeletedFinalStateUnknown tombstone left when
// the watch missed the deletion.
func KeyOf(obj any) (Key, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ro, ok := obj.(runtime.Object)
	if !ok {
		return Key{}, fmt.Errorf("%T is not an API object", obj)
	}
	info, ok := indexes().byType[reflect.TypeOf(ro)]
	if !ok {
		return Key{}, fmt.Errorf("%T is not a kind meshctl models", obj)
	}
	m, ok := ro.(metav1.Object)
	if !ok {
		return Key{}, fmt.Errorf("%T has no object metadata", obj)
	}
	return Key{Kind: info.Kind, Namespace: m.GetNamespace(), Name: m.GetName()}, nil
}
