// Package webhookconfig builds the admission webhook entries of a control
// plane revision: which pods reach the injector and which config reaches the
// validator. install renders them, `meshctl server` keeps their caBundle and
// failure policy current, and tests register them, all from here; the pod
// selection they express is inject.PodRevision, which analyze uses.
package webhookconfig

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

const (
	// InjectPath and ValidatePath are served by `meshctl server`.
	InjectPath   = inject.WebhookPath
	ValidatePath = "/validate"
	// ServicePort is the Service port the API server dials (the Service
	// maps it to the server's webhook listener).
	ServicePort = 443
	// ListenAddress is the server's default webhook listener.
	ListenAddress = ":15017"
	// ValidationTimeoutSeconds is short: validation is a pure function of
	// one object, and a slow answer would stall every `kubectl apply`.
	ValidationTimeoutSeconds = 5
	// ServerFieldManager owns what the server writes into the webhook
	// configurations (caBundle, the validation failure policy); install
	// leaves those fields to it.
	ServerFieldManager = "meshctl-server"
)

// Options describe the revision and how the API server reaches its server.
type Options struct {
	// Revision of the control plane; "" is the default revision.
	Revision string
	// MeshNamespace is never injected.
	MeshNamespace string
	// Service the API server calls (clientConfig.service); Path is set per
	// webhook. Exactly one of Service and URL is used.
	Service *admissionregistrationv1.ServiceReference
	// URL base ("https://host:port") for a server outside the cluster.
	URL string
	// CABundle verifies the server's certificate.
	CABundle []byte
	// ExtraNamespaceLabels must also be on a namespace for any webhook to
	// select it (tests use it to stay in their own namespaces).
	ExtraNamespaceLabels map[string]string
}

func (o Options) revision() string {
	if o.Revision == "" {
		return vocab.DefaultRevision
	}
	return o.Revision
}

func (o Options) client(path string) admissionregistrationv1.WebhookClientConfig {
	c := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.Service != nil {
		s := *o.Service
		s.Path = &path
		c.Service = &s
	} else {
		u := o.URL + path
		c.URL = &u
	}
	return c
}

