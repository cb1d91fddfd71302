package xds_test

import (
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/ir"
)

// TestGRPCSecurity: proxyless clients get mTLS only where a DestinationRule
// says ISTIO_MUTUAL; a gRPC server's listener requires a client certificate
// only under STRICT (grpc-go cannot serve TLS and plaintext on one port).
func TestGRPCSecurity(t *testing.T) {
	cfg := &ir.Config{
		Namespace: "shop",
		Clusters: []*ir.Cluster{
			{Name: "outbound|9090||echo.shop.svc.cluster.local", Host: "echo.shop.svc.cluster.local", Port: 9090, Protocol: ir.ProtocolGRPC, Discovery: "EDS",
				Policy: &ir.Policy{TLS: &ir.TLS{Mode: "ISTIO_MUTUAL", SubjectAltNames: []string{"spiffe://cluster.local/ns/shop/sa/echo"}}}},
			{Name: "outbound|9090||plain.shop.svc.cluster.local", Host: "plain.shop.svc.cluster.local", Port: 9090, Protocol: ir.ProtocolGRPC, Discovery: "EDS"},
			{Name: "outbound|9090||simple.shop.svc.cluster.local", Host: "simple.shop.svc.cluster.local", Port: 9090, Protocol: ir.ProtocolGRPC, Discovery: "EDS",
				Source: "DestinationRule shop/simple", Policy: &ir.Policy{TLS: &ir.TLS{Mode: "SIMPLE", CredentialName: "x"}}},
			{Name: "outbound|9090||mutual.shop.svc.cluster.local", Host: "mutual.shop.svc.cluster.local", Port: 9090, Protocol: ir.ProtocolGRPC, Discovery: "EDS",
				Source: "DestinationRule shop/mutual", Policy: &ir.Policy{TLS: &ir.TLS{Mode: "MUTUAL", CACertificates: "/etc/certs/ca.pem"}}},
		},
		Servers: []*ir.Inbound{{Workload: "shop/echo-0", Address: "10.244.0.7", Ports: []*ir.InboundPort{
			{Port: 9090, Protocol: ir.ProtocolGRPC, MTLS: "STRICT"},
			{Port: 9091, Protocol: ir.ProtocolGRPC, MTLS: "PERMISSIVE"},
			{Port: 5432, Protocol: ir.ProtocolTCP, MTLS: "STRICT"},
		}}},
	}
	res, problems := generate.GRPC(cfg)
	// SIMPLE and MUTUAL cannot be originated by grpc-go: withheld and
	// reported, never sent as plaintext; their endpoints still go out.
	withheld := map[string]bool{}
	for _, p := range problems {
		if !p.Withheld || p.Type != generate.ClusterType || p.Object != "Cluster "+p.Name {
			t.Errorf("unexpected problem: %v", p)
			continue
		}
		withheld[p.Name] = true
		if !strings.Contains(p.Message, "DestinationRule shop/") {
			t.Errorf("the problem does not name the DestinationRule: %v", p)
		}
	}
	for _, name := range []string{"outbound|9090||simple.shop.svc.cluster.local", "outbound|9090||mutual.shop.svc.cluster.local"} {
		if !withheld[name] {
			t.Errorf("%s: not reported as withheld", name)
		}
		if _, sent := res[generate.ClusterType][name]; sent {
			t.Errorf("%s: sent, though grpc-go cannot originate its TLS", name)
		}
		if _, sent := res[generate.EndpointType][name]; !sent {
			t.Errorf("%s: its endpoints are not sent", name)
		}
	}
	upstream := func(name string) *tlsv3.UpstreamTlsContext {
		c := res[generate.ClusterType][name].(*cluster.Cluster)
		if c.TransportSocket == nil {
			return nil
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := c.TransportSocket.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	u := upstream("outbound|9090||echo.shop.svc.cluster.local")
	if u == nil {
		t.Fatal("ISTIO_MUTUAL cluster has no TLS")
	}
	ct := u.GetCommonTlsContext()
	if ct.GetTlsCertificateProviderInstance().GetInstanceName() != generate.CertProviderInstance ||
		ct.GetValidationContext().GetCaCertificateProviderInstance().GetInstanceName() != generate.CertProviderInstance {
		t.Errorf("certificates must come from the bootstrap's provider %q: %v", generate.CertProviderInstance, ct)
	}
	if sans := ct.GetValidationContext().GetMatchSubjectAltNames(); len(sans) != 1 || sans[0].GetExact() != "spiffe://cluster.local/ns/shop/sa/echo" {
		t.Errorf("subjectAltNames not checked: %v", sans)
	}
	if upstream("outbound|9090||plain.shop.svc.cluster.local") != nil {
		t.Error("without a DestinationRule TLS setting: want plaintext")
	}

	lis := func(port uint32) *listener.Listener {
		l, _ := res[generate.ListenerType][generate.GRPCServerListenerName("10.244.0.7", port)].(*listener.Listener)
		return l
	}
	strict := lis(9090)
	if strict == nil || len(strict.FilterChains) != 1 || strict.FilterChains[0].TransportSocket == nil {
		t.Fatalf("STRICT port: want one TLS filter chain: %v", strict)
	}
	down := &tlsv3.DownstreamTlsContext{}
	if err := strict.FilterChains[0].TransportSocket.GetTypedConfig().UnmarshalTo(down); err != nil {
		t.Fatal(err)
	}
	if !down.GetRequireClientCertificate().GetValue() || down.GetCommonTlsContext().GetValidationContext().GetCaCertificateProviderInstance() == nil {
		t.Errorf("STRICT must require and verify a client certificate: %v", down)
	}
	if p := lis(9091); p == nil || p.FilterChains[0].TransportSocket != nil {
		t.Errorf("PERMISSIVE port: want a plaintext listener: %v", p)
	}
	if lis(5432) != nil {
		t.Error("a TCP port is no gRPC server")
	}
}
