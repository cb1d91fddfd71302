package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookPath is where `meshctl server` serves the injection webhook.
const WebhookPath = "/inject"

const (
	maxReviewBytes = 8 << 20
	// WebhookTimeout bounds one admission review; the API server is told a
	// little more (WebhookTimeoutSeconds) so the handler answers first.
	WebhookTimeout        = 8 * time.Second
	WebhookTimeoutSeconds = 10
)

// NewWebhook returns the AdmissionReview v1 handler that injects pods.
// config is called once per request, so a server can swap in a new Config
// when the mesh ConfigMap changes. Which pods reach the handler is decided
// by the selectors of MutatingWebhooks; the handler still honours the
// pod's own opt-out. It never panics on bad input: malformed requests get
// 400, and a request that takes too long gets 503 (the API server then
// applies the webhook's failurePolicy).
func NewWebhook(config func() Config) http.Handler {
	h := &webhook{config: config}
	return http.TimeoutHandler(recoverer(h), WebhookTimeout, "injection timed out")
}

type webhook struct {
	config func() Config
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

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, "not an AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	resp := h.review(review.Request)
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp}
	b, err := json.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func deny(code int32, format string, args ...any) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: fmt.Sprintf(format, args...),
	}}
}

// review injects the pod of one admission request.
func (h *webhook) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Resource.Group != "" || req.Resource.Resource != "pods" || req.SubResource != "" || req.Operation != admissionv1.Create {
		return allow
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(http.StatusBadRequest, "meshctl sidecar injection: cannot decode the pod: %v", err)
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	id := podWorkload(&pod)
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}
	res, err := Inject(id, tmpl, h.config())
	if err != nil {
		return deny(http.StatusUnprocessableEntity, "meshctl sidecar injection: %v", err)
	}
	if res.Action != ActionInjected {
		return allow
	}
	before, err := json.Marshal(&pod)
	if err != nil {
		return deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	injected := pod.DeepCopy()
	injected.ObjectMeta, injected.Spec = res.Template.ObjectMeta, res.Template.Spec
	after, err := json.Marshal(injected)
	if err != nil {
		return deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	ops, err := jsonpatch.CreatePatch(before, after)
	if err != nil {
		return deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	pt := admissionv1.PatchTypeJSONPatch
	allow.Patch, allow.PatchType = patch, &pt
	return allow
}

// podWorkload names the workload a pod belongs to: pods of a Deployment are
// created by a ReplicaSet "<deployment>-<hash>" with names "<rs>-<suffix>".
func podWorkload(pod *corev1.Pod) Workload {
	id := Workload{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		id.Kind, id.Name = ref.Kind, ref.Name
		if ref.Kind == "ReplicaSet" {
			if i := strings.LastIndexByte(ref.Name, '-'); i > 0 && pod.Labels["pod-template-hash"] == ref.Name[i+1:] {
				id.Kind, id.Name = "Deployment", ref.Name[:i]
			}
		}
		return id
	}
	if id.Name == "" {
		id.Name = strings.TrimSuffix(pod.GenerateName, "-")
	}
	return id
}

// MutatingWebhooks are the webhook entries that send pods to the handler:
// pods in namespaces labeled mesh-injection=enabled (or, for compatibility,
// istio-injection=enabled), and pods labeled sidecar.meshctl.io/inject=true
// in namespaces without either label. Pods labeled
// sidecar.meshctl.io/inject=false never reach the handler. extraNamespaceLabels,
// when set, must also be on the namespace (tests use it to stay in their own
// namespaces).
func MutatingWebhooks(client admissionregistrationv1.WebhookClientConfig, extraNamespaceLabels map[string]string) []admissionregistrationv1.MutatingWebhook {
	system := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "kube-public", "kube-node-lease"}}
	notOptedOut := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}},
		{Key: IstioLabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}},
	}}
	entry := func(name string, ns []metav1.LabelSelectorRequirement, obj *metav1.LabelSelector) admissionregistrationv1.MutatingWebhook {
		fail := admissionregistrationv1.Fail
		none := admissionregistrationv1.SideEffectClassNone
		never := admissionregistrationv1.NeverReinvocationPolicy
		timeout := int32(WebhookTimeoutSeconds)
		return admissionregistrationv1.MutatingWebhook{
			Name:         name,
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: extraNamespaceLabels, MatchExpressions: append([]metav1.LabelSelectorRequirement{system}, ns...)},
			ObjectSelector:          obj,
			FailurePolicy:           &fail,
			SideEffects:             &none,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	enabled := []string{NamespaceInjectionEnabled}
	return []admissionregistrationv1.MutatingWebhook{
		entry("namespace.sidecar.meshctl.io", []metav1.LabelSelectorRequirement{
			{Key: NamespaceLabelInjection, Operator: metav1.LabelSelectorOpIn, Values: enabled},
		}, notOptedOut),
		entry("istio-namespace.sidecar.meshctl.io", []metav1.LabelSelectorRequirement{
			{Key: IstioNamespaceLabelInjection, Operator: metav1.LabelSelectorOpIn, Values: enabled},
			{Key: NamespaceLabelInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
		}, notOptedOut),
		entry("object.sidecar.meshctl.io", []metav1.LabelSelectorRequirement{
			{Key: NamespaceLabelInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
			{Key: IstioNamespaceLabelInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
		}, &metav1.LabelSelector{MatchLabels: map[string]string{LabelInject: "true"}}),
	}
}
