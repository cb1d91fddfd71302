package server

import (
	"cmp"
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/xds/translate"
)

// ReadMeshConfig reads the revision's mesh config from its mesh ConfigMap
// in namespace, with pkg/meshconfig's parser; without the ConfigMap (the
// mesh is not installed there) it is meshconfig.Default with namespace as
// the root namespace.
func ReadMeshConfig(ctx context.Context, client kubernetes.Interface, namespace, revision string) (*meshconfig.MeshConfig, error) {
	def := meshconfig.Default()
	def.RootNamespace = namespace
	name := vocab.MeshConfigMapName(revision)
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading configmap %s/%s: %w", namespace, name, err)
	}
	mc, ok, err := meshconfig.FromConfigMapData(cm.Data, fmt.Sprintf("configmap %s/%s", namespace, name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return def, nil
	}
	return mc, nil
}

// MeshSettings are what translation reads from the mesh config.
type MeshSettings struct {
	// RootNamespace holds mesh-wide policies.
	RootNamespace string
	// TrustDomain of workload identities: what mesh mTLS expects of a
	// server (spiffe://<trust domain>/ns/.../sa/...).
	TrustDomain string
	// TrustDomainAliases count as TrustDomain (trustDomainAliases).
	TrustDomainAliases []string
}

// meshSettingsFrom reads the revision's mesh config from a snapshot holding
// the mesh namespace's ConfigMaps: without the ConfigMap (or its mesh key)
// it is meshconfig.Default with the mesh namespace as root (as
// ReadMeshConfig); ok is false when it does not parse (the caller keeps the
// settings it has; the error is logged).
func meshSettingsFrom(namespace, revision string, onError func(error)) func(translate.Reader) (MeshSettings, bool) {
	name := vocab.MeshConfigMapName(revision)
	def := MeshSettings{RootNamespace: namespace, TrustDomain: meshconfig.Default().GetTrustDomain()}
	return func(s translate.Reader) (MeshSettings, bool) {
		for _, r := range s.List(config.KindConfigMap, namespace) {
			if r.Name != name {
				continue
			}
			cm := r.ConfigMap()
			if cm == nil {
				return MeshSettings{}, false
			}
			mc, ok, err := meshconfig.FromConfigMapData(cm.Data, fmt.Sprintf("configmap %s/%s", namespace, name))
			if err != nil {
				if onError != nil {
					onError(err)
				}
				return MeshSettings{}, false
			}
			if !ok {
				return def, true
			}
			return MeshSettings{RootNamespace: cmp.Or(mc.GetRootNamespace(), namespace), TrustDomain: cmp.Or(mc.GetTrustDomain(), def.TrustDomain),
				TrustDomainAliases: mc.GetTrustDomainAliases()}, true
		}
		return def, true
	}
}
