// Package admission is the HTTP side of a Kubernetes admission webhook: the
// AdmissionReview v1 exchange, with the answers the API server expects for
// bad requests, a size limit, a time limit and no panic reaching the server.
// The injection webhook (pkg/inject) and the validation webhook
// (pkg/webhook) only decide; this package speaks the protocol for both.
package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxReviewBytes bounds a request body: the API server caps objects at a
// few MB, so anything larger is not a real review.
const MaxReviewBytes = 8 << 20

// Review decides one admission request.
type Review func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

// Handler serves review over HTTP: 405 for another method, 415 for another
// content type, 413 past MaxReviewBytes, 400 for a body that is not an
// AdmissionReview with a request, 500 if review panics, and 503 with
// timeoutMessage once timeout has passed (the API server then applies the
// webhook's failurePolicy).
func Handler(review Review, timeout time.Duration, timeoutMessage string) http.Handler {
	return http.TimeoutHandler(recoverer(exchange(review)), timeout, timeoutMessage)
}

// Deny is a refusal whose message kubectl shows to the user.
func Deny(code int32, format string, args ...any) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: fmt.Sprintf(format, args...),
	}}
}

func recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				http.Error(w, fmt.Sprintf("internal error: %v", v), http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func exchange(review Review) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST with an AdmissionReview", http.StatusMethodNotAllowed)
			return
		}
		if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReviewBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "AdmissionReview too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, "not an AdmissionReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		if in.Request == nil {
			http.Error(w, "AdmissionReview has no request", http.StatusBadRequest)
			return
		}
		resp := review(in.Request)
		resp.UID = in.Request.UID
		b, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}
