//go:build e2e

package analyze

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingclient "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

func ptr[T any](v T) *T { return &v }

// apply creates the modelled objects of testdata files in ns.
func apply(t *testing.T, c *testcluster.Cluster, istio istioclient.Interface, ns string, files ...string) {
	t.Helper()
	ctx := context.Background()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(td, f))
		if err != nil {
			t.Fatal(err)
		}
		rs, errs := config.Parse(f, data)
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		for _, r := range rs {
			r.Namespace = ns
			meta := metav1.ObjectMeta{Name: r.Name, Namespace: ns, Labels: r.Labels, Annotations: r.Annotations}
			switch r.Kind {
			case config.KindService:
				s := r.Service().DeepCopy()
				s.ObjectMeta = meta
				_, err = c.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{})
			case config.KindDeployment:
				d := r.Spec.(*appsv1.Deployment).DeepCopy()
				d.ObjectMeta = meta
				_, err = c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
			case "ServiceAccount":
				_, err = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{})
			case config.KindDestinationRule:
				dr := &networkingclient.DestinationRule{ObjectMeta: meta}
				r.DestinationRule().DeepCopyInto(&dr.Spec)
				_, err = istio.NetworkingV1().DestinationRules(ns).Create(ctx, dr, metav1.CreateOptions{})
			case config.KindVirtualService:
				vs := &networkingclient.VirtualService{ObjectMeta: meta}
				r.VirtualService().DeepCopyInto(&vs.Spec)
				_, err = istio.NetworkingV1().VirtualServices(ns).Create(ctx, vs, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					old, gerr := istio.NetworkingV1().VirtualServices(ns).Get(ctx, r.Name, metav1.GetOptions{})
					if gerr != nil {
						t.Fatal(gerr)
					}
					r.VirtualService().DeepCopyInto(&old.Spec)
					_, err = istio.NetworkingV1().VirtualServices(ns).Update(ctx, old, metav1.UpdateOptions{})
				}
			case config.KindKubernetesGateway:
				gw := r.KubernetesGateway().DeepCopy()
				gw.ObjectMeta = meta
				_, err = gatewayAPI(t, c).GatewayV1().Gateways(ns).Create(ctx, gw, metav1.CreateOptions{})
			case config.KindGatewayClass:
				// Cluster-scoped and shared by the tests of this cluster:
				// created once, as istiod would.
				gc := r.GatewayClass().DeepCopy()
				gc.ObjectMeta = metav1.ObjectMeta{Name: r.Name}
				_, err = gatewayAPI(t, c).GatewayV1().GatewayClasses().Create(ctx, gc, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					err = nil
				}
			case config.KindHTTPRoute:
				rt := r.HTTPRoute().DeepCopy()
				rt.ObjectMeta = meta
				_, err = gatewayAPI(t, c).GatewayV1().HTTPRoutes(ns).Create(ctx, rt, metav1.CreateOptions{})
			case config.KindGRPCRoute:
				rt := r.GRPCRoute().DeepCopy()
				rt.ObjectMeta = meta
				_, err = gatewayAPI(t, c).GatewayV1().GRPCRoutes(ns).Create(ctx, rt, metav1.CreateOptions{})
			default:
				continue
			}
			if err != nil {
				t.Fatalf("creating %s: %v", r, err)
			}
		}
	}
}

func gatewayAPI(t *testing.T, c *testcluster.Cluster) gatewayclient.Interface {
	t.Helper()
	gc, err := gatewayclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return gc
}

