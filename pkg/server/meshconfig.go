package server

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/vocab"
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
