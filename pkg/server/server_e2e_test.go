//go:build e2e

package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	networkingapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/testcluster"
	"github.com/meshctl/meshctl/internal/testcrds"
	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

func runTests(m *testing.M) int { return testcluster.Main(m) }

// reviewsCluster applies the bookinfo-style reviews Service and three
// one-replica Deployments, waits until the EndpointSlice lists the three pods
// and returns their IPs by version.
func reviewsCluster(t *testing.T, c *testcluster.Cluster, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	_, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "reviews"},
			Ports: []corev1.ServicePort{{Name: "grpc", Port: 9080, TargetPort: intstr.FromInt32(9080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		labels := map[string]string{"app": "reviews", "version": v}
		one := int32(1)
		_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "reviews-" + v, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "reviews", Image: "reviews:" + v, Ports: []corev1.ContainerPort{{ContainerPort: 9080}}}},
				}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	ips := map[string]string{}
	if !xdstest.Eventually(90*time.Second, func() bool {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=reviews"})
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
				ips[p.Labels["version"]] = p.Status.PodIP
			}
		}
		slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=reviews"})
		if err != nil {
			return false
		}
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		return len(ips) == 3 && ready == 3
	}) {
		t.Fatalf("reviews pods and endpoints not ready: %v", ips)
	}
	return ips
}

// startPodBackends listens on the pods' IPs: possible only in the private
// network namespace of hack/cluster/netns-run.sh, where the pod range is
// routed to loopback.
func startPodBackends(t *testing.T, ips map[string]string) map[string]*xdstest.Backend {
	t.Helper()
	probe, err := net.Listen("tcp", ips["v1"]+":0")
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("pod IP %s is not routable here: run the test binary inside hack/cluster/netns-run.sh (make test does)", ips["v1"])
		}
		t.Fatal(err)
	}
	probe.Close()
	out := map[string]*xdstest.Backend{}
	for v, ip := range ips {
		out[v] = xdstest.StartBackend(t, ip+":9080", v)
	}
	return out
}

func startServer(t *testing.T, c *testcluster.Cluster) (*Server, istioclient.Interface) {
	t.Helper()
	return startServerLog(t, c, testr.New(t))
}

