package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/validation"
)

const maxReviewBytes = 8 << 20

// NewValidator returns the AdmissionReview v1 handler that rejects mesh
// config `meshctl validate` would reject, with the same rules
// (validation.ValidateDocument); warnings come back as kubectl warnings.
func NewValidator() http.Handler {
	return http.TimeoutHandler(recoverer(reviewHandler(validateReview)), time.Duration(4)*time.Second, "validation timed out")
}

func validateReview(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow
	}
	issues, err := validation.ValidateDocument(req.Object.Raw)
	if err != nil {
		return deny(http.StatusBadRequest, "meshctl validation: cannot read the object: %v", err)
	}
	var errs []string
	for _, i := range issues {
		if i.Severity == validation.SeverityError {
			errs = append(errs, i.String())
		} else {
			allow.Warnings = append(allow.Warnings, i.String())
		}
	}
	if len(errs) > 0 {
		name := req.Name
		if req.Namespace != "" {
			name = req.Namespace + "/" + name
		}
		return deny(http.StatusUnprocessableEntity, "meshctl validation: %s %s is invalid: %s", req.Kind.Kind, name, strings.Join(errs, "; "))
	}
	return allow
}

func deny(code int32, format string, args ...any) *admissionv1.AdmissionResponse {
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

// reviewHandler is the AdmissionReview HTTP exchange around review.
// TODO(vocab): replace with pkg/admission once it lands on main.
func reviewHandler(review func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) http.Handler {
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
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
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
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			http.Error(w, "not an AdmissionReview with a request", http.StatusBadRequest)
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
