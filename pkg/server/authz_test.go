package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshctl/meshctl/internal/xdstest"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// TestProxylessServerAuthorization runs a real xDS-enabled grpc-go server
// (xds.NewGRPCServer) on a pod address and changes the AuthorizationPolicies
// that select the pod: grpc-go accepts every listener the server sends
// (a rejected one would leave the previous policy in force, which each step
// would see) and enforces the policy on its own RPCs. Plaintext here
// (PERMISSIVE): identities are the on-cluster test's part
// (TestProxylessAuthorizationPolicy).
func TestProxylessServerAuthorization(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	base := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports: [{name: grpc, port: 9090, targetPort: %s}]
  selector: {app: echo}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: default, labels: {app: echo}}
spec: {containers: [{name: app, image: x}]}
status: {podIP: 127.0.0.5}
`, port)
	srv := startTestServer(t)
	srv.pusher.Update(parseStore(t, base))

	bootstrap, _ := json.Marshal(map[string]any{
		"xds_servers":                            []any{map[string]any{"server_uri": srv.addr, "channel_creds": []any{map[string]any{"type": "insecure"}}, "server_features": []string{"xds_v3"}}},
		"node":                                   map[string]any{"id": xdstest.NodeID("127.0.0.5", "echo-0", "default"), "metadata": map[string]any{"GENERATOR": "grpc", "NAMESPACE": "default"}},
		"server_listener_resource_name_template": generate.GRPCServerListenerTemplate,
	})
	gs, err := xds.NewGRPCServer(grpc.Creds(insecure.NewCredentials()), xds.BootstrapContentsForTesting(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	healthpb.RegisterHealthServer(gs, xdstest.StartBackend(t, "127.0.0.1:0", "echo"))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	// codes of Check and List, with the given request headers.
	calls := func(kv ...string) (codes.Code, codes.Code) {
		cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, kv...), 2*time.Second)
		defer cancel()
		_, errCheck := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		_, errList := hc.List(cctx, &healthpb.HealthListRequest{})
		return status.Code(errCheck), status.Code(errList)
	}
	expect := func(t *testing.T, what string, check, list codes.Code, kv ...string) {
		t.Helper()
		var c, l codes.Code
		if !xdstest.Eventually(10*time.Second, func() bool {
			c, l = calls(kv...)
			return c == check && l == list
		}) {
			t.Fatalf("%s: Check %v, List %v; want %v, %v", what, c, l, check, list)
		}
	}
	policy := func(name, spec string) string {
		return fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: %s, namespace: default}\nspec:\n%s", name, spec)
	}
	expect(t, "no policy", codes.OK, codes.OK)

	t.Run("DENY one method", func(t *testing.T) {
		srv.pusher.Update(parseStore(t, base, policy("no-list", `  selector: {matchLabels: {app: echo}}
  action: DENY
  rules: [{to: [{operation: {paths: [/grpc.health.v1.Health/List]}}]}]
`)))
		expect(t, "List denied", codes.OK, codes.PermissionDenied)
	})
	t.Run("ALLOW by header", func(t *testing.T) {
		srv.pusher.Update(parseStore(t, base, policy("alice", `  action: ALLOW
  rules: [{when: [{key: "request.headers[x-user]", values: [alice]}]}]
`)))
		expect(t, "alice", codes.OK, codes.OK, "x-user", "alice")
		expect(t, "bob", codes.PermissionDenied, codes.PermissionDenied, "x-user", "bob")
	})
	t.Run("ALLOW by principal refuses plaintext peers", func(t *testing.T) {
		srv.pusher.Update(parseStore(t, base, policy("client-only", `  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]}]
`)))
		expect(t, "plaintext peer", codes.PermissionDenied, codes.PermissionDenied)
	})
	t.Run("what grpc-go cannot check fails closed and is reported", func(t *testing.T) {
		srv.pusher.Update(parseStore(t, base,
			// ALLOW needing a JWT: the rule is left out, nothing is allowed by it;
			// the second rule still allows Check.
			policy("jwt", `  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["issuer/subject"]}}]
  - to: [{operation: {paths: ["/grpc.health.v1.Health/Check"]}}]
`),
			// DENY on a grpc- header (grpc-go would reject the listener): kept
			// without the condition, so it denies List for everyone.
			policy("trace", `  action: DENY
  rules: [{to: [{operation: {paths: [/grpc.health.v1.Health/List]}}], when: [{key: "request.headers[grpc-trace-bin]", values: [x]}]}]
`)))
		expect(t, "fail closed", codes.OK, codes.PermissionDenied)
		problems := strings.Join(srv.pusher.Problems(), "\n")
		for _, want := range []string{
			"AuthorizationPolicy default/jwt: rules[0]: proxyless gRPC cannot check requestPrincipals; the rule is left out: it allows nothing",
			"AuthorizationPolicy default/trace: rules[0]: proxyless gRPC cannot check request.headers[grpc-trace-bin]; the rule is kept without them: it denies more",
		} {
			if !strings.Contains(problems, want) {
				t.Errorf("problems lack %q:\n%s", want, problems)
			}
		}
		if n := testutil.ToFloat64(srv.metrics.Problems.WithLabelValues("AuthorizationPolicy default/trace")); n != 1 {
			t.Errorf("meshctl_translation_problems{object=AuthorizationPolicy default/trace} = %v, want 1", n)
		}
	})
	t.Run("policy removed", func(t *testing.T) {
		srv.pusher.Update(parseStore(t, base))
		expect(t, "no policy", codes.OK, codes.OK)
	})
	t.Run("every field the translation uses", func(t *testing.T) {
		// testdata/server/authz's policies: a plaintext peer matches no
		// source of the ALLOW rule.
		srv.pusher.Update(parseStore(t, base, policy("callers", `  selector: {matchLabels: {app: echo}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: [cluster.local/ns/shop/sa/client], notIpBlocks: [10.0.0.0/8]}
    - source: {namespaces: [ops, "team-*"], notPrincipals: ["*/sa/robot"]}
    to:
    - operation: {paths: ["/grpc.health.v1.Health/*"], notPaths: [/grpc.health.v1.Health/Watch], ports: ["`+port+`"]}
    - operation: {hosts: ["127.0.0.5*"], methods: [POST]}
    when:
    - {key: "request.headers[x-tenant]", values: [acme, "beta-*"]}
    - {key: source.namespace, notValues: [legacy]}
    - {key: remote.ip, values: [127.0.0.0/8]}
    - {key: destination.port, values: ["`+port+`"]}
`)))
		expect(t, "plaintext peer", codes.PermissionDenied, codes.PermissionDenied, "x-tenant", "acme")
		srv.pusher.Update(parseStore(t, base))
		expect(t, "no policy", codes.OK, codes.OK)
	})
	// Each step saw the policy before it replaced; a NACK would also say so.
	if n := testutil.CollectAndCount(srv.metrics.NACKs); n != 0 {
		t.Errorf("grpc-go rejected %d listeners", n)
	}
}
