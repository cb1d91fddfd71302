package ca

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkCSRSign measures CreateCertificate end to end except the token
// review (an in-memory authenticator stands in for the API server, whose
// latency is its own): CSR parse and signature check, identity check,
// signing and encoding. It reports the signing rate and the p50/p99
// latency of one request.
func BenchmarkCSRSign(b *testing.B) {
	a := New(fake.NewClientset(), Options{Namespace: "mesh-system", TrustDomain: "cluster.local"})
	if err := a.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	svc := &CSRService{CA: a, Auth: fakeAuth{"t": {Namespace: "shop", ServiceAccount: "cart"}}, Metrics: NewMetrics(prometheus.NewRegistry())}
	key := newKey(b)
	csr := csrPEMB(b, key, SPIFFEID("cluster.local", "shop", "cart"))
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer t"))
	req := &securityv1alpha1.IstioCertificateRequest{Csr: csr}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := svc.CreateCertificate(ctx, req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "certs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
