package inject

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/admission"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// WebhookPath is where `meshctl server` serves the injection webhook.
const WebhookPath = "/inject"

const (
	// WebhookTimeout bounds one admission review; the API server is told a
	// little more (WebhookTimeoutSeconds) so the handler answers first. Both
	// are short: with failurePolicy Fail a slow webhook stalls every pod
	// creation in injected namespaces, and injection takes milliseconds.
	WebhookTimeout        = 4 * time.Second
	WebhookTimeoutSeconds = 5
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
	return admission.Handler(h.review, WebhookTimeout, "injection timed out")
}

type webhook struct {
	config func() Config
}

// review injects the pod of one admission request.
func (h *webhook) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Resource.Group != "" || req.Resource.Resource != "pods" || req.SubResource != "" || req.Operation != admissionv1.Create {
		return allow
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Deny(http.StatusBadRequest, "meshctl sidecar injection: cannot decode the pod: %v", err)
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	if reason := reservedName(&pod); reason != "" {
		return admission.Deny(http.StatusUnprocessableEntity, "meshctl sidecar injection: %s", reason)
	}
	id := podWorkload(&pod)
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}
	res, err := Inject(id, tmpl, h.config())
	if err != nil {
		return admission.Deny(http.StatusUnprocessableEntity, "meshctl sidecar injection: %v", err)
	}
	if res.Action != ActionInjected {
		return allow
	}
	before, err := json.Marshal(&pod)
	if err != nil {
		return admission.Deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	injected := pod.DeepCopy()
	injected.ObjectMeta, injected.Spec = res.Template.ObjectMeta, res.Template.Spec
	after, err := json.Marshal(injected)
	if err != nil {
		return admission.Deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	ops, err := jsonpatch.CreatePatch(before, after)
	if err != nil {
		return admission.Deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return admission.Deny(http.StatusInternalServerError, "meshctl sidecar injection: %v", err)
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

// reservedName refuses a pod that is not injected yet but has a container
// named like the init container injection adds: injecting it would make a
// patch with duplicate names that the API server rejects with a confusing
// error. (A container named like the proxy is not refused: it customizes
// the sidecar, as in Istio.)
func reservedName(pod *corev1.Pod) string {
	if injectedBy(&corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta}) != "" {
		return ""
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == vocab.InitContainerName {
				return fmt.Sprintf("the pod already has a container named %q, a name the mesh reserves for its init container: rename that container, or opt the pod out of injection with the label %s=false", c.Name, vocab.LabelInject)
			}
		}
	}
	return ""
}
