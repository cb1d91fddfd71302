package agent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var testID = Identity{
	PodName: "reviews-v1-abc", Namespace: "shop", PodIP: "10.244.0.5", ServiceAccount: "reviews",
	WorkloadName: "reviews-v1", ClusterID: "Kubernetes", TrustDomain: "example.test",
	Labels: map[string]string{"app": "reviews", "version": "v1"},
}

func TestEnvoyBootstrap(t *testing.T) {
	b, err := EnvoyBootstrap(EnvoyOptions{
		Identity: testID, DiscoveryAddress: "meshctl-server.mesh-system.svc:15012",
		RootCertFile: "/var/run/secrets/mesh/root-cert.pem", SDSSocket: "/var/run/secrets/workload-spiffe-uds/socket",
		AdminPort: vocab.ProxyAdminPort, PrometheusPort: vocab.PrometheusPort,
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalBootstrap(b)
	if err != nil {
		t.Fatal(err)
	}
	// Read back as Envoy would, and validated again.
	var back bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if got, want := back.GetNode().GetId(), "sidecar~10.244.0.5~reviews-v1-abc.shop~shop.svc.cluster.local"; got != want {
		t.Errorf("node id %q, want %q", got, want)
	}
	md := back.GetNode().GetMetadata().GetFields()
	if md["NAMESPACE"].GetStringValue() != "shop" || md["LABELS"].GetStructValue().GetFields()["app"].GetStringValue() != "reviews" || md["GENERATOR"] != nil {
		t.Errorf("node metadata: %v", md)
	}
	admin := back.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() != vocab.ProxyAdminPort {
		t.Errorf("admin on %v, want 127.0.0.1:%d only", admin, vocab.ProxyAdminPort)
	}
	clusters := map[string]string{}
	for _, c := range back.GetStaticResources().GetClusters() {
		ep := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
		if p := ep.GetPipe(); p != nil {
			clusters[c.GetName()] = "unix:" + p.GetPath()
		} else {
			clusters[c.GetName()] = fmt.Sprintf("%s:%d", ep.GetSocketAddress().GetAddress(), ep.GetSocketAddress().GetPortValue())
		}
	}
	if clusters[XDSCluster] != "meshctl-server.mesh-system.svc:15012" || clusters[SDSCluster] != "unix:/var/run/secrets/workload-spiffe-uds/socket" {
		t.Errorf("clusters: %v", clusters)
	}
	var upstream tlsv3.UpstreamTlsContext
	for _, c := range back.GetStaticResources().GetClusters() {
		if c.GetName() == XDSCluster {
			if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&upstream); err != nil {
				t.Fatal(err)
			}
		}
	}
	common := upstream.GetCommonTlsContext()
	if len(common.GetTlsCertificateSdsSecretConfigs()) != 1 || common.GetTlsCertificateSdsSecretConfigs()[0].GetName() != SecretWorkload ||
		common.GetValidationContext().GetTrustedCa().GetFilename() != "/var/run/secrets/mesh/root-cert.pem" || upstream.GetSni() != "meshctl-server.mesh-system.svc" {
		t.Errorf("the control-plane connection does not use the SDS certificate and the mesh root: %v", &upstream)
	}
	gw, err := EnvoyBootstrap(EnvoyOptions{Kind: ModeRouter, Identity: testID, DiscoveryAddress: "x:15012", RootCertFile: "r", SDSSocket: "s", AdminPort: 15000, PrometheusPort: 15090})
	if err != nil || gw.GetNode().GetId() != "router~10.244.0.5~reviews-v1-abc.shop~shop.svc.cluster.local" {
		t.Errorf("gateway node id %q, %v", gw.GetNode().GetId(), err)
	}
	if _, err := EnvoyBootstrap(EnvoyOptions{Identity: testID, DiscoveryAddress: "no-port"}); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("bad address: %v", err)
	}
	// Validation is real: a port Envoy cannot bind is refused here.
	if _, err := EnvoyBootstrap(EnvoyOptions{Identity: testID, DiscoveryAddress: "x:15012", SDSSocket: "", AdminPort: 15000, PrometheusPort: 15090}); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("empty SDS socket path accepted: %v", err)
	}
}

