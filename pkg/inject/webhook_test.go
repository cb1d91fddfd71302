package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/vocab"
)

func testPod() *corev1.Pod {
	ctrl := true
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "reviews-v1-7d9f8c6b5d-",
			Namespace:    "bookinfo",
			Labels:       map[string]string{"app": "reviews", "version": "v1", "pod-template-hash": "7d9f8c6b5d"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "reviews-v1-7d9f8c6b5d", UID: "u1", Controller: &ctrl,
			}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "reviews", Image: "example/reviews:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 9080}},
		}}},
	}
}

func reviewBody(t testing.TB, pod *corev1.Pod, op admissionv1.Operation) []byte {
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "req-1",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "bookinfo",
			Operation: op,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, body []byte, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeResponse(t *testing.T, rec *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || out.Response.UID != "req-1" {
		t.Fatalf("response without the request's uid: %s", rec.Body)
	}
	return out.Response
}

func TestWebhookInjectsPod(t *testing.T) {
	h := NewWebhook(DefaultConfig)
	pod := testPod()
	resp := decodeResponse(t, post(h, reviewBody(t, pod, admissionv1.Create), "application/json"))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed response with a JSON patch, got %+v", resp)
	}
	patch, err := jsonpatchapply.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch is not a JSON patch: %v", err)
	}
	raw, _ := json.Marshal(pod)
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply to the pod: %v", err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	res, err := Inject(Workload{Kind: "Deployment", Name: "reviews-v1", Namespace: "bookinfo"}, &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(res.Template.Spec)
	gotSpec, _ := json.Marshal(got.Spec)
	if !bytes.Equal(want, gotSpec) {
		t.Errorf("patched pod spec differs from the injector's:\n got %s\nwant %s", gotSpec, want)
	}
	if got.Annotations[vocab.AnnotationStatus] == "" || got.Labels[vocab.LabelTLSMode] != vocab.TLSModeIstio {
		t.Errorf("patched pod lacks the status annotation or the tlsMode label: %v %v", got.Annotations, got.Labels)
	}
	if !strings.Contains(string(gotSpec), `"value":"reviews-v1"`) {
		t.Errorf("workload name not derived from the ReplicaSet owner: %s", gotSpec)
	}
}

func TestWebhookLeavesOthersAlone(t *testing.T) {
	h := NewWebhook(DefaultConfig)
	optedOut := testPod()
	optedOut.Labels[vocab.LabelInject] = "false"
	injected := testPod()
	injected.Annotations = map[string]string{vocab.AnnotationStatus: "{}"}
	for name, body := range map[string][]byte{
		"opted out":        reviewBody(t, optedOut, admissionv1.Create),
		"already injected": reviewBody(t, injected, admissionv1.Create),
		"update":           reviewBody(t, testPod(), admissionv1.Update),
	} {
		t.Run(name, func(t *testing.T) {
			resp := decodeResponse(t, post(h, body, "application/json"))
			if !resp.Allowed || resp.Patch != nil {
				t.Errorf("want allowed without a patch, got %+v", resp)
			}
		})
	}
}

func TestWebhookDeniesBadAnnotation(t *testing.T) {
	pod := testPod()
	pod.Annotations = map[string]string{"sidecar.istio.io/proxyCPU": "lots"}
	resp := decodeResponse(t, post(NewWebhook(DefaultConfig), reviewBody(t, pod, admissionv1.Create), "application/json"))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "sidecar.istio.io/proxyCPU") {
		t.Errorf("want a denial naming the annotation, got %+v", resp)
	}
}