func startServerLog(t testing.TB, c *testcluster.Cluster, log logr.Logger) (*Server, istioclient.Interface) {
	t.Helper()
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := config.NewCustomResources(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{XDSAddress: "127.0.0.1:0", MonitoringAddress: "127.0.0.1:0", MeshNamespace: "mesh-system", Kube: c.Client, Custom: custom, Log: log, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	if !xdstest.Eventually(30*time.Second, func() bool {
		resp, err := http.Get("http://" + s.MonitoringAddr() + PathReady)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("server not ready within 30s")
	}
	return s, ic
}

// vs builds a VirtualService for reviews from YAML of its http section.
func vs(t testing.TB, ns, http string) *networkingv1.VirtualService {
	t.Helper()
	obj := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns}}
	doc := "hosts: [reviews]\nhttp:\n" + http
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(js, &obj.Spec); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return obj
}

// TestServerOnCluster runs the server against the real API server, with
// reviews v1/v2/v3 pods whose IPs local backends serve, and drives a
// grpc-go xDS client through every bookinfo scenario, counting transient
// errors during each route switch.
func TestServerOnCluster(t *testing.T) {
	c := testcluster.Get(t)
	testcrds.Ensure(t, c.Config, "virtualservices", "destinationrules")
	ns := c.NewNamespace(t, nil)
	ips := reviewsCluster(t, c, ns)
	backends := startPodBackends(t, ips)
	srv, ic := startServer(t, c)
	ctx := context.Background()

	nodeID := xdstest.NodeID("10.244.200.1", "reviews-client", ns)
	cl := xdstest.NewClient(t, fmt.Sprintf("xds:///reviews.%s.svc.cluster.local:9080", ns), xdstest.Bootstrap(srv.XDSAddr(), nodeID, ns))
	check := func() xdstest.Result { return cl.Check(ctx) }
	waitFor(t, "first response", check, func(r xdstest.Result) bool { return r.Code == codes.OK })

	const n = 600
	t.Run("round robin without routing", func(t *testing.T) {
		got := xdstest.Count(n, check)
		for _, v := range []string{"v1", "v2", "v3"} {
			xdstest.ExpectShare(t, v, got.Versions[v], n, 1.0/3)
		}
	})

	_, err := ic.NetworkingV1().DestinationRules(ns).Create(ctx, &networkingv1.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec: networkingapi.DestinationRule{Host: "reviews", Subsets: []*networkingapi.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "v2", Labels: map[string]string{"version": "v2"}},
			{Name: "v3", Labels: map[string]string{"version": "v3"}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	switchErrors := 0
	apply := func(t *testing.T, http string, done func() bool) {
		t.Helper()
		// Injected faults are the config working, not transient errors.
		injected := func(r xdstest.Result) bool { return strings.Contains(fmt.Sprint(r.Err), "fault injection") }
		var ok bool
		bad := xdstest.FailuresDuring(t, check, injected, func() {
			obj := vs(t, ns, http)
			cur, err := ic.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
			if err == nil {
				obj.ResourceVersion = cur.ResourceVersion
				_, err = ic.NetworkingV1().VirtualServices(ns).Update(ctx, obj, metav1.UpdateOptions{})
			} else {
				_, err = ic.NetworkingV1().VirtualServices(ns).Create(ctx, obj, metav1.CreateOptions{})
			}
			if err != nil {
				t.Errorf("applying VirtualService reviews: %v", err)
				return
			}
			ok = xdstest.Eventually(15*time.Second, done)
		})
		switchErrors += bad
		if !ok {
			t.Fatalf("route not applied within 15s")
		}
	}
	only := func(v string, kv ...string) func() bool {
		return func() bool {
			got := xdstest.Count(20, func() xdstest.Result { return cl.Check(ctx, kv...) })
			return got.Versions[v] == 20
		}
	}
	t.Run("all to v1", func(t *testing.T) {
		apply(t, "- route: [{destination: {host: reviews, subset: v1}}]\n", only("v1"))
		if got := xdstest.Count(n, check); got.Versions["v1"] != n {
			t.Errorf("want all on v1: %v", got)
		}
	})
	t.Run("end-user jason to v2", func(t *testing.T) {
		apply(t, `- match: [{headers: {end-user: {exact: jason}}}]
  route: [{destination: {host: reviews, subset: v2}}]
- route: [{destination: {host: reviews, subset: v1}}]
`, only("v2", "end-user", "jason"))
		jason := xdstest.Count(200, func() xdstest.Result { return cl.Check(ctx, "end-user", "jason") })
		other := xdstest.Count(200, func() xdstest.Result { return cl.Check(ctx, "end-user", "mary") })
		if jason.Versions["v2"] != 200 || other.Versions["v1"] != 200 {
			t.Errorf("jason: %v; mary: %v", jason, other)
		}
	})
	for _, w := range [][2]int{{50, 50}, {90, 10}} {
		t.Run(fmt.Sprintf("%d/%d v1/v3", w[0], w[1]), func(t *testing.T) {
			apply(t, fmt.Sprintf("- route:\n  - {destination: {host: reviews, subset: v1}, weight: %d}\n  - {destination: {host: reviews, subset: v3}, weight: %d}\n", w[0], w[1]), func() bool {
				got := xdstest.Count(40, check)
				return got.Versions["v3"] > 0 && got.Versions["v1"]+got.Versions["v3"] == 40
			})
			got := xdstest.Count(n, check)
			xdstest.ExpectShare(t, "v1", got.Versions["v1"], n, float64(w[0])/100)
			xdstest.ExpectShare(t, "v3", got.Versions["v3"], n, float64(w[1])/100)
		})
	}
	t.Run("100% v3 after an update", func(t *testing.T) {
		apply(t, "- route: [{destination: {host: reviews, subset: v3}, weight: 100}]\n", only("v3"))
		if got := xdstest.Count(n, check); got.Versions["v3"] != n {
			t.Errorf("want all on v3: %v", got)
		}
	})
	t.Logf("transient client errors over all route switches: %d", switchErrors)

	t.Run("fault abort by HTTP and by gRPC status", func(t *testing.T) {
		for _, tc := range []struct {
			abort string
			code  codes.Code
		}{{"httpStatus: 503", codes.Unavailable}, {"grpcStatus: PERMISSION_DENIED", codes.PermissionDenied}} {
			apply(t, fmt.Sprintf("- fault: {abort: {%s, percentage: {value: 30}}}\n  route: [{destination: {host: reviews, subset: v1}}]\n", tc.abort), func() bool {
				return xdstest.Count(60, check).Codes[tc.code] > 0
			})
			got := xdstest.Count(n, check)
			xdstest.ExpectShare(t, tc.abort, got.Codes[tc.code], n, 0.3)
			if got.Codes[tc.code]+got.Versions["v1"] != n {
				t.Errorf("%s: unexpected results %v", tc.abort, got)
			}
		}
	})
	t.Run("retries", func(t *testing.T) {
		apply(t, "- retries: {attempts: 3, retryOn: unavailable}\n  route: [{destination: {host: reviews, subset: v2}}]\n", only("v2"))
		calls := backends["v2"].Calls()
		backends["v2"].FailNext(2, codes.Unavailable)
		if r := check(); r.Code != codes.OK || r.Version != "v2" {
			t.Errorf("a call with two failures and 3 retries: %v", r.Err)
		}
		if got := backends["v2"].Calls() - calls; got != 3 {
			t.Errorf("backend saw %d attempts, want 3 (1 + 2 retries)", got)
		}
		before := ackedRoute(srv, nodeID)
		apply(t, "- route: [{destination: {host: reviews, subset: v2}}]\n  retries: {attempts: 0}\n", func() bool {
			// Same backend as before: wait for the client to acknowledge the
			// new route version instead.
			acked := ackedRoute(srv, nodeID)
			return acked != before && acked != ""
		})
		backends["v2"].FailNext(1, codes.Unavailable)
		if r := check(); r.Code != codes.Unavailable {
			t.Errorf("without retries the failure reaches the client: %v", r.Err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		apply(t, "- timeout: 0.2s\n  route: [{destination: {host: reviews, subset: v3}}]\n", only("v3"))
		backends["v3"].SetDelay(time.Second)
		defer backends["v3"].SetDelay(0)
		start := time.Now()
		r := check()
		if r.Code != codes.DeadlineExceeded {
			t.Errorf("a 1s answer with a 0.2s route timeout: %v", r.Err)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("the timeout did not cut the call short: %s", d)
		}
	})
	t.Run("invalid VirtualService never reaches the client", func(t *testing.T) {
		apply(t, "- route: [{destination: {host: reviews, subset: v1}}]\n", only("v1"))
		bad := vs(t, ns, "- route: [{destination: {host: reviews, subset: v2}, weight: 150}]\n")
		cur, err := ic.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bad.ResourceVersion = cur.ResourceVersion
		if _, err := ic.NetworkingV1().VirtualServices(ns).Update(ctx, bad, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if !xdstest.Eventually(10*time.Second, func() bool {
			for _, p := range srv.Pusher.Problems() {
				if strings.Contains(p, "VirtualService "+ns+"/reviews") && strings.Contains(p, "rejected by validation") {
					return true
				}
			}
			return false
		}) {
			t.Fatalf("the invalid VirtualService is not reported: %v", srv.Pusher.Problems())
		}
		// The client keeps the last valid version of the object.
		if got := xdstest.Count(300, check); got.Versions["v1"] != 300 {
			t.Errorf("after an invalid update, want every call on v1 still: %v", got)
		}
	})
}

// ackedRoute is the route config version the client acknowledged last.
func ackedRoute(s *Server, nodeID string) string {
	for _, p := range s.Status.Proxies() {
		if p.ID == nodeID {
			if ts := p.Types[generate.RouteType]; ts != nil {
				return ts.Acked
			}
		}
	}
	return ""
}
