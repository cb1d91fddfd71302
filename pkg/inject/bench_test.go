package inject

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"gopkg.in/yaml.v3"
)

// benchInput is n Deployment+Service pairs in one stream, like the input the
// istioctl comparison was measured on (1,000 pairs: 6.7 s in istioctl).
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata:
  name: svc-%[1]d
  labels:
    app: app-%[1]d
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: app-%[1]d
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  labels:
    app: app-%[1]d
    version: v1
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-%[1]d
      version: v1
  template:
    metadata:
      labels:
        app: app-%[1]d
        version: v1
    spec:
      serviceAccountName: app-%[1]d
      containers:
      - name: app
        image: docker.io/example/app-%[1]d:1.0
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 9080
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir: {}
`, i)
	}
	return b.Bytes()
}

func benchmarkProcess(b *testing.B, n int) {
	in := benchInput(n)
	opts := Options{Config: DefaultConfig(), Source: "bench.yaml"}
	var out countingWriter
	if err := Process(bytes.NewReader(in), &out, opts); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportMetric(float64(out.n)/float64(1<<20), "MB-out")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Process(bytes.NewReader(in), io.Discard, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKubeInject1k injects 1,000 Deployments (with 1,000 Services).
func BenchmarkKubeInject1k(b *testing.B) { benchmarkProcess(b, 1000) }

// BenchmarkKubeInject10k injects 10,000 Deployments (with 10,000 Services).
func BenchmarkKubeInject10k(b *testing.B) { benchmarkProcess(b, 10000) }

// benchmarkFloor is the least any kube-inject must do: split the stream into
// documents, decode each into a node tree, and write the injected output's
// bytes.
func benchmarkFloor(b *testing.B, n int) {
	in := benchInput(n)
	var injected bytes.Buffer
	if err := Process(bytes.NewReader(in), &injected, Options{Config: DefaultConfig()}); err != nil {
		b.Fatal(err)
	}
	outBytes := injected.Bytes()
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		docs := bytes.Split(in, []byte("\n---\n"))
		for _, d := range docs {
			var node yaml.Node
			if err := yaml.Unmarshal(d, &node); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := io.Discard.Write(outBytes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFloor1k(b *testing.B)  { benchmarkFloor(b, 1000) }
func BenchmarkFloor10k(b *testing.B) { benchmarkFloor(b, 10000) }

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
