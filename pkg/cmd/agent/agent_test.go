package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

type tokenAuth map[string]ca.Caller

func (a tokenAuth) Authenticate(_ context.Context, token string) (ca.Caller, error) {
	if c, ok := a[token]; ok {
		return c, nil
	}
	return ca.Caller{}, errors.New("unknown token")
}

// The agent in proxyless gRPC mode, from the environment the injector sets,
// against the mesh CA served over TLS as the server serves it.
func TestProxyGRPCFromInjectorEnvironment(t *testing.T) {
	a := ca.New(fake.NewClientset(), ca.Options{Namespace: "mesh-system", TrustDomain: "cluster.local"})
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := ca.NewTLSServer(&ca.ServingCert{CA: a, DNSNames: ca.ServiceDNSNames("meshctl-server", "mesh-system")})
	(&ca.CSRService{CA: a, Auth: tokenAuth{"tok": {Namespace: "shop", ServiceAccount: "reviews"}}, Metrics: ca.NewMetrics(nil)}).Register(srv)
	caL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(caL) }()
	defer srv.Stop()

	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{
		vocab.EnvPodName: "reviews-v1-abc", vocab.EnvPodNamespace: "shop", vocab.EnvInstanceIP: "10.244.0.5",
		vocab.EnvServiceAccount: "reviews", vocab.EnvDiscoveryAddress: inject.DefaultConfig().DiscoveryAddress,
		vocab.EnvClusterID: "Kubernetes", vocab.EnvWorkloadName: "reviews-v1",
		vocab.EnvGRPCXDSBootstrap: filepath.Join(dir, "grpc", "bootstrap.json"),
	}
	streams, _, _, errOut := iostreams.Test()
	o := newOptions(streams)
	o.Getenv = func(k string) string { return env[k] }
	o.RootCertFile = write("root/root-cert.pem", string(a.Bundle().RootsPEM()))
	o.TokenFile = write("token/mesh-token", "tok\n")
	o.PodInfoDir = filepath.Dir(write("podinfo/labels", "app=\"reviews\"\nversion=\"v1\"\n"))
	o.CertDir = filepath.Join(dir, "certs")
	// The discovery address names the Service; here it is this listener.
	o.CADialOptions = []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", caL.Addr().String())
	})}
	var mu sync.Mutex
	addrs := map[string]string{}
	o.Listen = func(network, addr string) (net.Listener, error) {
		l, err := net.Listen(network, "127.0.0.1:0")
		if err == nil {
			mu.Lock()
			addrs[addr] = l.Addr().String()
			mu.Unlock()
		}
		return l, err
	}
	cmd := newCmdProxy(o)
	cmd.SetArgs([]string{"grpc"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var health string
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		health = addrs[":15021"]
		mu.Unlock()
		if health != "" {
			if resp, err := http.Get("http://" + health + "/healthz/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready; agent said: %s", errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(env[vocab.EnvGRPCXDSBootstrap])
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		Node struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
		} `json:"node"`
	}
	if err := json.Unmarshal(b, &boot); err != nil {
		t.Fatal(err)
	}
	if boot.Node.ID != "sidecar~10.244.0.5~reviews-v1-abc.shop~shop.svc.cluster.local" || boot.Node.Metadata["LABELS"].(map[string]any)["version"] != "v1" {
		t.Errorf("bootstrap node %+v", boot.Node)
	}
	chain, err := os.ReadFile(filepath.Join(o.CertDir, "cert-chain.pem"))
	if err != nil || !strings.Contains(string(chain), "BEGIN CERTIFICATE") {
		t.Errorf("certificate file: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProxyNeedsTheInjectorEnvironment(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	o := newOptions(streams)
	o.Getenv = func(string) string { return "" }
	cmd := newCmdProxy(o)
	cmd.SetArgs([]string{"sidecar"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "POD_NAME") || !strings.Contains(err.Error(), "MESH_DISCOVERY_ADDRESS") {
		t.Fatalf("got %v", err)
	}
	cmd.SetArgs([]string{"gateway"})
	if err := cmd.Execute(); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("unknown proxy type: %v", err)
	}
}

func TestWait(t *testing.T) {
	var ready sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ready.Load("yes"); ok {
			return
		}
		http.Error(w, "not yet", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if err := Wait(context.Background(), srv.URL, 100*time.Millisecond, 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("not ready: %v", err)
	}
	go func() { time.Sleep(50 * time.Millisecond); ready.Store("yes", true) }()
	if err := Wait(context.Background(), srv.URL, 10*time.Second, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
