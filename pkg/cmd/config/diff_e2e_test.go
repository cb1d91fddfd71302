//go:build e2e

package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// TestDiffAgainstCluster applies the "all traffic to v1" routes to a
// namespace and asks what applying the 90/10 canary would change.
func TestDiffAgainstCluster(t *testing.T) {
	c := testcluster.Get(t)
	testcrds.Ensure(t, c.Config, "virtualservices", "destinationrules")
	ns := c.NewNamespace(t, nil)
	dir := scenarioDir(t, "all-v1-to-90-10")

	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "old", "reviews.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		gvk := u.GroupVersionKind()
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), &u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	diff := func(args ...string) (string, string, int) {
		t.Chdir(dir)
		streams, _, out, errOut := iostreams.Test()
		cmd := NewCmdConfig(cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, ns))
		cmd.SetArgs(append([]string{"diff", "--cluster"}, args...))
		cmd.SetOut(out)
		cmd.SetErr(errOut)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.ExecuteContext(context.Background())
		return out.String(), errOut.String(), cmdutil.ExitCode(err)
	}

	// The files that were applied: nothing would change.
	out, errOut, code := diff("old")
	if code != 0 || out != "" {
		t.Fatalf("cluster vs the applied files: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = diff("new")
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", code, out, errOut)
	}
	want := "host reviews (reviews." + ns + ".svc.cluster.local): VirtualService " + ns + "/reviews, DestinationRule " + ns + "/reviews\n" +
		"  ~ reviews: v1 100% → 90%, v3 0% → 10%  (new/reviews.yaml:9)\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
