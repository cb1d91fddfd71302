// Package testcrds installs the mesh CustomResourceDefinitions that meshctl
// ships (manifests/base) into the local test cluster, for e2e tests that
// create mesh resources without running a whole install.
package testcrds

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/install"
)

// Ensure creates each CRD of the given plurals ("virtualservices"), or every
// shipped CRD when none is given, that the cluster lacks and waits until they
// are served. CRDs are cluster-scoped and
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
		t.Fatalf("reading the shipped CRDs: %v", err)
	}
	if len(plurals) == 0 {
		for p := range crds {
			plurals = append(plurals, p)
		}
	}
	for _, p := range plurals {
		crd, ok := crds[p]
		if !ok {
			t.Fatalf("manifests/base ships no CRD for %q", p)
		}
		create(t, client, crd)
	}
}

// EnsureGatewayAPI creates the Gateway API CRDs of the kinds meshctl models
// (GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant), as the
// Gateway API publishes them, and waits until they are served. The mesh
// install does not bring them (users install the Gateway API themselves), so
// they come from testdata/upstream/gateway-api.
func EnsureGatewayAPI(t testing.TB, cfg *rest.Config) {
	t.Helper()
	client, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, self, _, _ := goruntime.Caller(0)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(self), "..", "..", "testdata", "upstream", "gateway-api", "crds-v1.6.3", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gateway API CRDs in testdata/upstream/gateway-api/crds-v1.6.3 (%v)", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		create(t, client, crd)
	}
}

// create creates crd unless it exists and waits until it is established.
func create(t testing.TB, client apiextclient.Interface, crd *apiextv1.CustomResourceDefinition) {
	t.Helper()
	ctx := context.Background()
	_, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating CRD %s: %v", crd.Name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err == nil && established(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established after a minute (last error: %v)", crd.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
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

// shipped returns the CRDs that install applies, keyed by plural.
func shipped() (map[string]*apiextv1.CustomResourceDefinition, error) {
	objs, err := install.CRDs()
	if err != nil {
		return nil, err
	}
	out := map[string]*apiextv1.CustomResourceDefinition{}
	for _, o := range objs {
		crd := &apiextv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
			return nil, err
		}
		out[crd.Spec.Names.Plural] = crd
	}
	return out, nil
}
