package webhook

import (
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshctl/meshctl/pkg/admission"
	"github.com/meshctl/meshctl/pkg/validation"
)

// NewValidator returns the AdmissionReview v1 handler that rejects mesh
// config `meshctl validate` would reject, with the same rules
// (validation.ValidateDocument); warnings come back as kubectl warnings.
func NewValidator() http.Handler {
	return admission.Handler(validateReview, 4*time.Second, "validation timed out")
}

func validateReview(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allow
	}
	issues, err := validation.ValidateDocument(req.Object.Raw)
	if err != nil {
		return admission.Deny(http.StatusBadRequest, "meshctl validation: cannot read the object: %v", err)
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
		return admission.Deny(http.StatusUnprocessableEntity, "meshctl validation: %s %s is invalid: %s", req.Kind.Kind, name, strings.Join(errs, "; "))
	}
	return allow
}
