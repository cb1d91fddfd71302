// Package xdstest drives real grpc-go xDS clients against the server in
// tests: backends that say which version answered, clients built from an
// in-memory bootstrap, call counting, and binomial bounds for weighted
// routing (so a test's tolerance is computed, not guessed).
package xdstest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

// VersionHeader is the response header in which a backend names itself.
const VersionHeader = "x-version"

// Backend is a gRPC server answering the health service's Check and List
// with its version in a header. Failing makes Check fail with a status a
// number of times (retries observable), Delay slows every answer (timeouts).
type Backend struct {
	healthpb.UnimplementedHealthServer
	Version string
	Addr    string

	mu      sync.Mutex
	fail    int
	failing codes.Code
	delay   time.Duration
	calls   int
}

// StartBackend serves a Backend on addr ("10.244.0.5:9080") until the test ends.
func StartBackend(t testing.TB, addr, version string) *Backend {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s on %s: %v", version, addr, err)
	}
	b := &Backend{Version: version, Addr: lis.Addr().String()}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, b)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return b
}

// FailNext makes the next n calls fail with code.
func (b *Backend) FailNext(n int, code codes.Code) {
	b.mu.Lock()
	b.fail, b.failing = n, code
	b.mu.Unlock()
}

// SetDelay delays every answer.
func (b *Backend) SetDelay(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// Calls returns how many calls reached the backend.
func (b *Backend) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func (b *Backend) answer(ctx context.Context) error {
	b.mu.Lock()
	b.calls++
	delay := b.delay
	var err error
	if b.fail > 0 {
		b.fail--
		err = status.Errorf(b.failing, "%s failing on purpose", b.Version)
	}
	b.mu.Unlock()
	if err != nil {
		// No header on failure: response headers commit a gRPC call, and
		// a committed call is never retried.
		return err
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(VersionHeader, b.Version))
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Check implements the health service.
func (b *Backend) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := b.answer(ctx); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// List implements the health service.
func (b *Backend) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	if err := b.answer(ctx); err != nil {
		return nil, err
	}
	return &healthpb.HealthListResponse{}, nil
}

// Bootstrap returns a grpc-go xDS bootstrap for a proxyless client of
// namespace ns talking plaintext to the server at addr, with Istio's node
// conventions.
func Bootstrap(addr, nodeID, ns string) []byte {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      addr,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{
			"id":       nodeID,
			"metadata": map[string]any{"GENERATOR": "grpc", "NAMESPACE": ns},
		},
	})
	return b
}

// NodeID is Istio's sidecar node id for a proxyless client.
func NodeID(ip, pod, ns string) string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, pod, ns, ns)
}

// Client is a grpc-go client resolving target through xDS.
type Client struct {
	Conn   *grpc.ClientConn
	Health healthpb.HealthClient
}

// NewClient dials target ("xds:///reviews.default.svc.cluster.local:9080")
// with its own xDS client built from bootstrap.
func NewClient(t testing.TB, target string, bootstrap []byte) *Client {
	t.Helper()
	rb, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatalf("xds resolver: %v", err)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(rb))
	if err != nil {
		t.Fatalf("client for %s: %v", target, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Client{Conn: conn, Health: healthpb.NewHealthClient(conn)}
}

// Result of one call.
type Result struct {
	Version string
	Code    codes.Code
	Err     error
}

// Check makes one Check call with the given request metadata ("end-user", "jason").
func (c *Client) Check(ctx context.Context, kv ...string) Result {
	return c.call(ctx, false, kv...)
}

// List makes one List call.
func (c *Client) List(ctx context.Context, kv ...string) Result {
	return c.call(ctx, true, kv...)
}

func (c *Client) call(ctx context.Context, list bool, kv ...string) Result {
	var hdr metadata.MD
	if len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	var err error
	if list {
		_, err = c.Health.List(ctx, &healthpb.HealthListRequest{}, grpc.Header(&hdr))
	} else {
		_, err = c.Health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
	}
	r := Result{Code: status.Code(err), Err: err}
	if v := hdr.Get(VersionHeader); len(v) > 0 {
		r.Version = v[0]
	}
	return r
}

// Counts tallies results: versions of successful calls, and error codes.
type Counts struct {
	Versions map[string]int
	Codes    map[codes.Code]int
	Errors   []error
	N        int
}

func (c Counts) String() string {
	keys := make([]string, 0, len(c.Versions))
	for k := range c.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fmt.Sprintf("%d calls:", c.N)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, c.Versions[k])
	}
	for code, n := range c.Codes {
		if code != codes.OK {
			s += fmt.Sprintf(" %s=%d", code, n)
		}
	}
	return s
}

// Count makes n calls with call and tallies them.
func Count(n int, call func() Result) Counts {
	c := Counts{Versions: map[string]int{}, Codes: map[codes.Code]int{}, N: n}
	for range n {
		r := call()
		c.Codes[r.Code]++
		if r.Code == codes.OK {
			c.Versions[r.Version]++
		} else if len(c.Errors) < 5 {
			c.Errors = append(c.Errors, r.Err)
		}
	}
	return c
}

// FailuresDuring keeps calling call while change runs and returns the calls
// that failed: each one is an error an application would have seen while
// the route switched. expected tells failures the config asks for (injected
// faults) from transient ones; nil counts every failure.
func FailuresDuring(t testing.TB, call func() Result, expected func(Result) bool, change func()) int {
	t.Helper()
	stop := make(chan struct{})
	failures := make(chan int)
	go func() {
		bad := 0
		for {
			select {
			case <-stop:
				failures <- bad
				return
			default:
			}
			if r := call(); r.Code != codes.OK && (expected == nil || !expected(r)) {
				bad++
				t.Logf("call failed during switch: %v", r.Err)
			}
		}
	}()
	change()
	close(stop)
	return <-failures
}

// Eventually calls cond every few milliseconds until it is true or the
// timeout passes.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BinomialInterval returns the smallest interval [lo, hi] of successes out
// of n trials with success probability p such that a count outside it has a
// probability of at most 1-confidence (split evenly between both tails),
// computed exactly from the binomial distribution.
func BinomialInterval(n int, p, confidence float64) (lo, hi int) {
	if p <= 0 {
		return 0, 0
	}
	if p >= 1 {
		return n, n
	}
	tail := (1 - confidence) / 2
	logp, logq := math.Log(p), math.Log(1-p)
	lgN, _ := math.Lgamma(float64(n + 1))
	pmf := func(k int) float64 {
		a, _ := math.Lgamma(float64(k + 1))
		b, _ := math.Lgamma(float64(n - k + 1))
		return math.Exp(lgN - a - b + float64(k)*logp + float64(n-k)*logq)
	}
	cum := 0.0
	lo = 0
	for k := 0; k <= n; k++ {
		cum += pmf(k)
		if cum > tail {
			lo = k
			break
		}
	}
	cum = 0
	hi = n
	for k := n; k >= 0; k-- {
		cum += pmf(k)
		if cum > tail {
			hi = k
			break
		}
	}
	return lo, hi
}

// ExpectShare fails the test unless count successes out of n fit share p at
// 99.99% confidence.
func ExpectShare(t testing.TB, what string, count, n int, p float64) {
	t.Helper()
	lo, hi := BinomialInterval(n, p, 0.9999)
	if count < lo || count > hi {
		t.Errorf("%s: %d of %d, want %d..%d (p=%.3f, 99.99%% binomial interval)", what, count, n, lo, hi, p)
	}
}
