package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshctl/meshctl/pkg/ca"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/webhookconfig"
)

// BenchmarkWebhookAdmissions1000 sends 1,000 pod admissions, one per core at
// a time (more would measure queueing for the CPU, not the webhook), to the
// webhook server over TLS (its mesh-CA serving
// certificate, connections reused) and reports the p50/p99 latency of one
// admission and the admission rate. The target is p99 < 5 ms.
func BenchmarkWebhookAdmissions1000(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset()
	auth := ca.New(client, ca.Options{Namespace: "mesh-system"})
	if err := auth.Load(ctx); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Client: client, CA: auth, Cert: &ca.ServingCert{CA: auth, DNSNames: ca.ServiceDNSNames("meshctl-server", "mesh-system")},
		InjectConfig: inject.DefaultConfig, Listener: ln}
	go func() { _ = s.Run(ctx) }()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(auth.Bundle().RootsPEM())
	httpc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: "meshctl-server.mesh-system.svc"},
		MaxIdleConnsPerHost: runtime.GOMAXPROCS(0),
	}}
	url := "https://" + ln.Addr().String() + webhookconfig.InjectPath
	bodies := make([][]byte, 1000)
	for i := range bodies {
		pod := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("reviews-%d", i), Namespace: "bookinfo", Labels: map[string]string{"app": "reviews", "version": "v1"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "reviews", Image: "example.test/reviews:1",
				Ports: []corev1.ContainerPort{{ContainerPort: 9080}}}}},
		}
		raw, _ := json.Marshal(pod)
		bodies[i], _ = json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "bookinfo",
				Operation: admissionv1.Create, Object: kruntime.RawExtension{Raw: raw}},
		})
	}
	post := func(body []byte) error {
		resp, err := httpc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || out.Response.Patch == nil {
			return fmt.Errorf("status %d, no patch (%v)", resp.StatusCode, err)
		}
		return nil
	}
	// Wait for the listener, and warm the connections up.
	for deadline := time.Now().Add(10 * time.Second); post(bodies[0]) != nil; {
		if time.Now().After(deadline) {
			b.Fatal("webhook server not serving")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var all []time.Duration
	var elapsed time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		lat := make([]time.Duration, len(bodies))
		work := make(chan int)
		var wg sync.WaitGroup
		var errOnce sync.Once
		var firstErr error
		start := time.Now()
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					t0 := time.Now()
					if err := post(bodies[i]); err != nil {
						errOnce.Do(func() { firstErr = err })
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		for i := range bodies {
			work <- i
		}
		close(work)
		wg.Wait()
		elapsed += time.Since(start)
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		all = append(all, lat...)
	}
	b.StopTimer()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "admissions/s")
}