// The HTTP exchange (method, content type, size, recover, timeout) is
// pkg/admission's and tested there; this is what the injector decides.
func TestWebhookMalformedRequests(t *testing.T) {
	h := NewWebhook(DefaultConfig)
	// A pod that does not decode is denied with a message, not a crash.
	body := `{"request":{"uid":"req-1","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":{"spec":{"containers":"nope"}}}}`
	resp := decodeResponse(t, post(h, []byte(body), "application/json"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "cannot decode the pod") {
		t.Errorf("want a denial, got %+v", resp)
	}
	// The injector is served through the admission plumbing.
	if rec := post(h, []byte("{{{"), "application/json"); rec.Code != http.StatusBadRequest {
		t.Errorf("not an AdmissionReview: status %d", rec.Code)
	}
}

func FuzzWebhook(f *testing.F) {
	f.Add(reviewBody(f, testPod(), admissionv1.Create))
	f.Add([]byte(`{"request":{"uid":"x","resource":{"resource":"pods"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","livenessProbe":{"tcpSocket":{"port":1}}}]}}}}`))
	h := NewWebhook(DefaultConfig)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(h, body, "application/json")
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("internal error: %s", rec.Body)
		}
		if rec.Code != http.StatusOK {
			return // a request that is not an AdmissionReview
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("answered 200 to a body that is not an admission request: %s", rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || out.Response.UID != in.Request.UID {
			t.Fatalf("response is not an AdmissionReview answering uid %q: %s", in.Request.UID, rec.Body)
		}
		if out.Response.Patch == nil {
			return
		}
		// The patch applied to the pod the API server holds must give the
		// pod that Inject makes of it.
		var pod corev1.Pod
		if err := json.Unmarshal(in.Request.Object.Raw, &pod); err != nil {
			t.Fatalf("a patch for an object that is not a pod: %v", err)
		}
		if pod.Namespace == "" {
			pod.Namespace = in.Request.Namespace
		}
		patch, err := jsonpatchapply.DecodePatch(out.Response.Patch)
		if err != nil {
			t.Fatalf("patch is not a JSON patch: %v", err)
		}
		raw, _ := json.Marshal(&pod)
		patched, err := patch.Apply(raw)
		if err != nil {
			t.Fatalf("patch does not apply to the pod: %v\n%s", err, out.Response.Patch)
		}
		var got corev1.Pod
		if err := json.Unmarshal(patched, &got); err != nil {
			t.Fatalf("patched pod does not decode: %v", err)
		}
		res, err := Inject(podWorkload(&pod), &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}, DefaultConfig())
		if err != nil || res.Action != ActionInjected {
			t.Fatalf("patched although Inject gives %v, %v", res, err)
		}
		want, _ := json.Marshal(res.Template.Spec)
		if gotSpec, _ := json.Marshal(got.Spec); !bytes.Equal(gotSpec, want) {
			t.Fatalf("patched pod spec differs from Inject's:\n got %s\nwant %s", gotSpec, want)
		}
	})
}

// BenchmarkWebhook measures the handler's latency for one pod admission,
// from request body to JSON patch, without the network: the part of an API
// server's pod creation that meshctl adds.
func BenchmarkWebhook(b *testing.B) {
	h := NewWebhook(DefaultConfig)
	body := reviewBody(b, testPod(), admissionv1.Create)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := post(h, body, "application/json")
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func TestWebhookRefusesReservedContainerNames(t *testing.T) {
	h := NewWebhook(DefaultConfig)
	for _, init := range []bool{false, true} {
		pod := testPod()
		c := corev1.Container{Name: vocab.InitContainerName, Image: "example.test/x:1"}
		if init {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
		} else {
			pod.Spec.Containers = append(pod.Spec.Containers, c)
		}
		resp := decodeResponse(t, post(h, reviewBody(t, pod, admissionv1.Create), "application/json"))
		if resp.Allowed || resp.Patch != nil || !strings.Contains(resp.Result.Message, `container named "`+vocab.InitContainerName+`"`) || !strings.Contains(resp.Result.Message, "rename") {
			t.Errorf("init %v: allowed=%v message %v, want a refusal naming the container and the fix", init, resp.Allowed, resp.Result)
		}
	}
	// A container named like the proxy customizes it: one proxy results.
	pod := testPod()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: vocab.ProxyContainerName, Image: "auto"})
	resp := decodeResponse(t, post(h, reviewBody(t, pod, admissionv1.Create), "application/json"))
	if !resp.Allowed || resp.Patch == nil {
		t.Fatalf("customized proxy refused: %v", resp.Result)
	}
	if n := bytes.Count(resp.Patch, []byte(`"name":"`+vocab.ProxyContainerName+`"`)); n > 1 {
		t.Errorf("the patch names %s %d times", vocab.ProxyContainerName, n)
	}
}

// bigPod has n app containers, each with a port and an HTTP probe, so the
// injector's per-container work (names, ports, probes) is all exercised.
func bigPod(n int) *corev1.Pod {
	pod := testPod()
	pod.Spec.Containers = nil
	for i := 0; i < n; i++ {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: fmt.Sprintf("app-%05d", i), Image: "example.test/app:1",
			Ports:          []corev1.ContainerPort{{ContainerPort: int32(10000 + i%50000)}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(int32(10000 + i%50000))}}},
		})
	}
	return pod
}

func benchmarkWebhookContainers(b *testing.B, n int) {
	h := NewWebhook(DefaultConfig)
	body := reviewBody(b, bigPod(n), admissionv1.Create)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := post(h, body, "application/json")
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("status %d: %.300s", rec.Code, rec.Body)
		}
	}
}

// The webhook's cost grows linearly with the pod: 1,200 and 12,000
// containers should differ by about 10x in time and memory.
func BenchmarkWebhookContainers1200(b *testing.B)  { benchmarkWebhookContainers(b, 1200) }
func BenchmarkWebhookContainers12000(b *testing.B) { benchmarkWebhookContainers(b, 12000) }
