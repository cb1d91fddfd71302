package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func allow(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func serve(h http.Handler, method, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/review", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const goodReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"req-1","operation":"CREATE"}}`

func TestHandlerAnswersWithTheRequestUID(t *testing.T) {
	h := Handler(allow, time.Second, "timed out")
	rec := serve(h, http.MethodPost, "application/json; charset=utf-8", []byte(goodReview))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" || out.Response == nil || out.Response.UID != "req-1" || !out.Response.Allowed {
		t.Errorf("response: %s", rec.Body)
	}
}

func TestHandlerRefusesWhatIsNotAReview(t *testing.T) {
	h := Handler(allow, time.Second, "timed out")
	cases := []struct {
		name, method, contentType, body string
		code                            int
	}{
		{"GET", http.MethodGet, "application/json", goodReview, http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "application/json", goodReview, http.StatusMethodNotAllowed},
		{"text/plain", http.MethodPost, "text/plain", goodReview, http.StatusUnsupportedMediaType},
		{"no content type", http.MethodPost, "", goodReview, http.StatusUnsupportedMediaType},
		{"bad content type", http.MethodPost, "application/json; =", goodReview, http.StatusUnsupportedMediaType},
		{"not json", http.MethodPost, "application/json", "{{{", http.StatusBadRequest},
		{"array", http.MethodPost, "application/json", "[]", http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "application/json", `{"x":"` + strings.Repeat("a", MaxReviewBytes) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(h, tc.method, tc.contentType, []byte(tc.body))
			if rec.Code != tc.code {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

// A panic in the review is a 500 for that request, not a crashed server.
func TestHandlerRecoversFromAPanickingReview(t *testing.T) {
	calls := 0
	h := Handler(func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		if calls++; calls == 1 {
			panic("boom")
		}
		return &admissionv1.AdmissionResponse{Allowed: true}
	}, time.Second, "timed out")
	rec := serve(h, http.MethodPost, "application/json", []byte(goodReview))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	if rec := serve(h, http.MethodPost, "application/json", []byte(goodReview)); rec.Code != http.StatusOK {
		t.Errorf("the handler stopped serving after a panic: status %d", rec.Code)
	}
}

// A review that outlives the timeout is answered with 503 and the message,
// so the API server applies the webhook's failurePolicy instead of waiting.
func TestHandlerTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := Handler(func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		<-release
		return &admissionv1.AdmissionResponse{Allowed: true}
	}, 20*time.Millisecond, "review took too long")
	rec := serve(h, http.MethodPost, "application/json", []byte(goodReview))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "review took too long") {
		t.Errorf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestDeny(t *testing.T) {
	r := Deny(http.StatusBadRequest, "pod %s: %s", "web", "bad annotation")
	if r.Allowed || r.Result.Code != http.StatusBadRequest || r.Result.Message != "pod web: bad annotation" || r.Result.Status != metav1.StatusFailure {
		t.Errorf("%+v", r)
	}
}