func TestGRPCBootstrapIsReadByGRPC(t *testing.T) {
	files := CertFiles{Dir: "/var/lib/mesh/data/certs"}
	data, err := GRPCBootstrap(testID, "meshctl-server.mesh-system.svc:15012", files)
	if err != nil {
		t.Fatal(err)
	}
	// grpc-go's own bootstrap parser accepts it (credentials, node,
	// certificate providers).
	if _, err := xds.NewXDSResolverWithConfigForTesting(data); err != nil {
		t.Fatalf("grpc-go rejects the bootstrap: %v\n%s", err, data)
	}
	var b struct {
		Node struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
		} `json:"node"`
		Providers map[string]struct {
			Plugin string            `json:"plugin_name"`
			Config map[string]string `json:"config"`
		} `json:"certificate_providers"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if b.Node.ID != testID.NodeID() || b.Node.Metadata["GENERATOR"] != "grpc" {
		t.Errorf("node %+v", b.Node)
	}
	p := b.Providers["default"]
	if p.Plugin != "file_watcher" || p.Config["certificate_file"] != files.Chain() || p.Config["private_key_file"] != files.Key() || p.Config["ca_certificate_file"] != files.Root() {
		t.Errorf("certificate provider %+v", p)
	}
}

// testCA is the mesh CA of pkg/ca served over TLS as the server serves it.
type testCA struct {
	authority *ca.Authority
	addr      string
	roots     *x509.CertPool
	rootPEM   []byte
}

type tokenAuth map[string]ca.Caller

func (a tokenAuth) Authenticate(_ context.Context, token string) (ca.Caller, error) {
	c, ok := a[token]
	if !ok {
		return ca.Caller{}, errors.New("unknown token")
	}
	return c, nil
}

func startCA(t *testing.T, maxTTL time.Duration) *testCA {
	t.Helper()
	a := ca.New(fake.NewClientset(), ca.Options{Namespace: "mesh-system", TrustDomain: "example.test", WorkloadTTL: maxTTL, MaxWorkloadTTL: maxTTL})
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := ca.NewTLSServer(&ca.ServingCert{CA: a, DNSNames: ca.ServiceDNSNames("meshctl-server", "mesh-system")})
	(&ca.CSRService{CA: a, Auth: tokenAuth{"reviews-token": {Namespace: "shop", ServiceAccount: "reviews"}}, Metrics: ca.NewMetrics(nil)}).Register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return &testCA{authority: a, addr: l.Addr().String(), roots: a.Bundle().RootPool(), rootPEM: a.Bundle().RootsPEM()}
}

func (c *testCA) client(token string, ttl time.Duration) *CAClient {
	return &CAClient{
		Address: c.addr, Roots: c.roots, ServerName: "meshctl-server.mesh-system.svc",
		Token: func() (string, error) { return token, nil }, Identity: testID.SPIFFEID(), TTL: ttl,
	}
}

func TestCertificateFromTheCAServedBySDS(t *testing.T) {
	testCA := startCA(t, time.Hour)
	client := testCA.client("reviews-token", 3*time.Second)
	defer client.Close()

	// A token the CA does not accept is refused, with the CA's reason.
	bad := testCA.client("stolen", time.Hour)
	defer bad.Close()
	if _, err := bad.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "unknown token") {
		t.Fatalf("unknown token: %v", err)
	}

	sds := NewSDS()
	sock := filepath.Join(t.TempDir(), SDSSocketName)
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sds.Serve(l) }()
	defer sds.Stop()

	m := &CertManager{
		Fetch: client.Fetch, Roots: func() ([]byte, error) { return testCA.rootPEM, nil },
		OnCert: []func(*Cert) error{sds.Update}, RetryMin: 100 * time.Millisecond,
		OnError: func(err error) { t.Logf("retrying: %v", err) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	select {
	case <-m.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("no certificate from the CA")
	}
	first := m.Current()
	if len(first.Leaf.URIs) != 1 || first.Leaf.URIs[0].String() != "spiffe://example.test/ns/shop/sa/reviews" {
		t.Fatalf("certificate for %v", first.Leaf.URIs)
	}
	if _, err := first.Leaf.Verify(x509.VerifyOptions{Roots: testCA.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("the certificate does not chain to the mesh root: %v", err)
	}

	// A test SDS client on the socket, as Envoy connects.
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := secretservice.NewSecretDiscoveryServiceClient(conn).StreamSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: testID.NodeID()}, TypeUrl: resource.SecretType, ResourceNames: []string{SecretWorkload, SecretRoot}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	secrets := func() map[string]*tlsv3.Secret {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*tlsv3.Secret{}
		for _, a := range resp.GetResources() {
			var s tlsv3.Secret
			if err := a.UnmarshalTo(&s); err != nil {
				t.Fatal(err)
			}
			out[s.GetName()] = &s
		}
		req.VersionInfo, req.ResponseNonce = resp.GetVersionInfo(), resp.GetNonce()
		if err := stream.Send(req); err != nil { // ACK, and wait for the next
			t.Fatal(err)
		}
		return out
	}
	got := secrets()
	chain := got[SecretWorkload].GetTlsCertificate().GetCertificateChain().GetInlineBytes()
	leaf := parseLeaf(t, chain)
	if !leaf.Equal(m.Current().Leaf) || len(got[SecretWorkload].GetTlsCertificate().GetPrivateKey().GetInlineBytes()) == 0 {
		t.Fatalf("SDS serves another certificate than the one obtained")
	}
	if string(got[SecretRoot].GetValidationContext().GetTrustedCa().GetInlineBytes()) != string(testCA.rootPEM) {
		t.Fatalf("SDS serves another trust bundle than the mesh root")
	}

	// The certificate lives 3s; it is renewed at half life and the new one
	// is pushed on the same stream.
	renewed := secrets()
	next := parseLeaf(t, renewed[SecretWorkload].GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if next.Equal(leaf) || next.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("the pushed secret is not a renewed certificate")
	}
	if next.NotBefore.Before(leaf.NotBefore) {
		t.Fatal("renewal went backwards")
	}
}

func parseLeaf(t *testing.T, chain []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatalf("not PEM: %q", chain)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertFilesAndGRPCMode(t *testing.T) {
	testCA := startCA(t, time.Hour)
	client := testCA.client("reviews-token", time.Hour)
	defer client.Close()
	dir := t.TempDir()
	root := filepath.Join(dir, "root-cert.pem")
	if err := os.WriteFile(root, testCA.rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	health, agentL := listen(t), listen(t)
	cfg := Config{
		Mode: ModeGRPC, Identity: testID, DiscoveryAddress: "meshctl-server.mesh-system.svc:15012", RootCertFile: root,
		Certificates: client.Fetch, GRPCBootstrapPath: filepath.Join(dir, "bootstrap", "grpc-bootstrap.json"),
		CertFiles: CertFiles{Dir: filepath.Join(dir, "certs")}, HealthListener: health, AgentListener: agentL,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	url := "http://" + health.Addr().String() + "/healthz/ready"
	waitFor(t, func() bool { code, _ := httpGet(t, url); return code == http.StatusOK })
	for _, f := range []string{cfg.GRPCBootstrapPath, cfg.CertFiles.Chain(), cfg.CertFiles.Key(), cfg.CertFiles.Root()} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("ready, but %v", err)
		}
	}
	chain, _ := os.ReadFile(cfg.CertFiles.Chain())
	key, _ := os.ReadFile(cfg.CertFiles.Key())
	if leaf := parseLeaf(t, chain); leaf.URIs[0].String() != testID.SPIFFEID() {
		t.Errorf("written certificate for %v", leaf.URIs)
	}
	if st, _ := os.Stat(cfg.CertFiles.Key()); st.Mode().Perm() != 0o600 || !strings.Contains(string(key), "PRIVATE KEY") {
		t.Errorf("key file mode %v", st.Mode())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fakeAdmin is Envoy's admin API as the agent uses it.
type fakeAdmin struct {
	mu      sync.Mutex
	ready   bool
	drained int
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/ready":
		if !f.ready {
			http.Error(w, "PRE_INITIALIZING", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "LIVE")
	case "/stats/prometheus":
		fmt.Fprint(w, "# TYPE envoy_server_live gauge\nenvoy_server_live 1\n")
	case "/drain_listeners":
		if r.Method == http.MethodPost && r.URL.Query().Has("graceful") {
			f.drained++
		}
	default:
		http.NotFound(w, r)
	}
}

func TestHealthAndMergedMetrics(t *testing.T) {
	admin := &fakeAdmin{}
	adminSrv := httptest.NewServer(admin)
	defer adminSrv.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/custom/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE app_requests_total counter\napp_requests_total 42")
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())

	health := httptest.NewServer(HealthHandler(EnvoyReady(adminSrv.URL)))
	defer health.Close()
	if code, body := httpGet(t, health.URL+"/healthz/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "PRE_INITIALIZING") {
		t.Errorf("not-ready Envoy: %d %q", code, body)
	}
	admin.mu.Lock()
	admin.ready = true
	admin.mu.Unlock()
	if code, _ := httpGet(t, health.URL+"/healthz/ready"); code != http.StatusOK {
		t.Errorf("ready Envoy: %d", code)
	}

	// The app's scrape annotations as the injector saved them.
	scrape, err := ParseScrape(fmt.Sprintf(`{"prometheus.io/scrape":"true","prometheus.io/port":%q,"prometheus.io/path":"/custom/metrics"}`, appPort))
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(AgentHandler(AgentOptions{EnvoyStatsURL: adminSrv.URL + "/stats/prometheus", AppScrape: scrape}))
	defer agent.Close()
	code, body := httpGet(t, agent.URL+vocab.PrometheusMergedPath)
	if code != http.StatusOK || !strings.Contains(body, "app_requests_total 42\n") || !strings.Contains(body, "envoy_server_live 1\n") {
		t.Errorf("merged metrics: %d\n%s", code, body)
	}
	// Without the app's metrics, Envoy's are still served.
	app.Close()
	if code, body := httpGet(t, agent.URL+vocab.PrometheusMergedPath); code != http.StatusOK || !strings.Contains(body, "envoy_server_live") {
		t.Errorf("metrics with the app down: %d\n%s", code, body)
	}
}

// The probes come from the injector's own rewrite of a pod, so the agent
// reads exactly what kube-inject writes.
func TestRewrittenProbesAnswerForTheApp(t *testing.T) {
	var healthy sync.Map
	healthy.Store("ok", true)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, _ := healthy.Load("ok"); r.URL.Path == "/healthz" && v.(bool) && r.Header.Get("X-Probe") == "yes" {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, "sick", http.StatusInternalServerError)
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())
	var port int32
	fmt.Sscan(appPort, &port)
	tcp := listen(t)
	defer tcp.Close()
	_, tcpPort, _ := net.SplitHostPort(tcp.Addr().String())
	var tcpPortN int
	fmt.Sscan(tcpPort, &tcpPortN)

	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "web", Image: "web",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz", Port: intstr.FromString("http"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}},
		}}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(tcpPortN)}}},
	}}}}
	res, err := inject.Inject(inject.Workload{Kind: "Deployment", Name: "web", Namespace: "shop"}, tmpl, inject.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	var readiness *corev1.Probe
	for _, c := range append(res.Template.Spec.Containers, res.Template.Spec.InitContainers...) {
		if c.Name == vocab.ProxyContainerName {
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
		}
		if c.Name == "web" {
			readiness = c.ReadinessProbe
		}
	}
	probers, err := ParseProbers(env[vocab.EnvAppProbers])
	if err != nil {
		t.Fatal(err)
	}
	ports, err := ParsePodPorts(env[vocab.EnvPodPorts])
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(AgentHandler(AgentOptions{Probers: probers, PodPorts: ports}))
	defer agent.Close()

	// The kubelet calls what the injector wrote into the app container.
	readyURL := agent.URL + readiness.HTTPGet.Path
	if code, body := httpGet(t, readyURL); code != http.StatusOK {
		t.Errorf("healthy app: %d %s", code, body)
	}
	healthy.Store("ok", false)
	if code, body := httpGet(t, readyURL); code != http.StatusServiceUnavailable || !strings.Contains(body, "500") {
		t.Errorf("sick app: %d %s", code, body)
	}
	if code, body := httpGet(t, agent.URL+vocab.AppHealthPath("web", "livez")); code != http.StatusOK {
		t.Errorf("tcp probe of an open port: %d %s", code, body)
	}
	tcp.Close()
	if code, _ := httpGet(t, agent.URL+vocab.AppHealthPath("web", "livez")); code != http.StatusServiceUnavailable {
		t.Errorf("tcp probe of a closed port: %d", code)
	}
	if code, _ := httpGet(t, agent.URL+vocab.AppHealthPath("other", "livez")); code != http.StatusNotFound {
		t.Errorf("unknown probe: %d", code)
	}
	if _, err := ParseProbers("{not json"); err == nil || !strings.Contains(err.Error(), vocab.EnvAppProbers) {
		t.Errorf("bad probers: %v", err)
	}
}

// fakeEnvoy is a script standing in for envoy: it records its arguments and
// signals, and exits as told.
func fakeEnvoy(t *testing.T, exitCode string) (path, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	path = filepath.Join(dir, "envoy")
	script := "#!/bin/sh\necho \"args $*\" >> " + record + "\n" +
		"trap 'echo TERM >> " + record + "; exit 0' TERM\n"
	if exitCode != "" {
		script += "exit " + exitCode + "\n"
	}
	script += "while :; do sleep 0.05; done\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, record
}

func TestEnvoyDrainsOnStopAndExitsWithEnvoy(t *testing.T) {
	admin := &fakeAdmin{ready: true}
	adminSrv := httptest.NewServer(admin)
	defer adminSrv.Close()
	path, record := fakeEnvoy(t, "")
	e := Envoy{Path: path, ConfigPath: "/etc/mesh/proxy/envoy-rev.json", AdminURL: adminSrv.URL, DrainDuration: 200 * time.Millisecond, Concurrency: 2, LogLevel: "warning"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitFor(t, func() bool { b, _ := os.ReadFile(record); return strings.Contains(string(b), "args") })
	cancel() // SIGTERM to the agent
	if err := <-done; err != nil {
		t.Fatalf("stopping: %v", err)
	}
	b, _ := os.ReadFile(record)
	if !strings.Contains(string(b), "args -c /etc/mesh/proxy/envoy-rev.json") || !strings.Contains(string(b), "--concurrency 2") || !strings.HasSuffix(string(b), "TERM\n") {
		t.Errorf("envoy saw:\n%s", b)
	}
	if admin.drained != 1 {
		t.Errorf("listeners drained %d times before stopping, want 1", admin.drained)
	}

	// Envoy dying on its own ends the agent with Envoy's status.
	path, _ = fakeEnvoy(t, "3")
	err := Envoy{Path: path, ConfigPath: "x"}.Run(context.Background())
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("got %v, want envoy's exit status 3", err)
	}
}

func TestRunWithEnvoy(t *testing.T) {
	testCA := startCA(t, time.Hour)
	client := testCA.client("reviews-token", time.Hour)
	defer client.Close()
	admin := &fakeAdmin{ready: true}
	adminSrv := httptest.NewServer(admin)
	defer adminSrv.Close()
	dir := t.TempDir()
	root := filepath.Join(dir, "root-cert.pem")
	if err := os.WriteFile(root, testCA.rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	path, record := fakeEnvoy(t, "")
	health, agentL := listen(t), listen(t)
	cfg := Config{
		Mode: ModeEnvoy, Identity: testID, DiscoveryAddress: "meshctl-server.mesh-system.svc:15012", RootCertFile: root,
		Certificates: client.Fetch, BootstrapPath: filepath.Join(dir, "proxy", "envoy-rev.json"), SDSSocket: filepath.Join(dir, SDSSocketName),
		AdminPort: vocab.ProxyAdminPort, PrometheusPort: vocab.PrometheusPort, HealthListener: health, AgentListener: agentL,
		AgentOptions: AgentOptions{EnvoyStatsURL: adminSrv.URL + "/stats/prometheus"},
	}
	cfg.Envoy = Envoy{Path: path, ConfigPath: cfg.BootstrapPath, AdminURL: adminSrv.URL, DrainDuration: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitFor(t, func() bool { b, _ := os.ReadFile(record); return strings.Contains(string(b), "args") })
	var b bootstrapv3.Bootstrap
	data, err := os.ReadFile(cfg.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(data, &b); err != nil || b.GetNode().GetId() != testID.NodeID() {
		t.Fatalf("bootstrap Envoy was started with: %v %s", err, b.GetNode().GetId())
	}
	if code, _ := httpGet(t, "http://"+health.Addr().String()+"/healthz/ready"); code != http.StatusOK {
		t.Errorf("health with a ready Envoy: %d", code)
	}
	if code, body := httpGet(t, "http://"+agentL.Addr().String()+vocab.PrometheusMergedPath); code != http.StatusOK || !strings.Contains(body, "envoy_server_live") {
		t.Errorf("metrics: %d %s", code, body)
	}
	// Envoy's SDS socket answers with the workload certificate.
	conn, err := grpc.NewClient("unix://"+cfg.SDSSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := secretservice.NewSecretDiscoveryServiceClient(conn).FetchSecrets(ctx, &discoveryv3.DiscoveryRequest{
		Node: &corev3.Node{Id: testID.NodeID()}, TypeUrl: resource.SecretType, ResourceNames: []string{SecretWorkload},
	})
	if err != nil || len(resp.GetResources()) == 0 {
		t.Fatalf("SDS fetch: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec, _ := os.ReadFile(record); !strings.HasSuffix(string(rec), "TERM\n") || admin.drained != 1 {
		t.Errorf("not drained and stopped: drained %d, envoy saw %s", admin.drained, rec)
	}
}
