// Package testcrds installs the mesh CustomResourceDefinitions that meshctl
// ships (manifests/base) into the local test cluster, for e2e tests that
// create mesh resources without running a whole install.
package testcrds

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/manifests"
)

// Ensure creates each CRD of the given plurals ("virtualservices") that the
// cluster lacks and waits until they are served. CRDs are cluster-scoped and
// shared by every test of the run, so they are created if absent and never
// deleted; an existing CRD is left as it is.
func Ensure(t testing.TB, cfg *rest.Config, plurals ...string) {
	t.Helper()
	client, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	crds, err := shipped()
	if err != nil {
		t.Fatalf("reading the CRDs under manifests/base: %v", err)
	}
	ctx := context.Background()
	for _, p := range plurals {
		crd, ok := crds[p]
		if !ok {
			t.Fatalf("manifests/base ships no CRD for %q", p)
		}
		_, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating CRD %s: %v", crd.Name, err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err == nil && established(got) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established after a minute (last error: %v)", crd.Name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func established(c *apiextv1.CustomResourceDefinition) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
			return true
		}
	}
	return false
}

// shipped reads every CRD in manifests/base, whatever the file format (YAML
// documents or a JSON List), keyed by plural.
func shipped() (map[string]*apiextv1.CustomResourceDefinition, error) {
	out := map[string]*apiextv1.CustomResourceDefinition{}
	err := fs.WalkDir(manifests.FS, "base", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".json")) {
			return err
		}
		data, err := fs.ReadFile(manifests.FS, path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			objs := []unstructured.Unstructured{u}
			if u.IsList() {
				l, err := u.ToList()
				if err != nil {
					return err
				}
				objs = l.Items
			}
			for _, o := range objs {
				if o.GetKind() != "CustomResourceDefinition" {
					continue
				}
				crd := &apiextv1.CustomResourceDefinition{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
					return err
				}
				out[crd.Spec.Names.Plural] = crd
			}
		}
	})
	return out, err
}
