//go:build e2e

package get

import (
	"context"
	"os"
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

const routes = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match:
    - uri: {exact: /productpage}
    route:
    - destination: {host: productpage, port: {number: 9080}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v3}
      weight: 10
  tcp:
  - route:
    - destination: {host: reviews, port: {number: 9090}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

func apply(t *testing.T, dyn dynamic.Interface, ns, docs string) {
	t.Helper()
	for _, doc := range strings.Split(docs, "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		gvk := u.GroupVersionKind()
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), &u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s %s: %v", gvk.Kind, u.GetName(), err)
		}
	}
}

func runGet(t *testing.T, c *testcluster.Cluster, ns string, args ...string) (string, string) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	cmd := NewCmdGet(cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, ns))
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("meshctl get %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out.String(), errOut.String()
}

// fields splits a table into rows of fields, header first.
func fields(table string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestGetFromCluster(t *testing.T) {
	c := testcluster.Get(t)
	testcrds.Ensure(t, c.Config, "virtualservices", "destinationrules")
	ns := c.NewNamespace(t, nil)

	// An empty namespace says so on stderr and prints no table.
	out, errOut := runGet(t, c, ns, "virtualservices")
	if out != "" || !strings.Contains(errOut, "No resources found in "+ns+" namespace.") {
		t.Fatalf("empty namespace: stdout %q stderr %q", out, errOut)
	}

	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, dyn, ns, routes)

	out, _ = runGet(t, c, ns, "vs")
	t.Logf("meshctl get vs:\n%s", out)
	rows := fields(out)
	wantHeader := []string{"NAME", "GATEWAYS", "HOSTS", "#HTTP", "#TCP", "NAMESPACE", "AGE"}
	if strings.Join(rows[0], " ") != strings.Join(wantHeader, " ") {
		t.Fatalf("header %v, want %v\n%s", rows[0], wantHeader, out)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 2:\n%s", len(rows)-1, out)
	}
	want := [][]string{
		{"bookinfo", "bookinfo-gateway", "*", "1", "0", ns},
		{"reviews", "-", "reviews", "2", "1", ns},
	}
	for i, w := range want {
		if got := rows[i+1][:6]; strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d = %v, want %v (then AGE)", i+1, rows[i+1], w)
		}
		if len(rows[i+1]) != 7 || !strings.HasSuffix(rows[i+1][6], "s") && !strings.HasSuffix(rows[i+1][6], "m") {
			t.Errorf("row %d has no age: %v", i+1, rows[i+1])
		}
	}

	out, _ = runGet(t, c, ns, "dr", "-o", "wide")
	t.Logf("meshctl get dr -o wide:\n%s", out)
	rows = fields(out)
	if len(rows) != 2 || strings.Join(rows[1][:4], " ") != "reviews reviews v1,v2,v3 ISTIO_MUTUAL" {
		t.Errorf("destination rules:\n%s", out)
	}

	// -A finds them from another namespace.
	out, _ = runGet(t, c, "default", "virtualservices.networking.istio.io", "-A")
	if !strings.Contains(out, "reviews ") || !strings.Contains(out, ns) {
		t.Errorf("-A does not list the routes of %s:\n%s", ns, out)
	}

	// -o yaml prints what the API server stores, as a List.
	out, _ = runGet(t, c, ns, "vs", "-o", "yaml")
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				Hosts []string `json:"hosts"`
				HTTP  []struct {
					Route []struct {
						Weight int `json:"weight"`
					} `json:"route"`
				} `json:"http"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o yaml is not YAML: %v\n%s", err, out)
	}
	if list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("-o yaml: kind %q with %d items:\n%s", list.Kind, len(list.Items), out)
	}
	r := list.Items[1]
	if r.Kind != "VirtualService" || r.Metadata.Name != "reviews" || r.Metadata.Namespace != ns || r.Metadata.UID == "" ||
		len(r.Spec.HTTP) != 2 || len(r.Spec.HTTP[1].Route) != 2 || r.Spec.HTTP[1].Route[0].Weight != 90 {
		t.Errorf("-o yaml item: %+v\n%s", r, out)
	}
	if strings.Contains(out, "managedFields") {
		t.Errorf("-o yaml shows managed fields:\n%s", out)
	}

	// One named object prints alone, in JSON too.
	out, _ = runGet(t, c, ns, "vs", "reviews", "-o", "json")
	if !strings.Contains(out, `"kind": "VirtualService"`) || strings.Contains(out, `"kind": "List"`) || !strings.Contains(out, `"name": "reviews"`) {
		t.Errorf("-o json of one object:\n%s", out)
	}
}
