package get

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/meshctl/meshctl/internal/fakecustom"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func vs(ns, name string, age time.Duration, gateways []string, hosts ...string) *networkingv1.VirtualService {
	return &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec: networkingapi.VirtualService{Hosts: hosts, Gateways: gateways, Http: []*networkingapi.HTTPRoute{{
			Route: []*networkingapi.HTTPRouteDestination{
				{Destination: &networkingapi.Destination{Host: hosts[0], Subset: "v1"}, Weight: 90},
				{Destination: &networkingapi.Destination{Host: hosts[0], Subset: "v3"}, Weight: 10},
			},
		}}},
	}
}

func newOptions(t *testing.T, client *istiofake.Clientset, dyn dynamic.Interface) (*Options, func() (string, string)) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	return &Options{
		IO: streams, Namespace: "default",
		Custom:  func() (config.CustomResources, error) { return fakecustom.New(client, nil), nil },
		Dynamic: func() (dynamic.Interface, error) { return dyn, nil },
		Now:     func() time.Time { return now },
	}, func() (string, string) { return out.String(), errOut.String() }
}

func TestTable(t *testing.T) {
	client := istiofake.NewSimpleClientset(
		vs("default", "reviews", 5*time.Minute, nil, "reviews"),
		vs("default", "bookinfo", 20*time.Minute, []string{"bookinfo-gateway"}, "*"),
		vs("other", "ratings", time.Hour, nil, "ratings"),
	)
	o, got := newOptions(t, client, nil)
	o.Kind = config.KindVirtualService
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ := got()
	want := `NAME       GATEWAYS           HOSTS     #HTTP   #TCP   NAMESPACE   AGE
bookinfo   bookinfo-gateway   *         1       0      default     20m
reviews    -                  reviews   1       0      default     5m
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	o, got = newOptions(t, client, nil)
	o.Kind, o.AllNamespaces, o.Output = config.KindVirtualService, true, "wide"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ = got()
	if !strings.Contains(out, "DESTINATIONS") || !strings.Contains(out, "ratings:v1 90%,ratings:v3 10%") || !strings.Contains(out, "other") {
		t.Errorf("wide, all namespaces:\n%s", out)
	}
}

func TestNoneAndNotFound(t *testing.T) {
	drs := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{drs: "DestinationRuleList"})
	o, got := newOptions(t, istiofake.NewSimpleClientset(), dyn)
	o.Kind = config.KindDestinationRule
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, errOut := got(); out != "" || errOut != "No resources found in default namespace.\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}

	o, _ = newOptions(t, istiofake.NewSimpleClientset(vs("default", "reviews", time.Minute, nil, "reviews")), nil)
	o.Kind, o.Names = config.KindVirtualService, []string{"reviews", "nope"}
	err := o.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `virtualservices "nope" not found in namespace "default"`) {
		t.Errorf("err = %v", err)
	}

	// Without the CRD, "no resources" would hide the real problem.
	gws := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	noCRD := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gws: "GatewayList"})
	noCRD.PrependReactor("list", "gateways", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "networking.istio.io", Resource: "gateways"}, "")
	})
	o, _ = newOptions(t, istiofake.NewSimpleClientset(), noCRD)
	o.Kind = config.KindGateway
	err = o.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not serve gateways.networking.istio.io/v1: the mesh CRDs are not installed") {
		t.Errorf("err = %v", err)
	}
}

func TestYAML(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": "default",
			"managedFields": []any{map[string]any{"manager": "kubectl"}}},
		"spec": map[string]any{"hosts": []any{"reviews"}},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "VirtualServiceList"}, u)
	o, got := newOptions(t, nil, dyn)
	o.Kind, o.Output = config.KindVirtualService, "yaml"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ := got()
	for _, w := range []string{"kind: List", "- apiVersion: networking.istio.io/v1", "kind: VirtualService", "name: reviews", "- reviews"} {
		if !strings.Contains(out, w) {
			t.Errorf("-o yaml lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "managedFields") {
		t.Errorf("managed fields printed:\n%s", out)
	}

	o, got = newOptions(t, nil, dyn)
	o.Kind, o.Output, o.Names = config.KindVirtualService, "json", []string{"reviews"}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, _ := got(); !strings.HasPrefix(out, "{\n    \"apiVersion\": \"networking.istio.io/v1\",") {
		t.Errorf("-o json of one object:\n%s", out)
	}
}

func TestResolveType(t *testing.T) {
	for in, want := range map[string]config.Kind{
		"vs": config.KindVirtualService, "virtualservices": config.KindVirtualService, "VirtualService": config.KindVirtualService,
		"virtualservice": config.KindVirtualService, "virtualservices.networking.istio.io": config.KindVirtualService,
		"dr": config.KindDestinationRule, "gw": config.KindGateway, "gateway": config.KindGateway,
		"se": config.KindServiceEntry, "serviceentry": config.KindServiceEntry, "sidecars": config.KindSidecar,
		"authorizationpolicy": config.KindAuthorizationPolicy, "pa": config.KindPeerAuthentication,
	} {
		if got, ok := resolveType(in); !ok || got != want {
			t.Errorf("resolveType(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"pods", "services", "nope", ""} {
		if got, ok := resolveType(in); ok {
			t.Errorf("resolveType(%q) = %q, want unknown", in, got)
		}
	}
}

func TestCommandLineErrors(t *testing.T) {
	for _, args := range [][]string{{"pods"}, {"vs", "-o", "xml"}, {"vs", "a", "-A"}, {}} {
		streams, _, _, _ := iostreams.Test()
		cmd := NewCmdGet(cmdutil.NewFactory(streams))
		cmd.SetArgs(args)
		cmd.SetOut(streams.Out)
		cmd.SetErr(streams.ErrOut)
		err := cmd.Execute()
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit code %d (%v), want %d", args, code, err, cmdutil.ExitUsage)
		}
	}
}
