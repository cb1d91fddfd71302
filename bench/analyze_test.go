package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeServices writes the input of issue 15's comparison: n Services, each
// with a VirtualService bound to one shared Gateway and a DestinationRule
// with subsets, no workloads (3n+1 documents: a Service, a VirtualService
// and a DestinationRule per service, and the Gateway). With broken, every
// route also names a subset no DestinationRule defines (n findings).
func writeServices(b *testing.B, n int, broken bool) string {
	var buf bytes.Buffer
	buf.WriteString("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: shared, namespace: default}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n")
	v2 := "v2"
	if broken {
		v2 = "v3"
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, `---
apiVersion: v1
kind: Service
metadata: {name: svc%[1]d, namespace: default}
spec:
  selector: {app: svc%[1]d}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d, namespace: default}
spec:
  hosts: [svc%[1]d.example.com]
  gateways: [shared]
  http:
  - route:
    - destination: {host: svc%[1]d, subset: v1}
      weight: 90
    - destination: {host: svc%[1]d, subset: %[2]s}
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc%[1]d, namespace: default}
spec:
  host: svc%[1]d
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`, i, v2)
	}
	f := filepath.Join(b.TempDir(), fmt.Sprintf("services-%d.yaml", n))
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkAnalyzeServices compares meshctl and istioctl analyze on issue
// 15's input (1,000 services: 3,001 documents), clean and with one finding
// per service, and meshctl alone on 10,000 services for linearity.
func BenchmarkAnalyzeServices(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, broken := range []bool{false, true} {
			name := fmt.Sprintf("services=%d/findings=%v", n, broken)
			b.Run(name, func(b *testing.B) {
				f := writeServices(b, n, broken)
				b.Run("meshctl", func(b *testing.B) { benchExec(b, meshctl(b), true, "analyze", "--use-kube=false", f) })
				if n == 1000 {
					b.Run("istioctl", func(b *testing.B) { benchExec(b, istioctl(b), true, "analyze", "--use-kube=false", f) })
				}
			})
		}
	}
}