// TestAnalyzeClusterGatewayAPI reads Gateway API kinds from a real API server
// (the Gateway API's own CRDs): Istio's bookinfo Gateway API samples analyze
// clean there, and a route to a Service that does not exist, applied to the
// cluster, is found and named as a cluster object; so are a Gateway of a
// missing class, a GRPCRoute a listener does not accept, and the newer of
// two HTTPRoutes for one request on one listener.
func TestAnalyzeClusterGatewayAPI(t *testing.T) {
	c := testcluster.Get(t)
	istio, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	testcrds.Ensure(t, c.Config)
	testcrds.EnsureGatewayAPI(t, c.Config)
	ns := c.NewNamespace(t, nil)

	apply(t, c, istio, ns, "bookinfo/bookinfo.yaml",
		"upstream/istio/gateway-api/bookinfo_platform_kube_bookinfo-versions.yaml",
		"upstream/istio/gateway-api/bookinfo_gateway-api_bookinfo-gateway.yaml",
		"upstream/istio/gateway-api/bookinfo_gateway-api_route-reviews-90-10.yaml",
		"analyze/cluster/gatewayclass-istio.yaml")
	code, out, errOut := analyzeCluster(t, c, ns)
	if code != 0 || strings.Contains(out, "Error [") || strings.Contains(out, "Warning [") || strings.Contains(errOut, "No cluster reachable") {
		t.Fatalf("bookinfo with Gateway API routes in the cluster: exit %d\n%s\n%s", code, out, errOut)
	}

	apply(t, c, istio, ns, "analyze/MSH0903/positive.yaml")
	code, out, _ = analyzeCluster(t, c, ns)
	want := `Error [MSH0903] (HTTPRoute ` + ns + `/bad cluster) backend Service ` + ns + `/ratingz not found`
	if code != cmdutil.ExitFindings || !strings.Contains(out, want) {
		t.Fatalf("route to a missing Service in the cluster: exit %d, want %d and %q:\n%s", code, cmdutil.ExitFindings, want, out)
	}

	// The cluster's GatewayClasses are read (cluster-scoped, outside the
	// namespace analyzed): a Gateway of a class it lacks is an Error.
	apply(t, c, istio, ns, "analyze/MSH0907/positive.yaml")
	code, out, _ = analyzeCluster(t, c, ns)
	want = `Error [MSH0907] (Gateway.gateway.networking.k8s.io ` + ns + `/typo cluster) GatewayClass itsio not found`
	if code != cmdutil.ExitFindings || !strings.Contains(out, want) || strings.Contains(out, ns+"/web cluster) GatewayClass") {
		t.Fatalf("Gateway of a missing class in the cluster: exit %d, want %d and %q only:\n%s", code, cmdutil.ExitFindings, want, out)
	}

	// An HTTPRoute and a GRPCRoute of the cluster on one listener for one
	// hostname: the GRPCRoute, created second, is the one not accepted.
	apply(t, c, istio, ns, "analyze/cluster/http-grpc-same-hostname.yaml")
	code, out, _ = analyzeCluster(t, c, ns)
	want = `Error [MSH0908] (GRPCRoute ` + ns + `/shop-b cluster) HTTPRoute ` + ns + `/shop-a (cluster) also claims hostname shop.example.com on listener http of Gateway ` + ns + `/shop`
	if code != cmdutil.ExitFindings || !strings.Contains(out, want) || strings.Contains(out, "(HTTPRoute "+ns+"/shop-a cluster)") {
		t.Fatalf("HTTPRoute and GRPCRoute for one hostname on one listener in the cluster: exit %d, want %d and %q:\n%s", code, cmdutil.ExitFindings, want, out)
	}

	// Two HTTPRoutes for one request on one listener, one naming the whole
	// Gateway, one the listener: the API server's creationTimestamps (whole
	// seconds) make z-old, created first, the older, and it gets the
	// requests although a-new comes first by name.
	apply(t, c, istio, ns, "analyze/cluster/httproute-older.yaml")
	old, err := gatewayAPI(t, c).GatewayV1().HTTPRoutes(ns).Get(context.Background(), "z-old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Not a timing: the wait only puts a-new's creation in a later second.
	time.Sleep(time.Until(old.CreationTimestamp.Add(time.Second)))
	apply(t, c, istio, ns, "analyze/cluster/httproute-newer.yaml")
	code, out, _ = analyzeCluster(t, c, ns)
	want = `Warning [MSH0905] (HTTPRoute ` + ns + `/a-new cluster) HTTPRoute ` + ns + `/z-old (cluster) matches the same requests on Gateway.gateway.networking.k8s.io ` + ns + `/dated for hostname dated.example.com (path PathPrefix /cart): on listener http the Gateway API gives them to the older (here that one)`
	if code != cmdutil.ExitFindings || !strings.Contains(out, want) || strings.Contains(out, "(HTTPRoute "+ns+"/z-old cluster)") {
		t.Fatalf("two HTTPRoutes for one request on one listener in the cluster: exit %d, want %d and %q:\n%s", code, cmdutil.ExitFindings, want, out)
	}
}

func analyzeCluster(t *testing.T, c *testcluster.Cluster, ns string, args ...string) (int, string, string) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactoryForKubeconfig(streams, c.Kubeconfig, ns)
	cmd := NewCmdAnalyze(f)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

func TestAnalyzeCluster(t *testing.T) {
	c := testcluster.Get(t)
	istio, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	testcrds.Ensure(t, c.Config)
	ns := c.NewNamespace(t, nil)

	apply(t, c, istio, ns, "bookinfo/bookinfo.yaml", "bookinfo/destination-rules.yaml", "bookinfo/routes/reviews-90-10.yaml")
	code, out, errOut := analyzeCluster(t, c, ns)
	if code != 0 || strings.Contains(out, "Error [") || strings.Contains(errOut, "No cluster reachable") {
		t.Fatalf("bookinfo with the 90/10 route: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("bookinfo in the cluster:\n%s%s", out, errOut)
	if !strings.Contains(out, "(DestinationRule "+ns+"/reviews cluster)") && !strings.Contains(out, "No validation issues found when analyzing namespace: "+ns+".") {
		t.Errorf("findings about cluster objects must say so:\n%s", out)
	}

	// A broken route applied to the cluster is found there.
	apply(t, c, istio, ns, "analyze/MSH0101/positive.yaml")
	code, out, _ = analyzeCluster(t, c, ns)
	want := `Error [MSH0101] (VirtualService ` + ns + `/reviews cluster) Referenced host not found: "reviews2"`
	if code != cmdutil.ExitFindings || !strings.Contains(out, want) {
		t.Fatalf("broken route in the cluster: exit %d, want %d and %q:\n%s", code, cmdutil.ExitFindings, want, out)
	}

	// Files override the cluster: the fixed route from a file hides the
	// broken one in the cluster...
	code, out, _ = analyzeCluster(t, c, ns, td+"bookinfo/routes/reviews-jason-v2.yaml")
	if code != 0 || strings.Contains(out, "MSH0101") {
		t.Fatalf("a fixed file should replace the broken cluster route: exit %d\n%s", code, out)
	}
	// ...and a file route is checked against the cluster's DestinationRules.
	code, out, _ = analyzeCluster(t, c, ns, "-o", "json", td+"analyze/MSH0102/positive.yaml")
	var rep struct {
		Findings []struct {
			Code   string
			Origin struct {
				Source string
				Path   string
				Line   int
			}
		}
		ExitCode int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, f := range rep.Findings {
		if f.Code == "MSH0102" && f.Origin.Source == "file" && strings.HasSuffix(f.Origin.Path, "MSH0102/positive.yaml") && f.Origin.Line == 9 {
			found = true
		}
		if f.Code == "MSH0101" {
			t.Errorf("the cluster's broken route should be replaced by the file's: %s", out)
		}
	}
	if !found || code != cmdutil.ExitFindings || rep.ExitCode != cmdutil.ExitFindings {
		t.Fatalf("subset v4 from a file against the cluster's DestinationRule: exit %d\n%s", code, out)
	}
}