func req(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func absent(keys ...string) []metav1.LabelSelectorRequirement {
	out := make([]metav1.LabelSelectorRequirement, len(keys))
	for i, k := range keys {
		out[i] = req(k, metav1.LabelSelectorOpDoesNotExist)
	}
	return out
}

// Mutating are the injection webhook entries of a revision, one per way a
// pod is chosen (see inject.PodRevision). Every revision takes namespaces
// labelled meshctl.io/rev=<rev> or istio.io/rev=<rev> and pods labelled
// meshctl.io/rev=<rev> in unlabelled namespaces; only the default revision
// takes mesh-injection=enabled / istio-injection=enabled namespaces and pods
// labelled sidecar.meshctl.io/inject=true (or Istio's) in unlabelled ones.
func Mutating(o Options) []admissionregistrationv1.MutatingWebhook {
	rev := o.revision()
	notSystem := req("kubernetes.io/metadata.name", metav1.LabelSelectorOpNotIn, inject.SystemNamespaces(o.MeshNamespace)...)
	notOptedOut := []metav1.LabelSelectorRequirement{
		req(vocab.LabelInject, metav1.LabelSelectorOpNotIn, "false"),
		req(vocab.IstioLabelInject, metav1.LabelSelectorOpNotIn, "false"),
	}
	unlabelled := absent(vocab.NamespaceLabelInjection, vocab.IstioNamespaceLabelInjection, vocab.NamespaceLabelRevision, vocab.IstioNamespaceLabelRevision)
	entry := func(name string, ns, obj []metav1.LabelSelectorRequirement) admissionregistrationv1.MutatingWebhook {
		fail := admissionregistrationv1.Fail
		none := admissionregistrationv1.SideEffectClassNone
		never := admissionregistrationv1.NeverReinvocationPolicy
		timeout := int32(inject.WebhookTimeoutSeconds)
		return admissionregistrationv1.MutatingWebhook{
			Name:         name,
			ClientConfig: o.client(InjectPath),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: o.ExtraNamespaceLabels, MatchExpressions: append([]metav1.LabelSelectorRequirement{notSystem}, ns...)},
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: obj},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	noInjectionLabel := absent(vocab.NamespaceLabelInjection, vocab.IstioNamespaceLabelInjection)
	out := []admissionregistrationv1.MutatingWebhook{
		entry("rev.namespace.sidecar.meshctl.io",
			append([]metav1.LabelSelectorRequirement{req(vocab.NamespaceLabelRevision, metav1.LabelSelectorOpIn, rev)}, noInjectionLabel...), notOptedOut),
		entry("istio-rev.namespace.sidecar.meshctl.io",
			append([]metav1.LabelSelectorRequirement{req(vocab.IstioNamespaceLabelRevision, metav1.LabelSelectorOpIn, rev)}, append(noInjectionLabel, absent(vocab.NamespaceLabelRevision)...)...), notOptedOut),
		entry("rev.object.sidecar.meshctl.io", unlabelled,
			append([]metav1.LabelSelectorRequirement{req(vocab.NamespaceLabelRevision, metav1.LabelSelectorOpIn, rev)}, notOptedOut...)),
	}
	if rev != vocab.DefaultRevision {
		return out
	}
	return append(out,
		entry("namespace.sidecar.meshctl.io",
			[]metav1.LabelSelectorRequirement{req(vocab.NamespaceLabelInjection, metav1.LabelSelectorOpIn, vocab.NamespaceInjectionEnabled)}, notOptedOut),
		entry("istio-namespace.sidecar.meshctl.io",
			[]metav1.LabelSelectorRequirement{req(vocab.IstioNamespaceLabelInjection, metav1.LabelSelectorOpIn, vocab.NamespaceInjectionEnabled), req(vocab.NamespaceLabelInjection, metav1.LabelSelectorOpDoesNotExist)}, notOptedOut),
		entry("object.sidecar.meshctl.io", unlabelled, append([]metav1.LabelSelectorRequirement{
			req(vocab.LabelInject, metav1.LabelSelectorOpIn, "true"),
			req(vocab.IstioLabelInject, metav1.LabelSelectorOpNotIn, "false"),
		}, absent(vocab.NamespaceLabelRevision)...)),
		entry("istio-object.sidecar.meshctl.io", unlabelled, append([]metav1.LabelSelectorRequirement{
			req(vocab.IstioLabelInject, metav1.LabelSelectorOpIn, "true"),
		}, absent(vocab.LabelInject, vocab.NamespaceLabelRevision)...)),
	)
}

// ValidatedGroups are the API groups of the mesh config the validator checks.
var ValidatedGroups = []string{"networking.istio.io", "security.istio.io", "telemetry.istio.io"}

// Validating is the validation webhook entry of a revision. The default
// revision validates every mesh config object; another revision only those
// labelled meshctl.io/rev=<rev>, so a canary never doubles the work or
// judges config with rules the default does not have yet. The failure policy
// is Ignore until the server serves (it then switches to Fail).
func Validating(o Options, policy admissionregistrationv1.FailurePolicyType) []admissionregistrationv1.ValidatingWebhook {
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(ValidationTimeoutSeconds)
	w := admissionregistrationv1.ValidatingWebhook{
		Name:         "validation.meshctl.io",
		ClientConfig: o.client(ValidatePath),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: ValidatedGroups, APIVersions: []string{"*"}, Resources: []string{"*"}},
		}},
		FailurePolicy:           &policy,
		SideEffects:             &none,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: []string{"v1"},
	}
	if len(o.ExtraNamespaceLabels) > 0 {
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: o.ExtraNamespaceLabels}
	}
	if rev := o.revision(); rev != vocab.DefaultRevision {
		w.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{vocab.NamespaceLabelRevision: rev}}
	}
	return []admissionregistrationv1.ValidatingWebhook{w}
}
