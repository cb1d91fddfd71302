package analyze

import (
	"fmt"
	"strings"
	"sync"

	"istio.io/api/annotation"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/validation"
	"github.com/meshctl/meshctl/pkg/vocab"
)

const (
	codeParse  = "MSH0001"
	codeSchema = "MSH0002"
)

var (
	meshKinds    = config.MeshKinds()
	gatewayKinds = config.GatewayAPIKinds()
	// validatedKinds are the kinds pkg/validation has rules for.
	validatedKinds = kinds(meshKinds, gatewayKinds, k(config.KindService))
	// annotatedKinds are the kinds people annotate by hand; derived objects
	// (ReplicaSets, Endpoints) only repeat what their owners say.
	annotatedKinds = append(append([]config.Kind{}, meshKinds...), config.KindService, config.KindNamespace, config.KindPod,
		config.KindDeployment, config.KindStatefulSet, config.KindDaemonSet, config.KindJob, config.KindCronJob)
	workloadKinds = []config.Kind{config.KindPod, config.KindDeployment, config.KindStatefulSet, config.KindDaemonSet, config.KindReplicaSet, config.KindJob, config.KindCronJob}
)

func kinds(groups ...[]config.Kind) []config.Kind {
	var out []config.Kind
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func k(ks ...config.Kind) []config.Kind { return ks }

var generalAnalyzers = []*Analyzer{
	{
		Code: codeParse, Name: "ParseError", Level: Error,
		Doc: "A document is not valid YAML/JSON or not a Kubernetes object; the other documents are still analyzed.",
	},
	{
		Code: codeSchema, Name: "SchemaValidation", Level: Error,
		Doc:    "An object breaks the schema or semantic rules of its kind (the rules of meshctl validate and the validation webhook).",
		Inputs: validatedKinds,
		Run: func(c *Context) {
			validated := map[config.Kind]bool{}
			for _, kind := range validatedKinds {
				validated[kind] = true
				for _, r := range c.Store.List(kind, "") {
					for _, is := range c.validationIssues(r) {
						if is.Severity == validation.SeverityError {
							c.Report(r, is.Field, "correct the field as the message says", "%s", is.String())
						}
					}
				}
			}
			// The API server refuses an object without a name whatever its
			// kind; validation has rules only for some kinds.
			for _, r := range c.Store.All() {
				if r.Name == "" && r.GenerateName == "" && !validated[r.Kind] {
					c.Report(r, "metadata", "give the object a metadata.name", "%s has no metadata.name; the API server refuses it", r.Kind)
				}
			}
		},
	},
	{
		Code: "MSH0003", Name: "DeprecatedField", Level: Warning,
		Doc:    "An object sets a field or enum value the API marks as deprecated.",
		Inputs: meshKinds,
		Run: func(c *Context) {
			for _, kind := range meshKinds {
				for _, r := range c.Store.List(kind, "") {
					for _, is := range validation.Deprecations(r) {
						c.Report(r, is.Field, "use its replacement from the API reference", "%s", is.String())
					}
				}
			}
		},
	},
	{
		Code: "MSH0004", Name: "DeprecatedAPIVersion", Level: Info,
		Doc:    "A mesh object uses an older API version (v1alpha3, v1beta1) where v1 is served.",
		Inputs: meshKinds,
		Run: func(c *Context) {
			for _, kind := range meshKinds {
				for _, r := range c.Store.List(kind, "") {
					info, _ := config.InfoFor(kind)
					if r.Origin.FromFile() && r.APIVersion != info.GroupVersion() {
						c.Report(r, "apiVersion", "change apiVersion to "+info.GroupVersion()+"; the fields are the same",
							"%s uses apiVersion %s", kind, r.APIVersion)
					}
				}
			}
		},
	},
	{
		Code: "MSH0005", Name: "DuplicateObject", Level: Warning,
		Doc: "The input defines the same object (kind, namespace, name) more than once; only the last one is used.",
		Run: func(c *Context) {
			for _, d := range c.Store.Duplicates() {
				last := c.Store.Get(d.Kind, d.Namespace, d.Name)
				where := "another document"
				if last != nil {
					where = last.Origin.String()
				}
				c.Report(d, "metadata.name", "remove or rename one of them",
					"%s is defined again at %s, which replaces this one", d.Key(), where)
			}
		},
	},
	{
		Code: "MSH0006", Name: "UnknownAnnotation", Level: Warning,
		Doc:    "An annotation uses a mesh prefix (sidecar.meshctl.io/, sidecar.istio.io/, proxy.istio.io/, …) but is not one meshctl reads: a typo, or an Istio annotation meshctl's injector does not honour.",
		Inputs: annotatedKinds,
		Run: func(c *Context) {
			for _, r := range c.Store.All() {
				if len(r.OwnerReferences) > 0 {
					continue // its owner is reported
				}
				for _, key := range sortedKeys(r.Annotations) {
					if meshAnnotation(key) && !knownAnnotations()[key] {
						c.Report(r, "metadata.annotations."+key, "check the spelling against the documented annotations, or remove it",
							"unknown annotation %q: meshctl does not read it", key)
					}
				}
				if t := r.PodTemplate(); t != nil && r.Kind != config.KindPod {
					tp := config.PodTemplatePath(r.Kind)
					for _, key := range sortedKeys(t.Annotations) {
						if meshAnnotation(key) && !knownAnnotations()[key] {
							c.Report(r, tp+".metadata.annotations."+key, "check the spelling against the documented annotations, or remove it",
								"unknown annotation %q on the pod template: meshctl's injector does not read it", key)
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0007", Name: "MisplacedAnnotation", Level: Warning,
		Doc:    "A pod annotation (injection, proxy settings) is set on an object that does not make pods read it.",
		Inputs: annotatedKinds,
		Run: func(c *Context) {
			for _, r := range c.Store.All() {
				if r.Kind == config.KindPod || len(r.OwnerReferences) > 0 {
					continue
				}
				for _, key := range sortedKeys(r.Annotations) {
					if !podAnnotation(key) {
						continue
					}
					fix := "move it to the pod template (spec.template.metadata.annotations)"
					if !config.IsWorkload(r.Kind) {
						fix = "set it on the pods' template of the workload instead"
					}
					c.Report(r, "metadata.annotations."+key, fix, "annotation %q has no effect on a %s", key, r.Kind)
				}
			}
		},
	},
	{
		Code: "MSH0008", Name: "SchemaWarning", Level: Warning,
		Doc:    "An object is valid but uses a construct that likely does not do what was meant (the warnings of meshctl validate).",
		Inputs: meshKinds,
		Run: func(c *Context) {
			for _, kind := range meshKinds {
				for _, r := range c.Store.List(kind, "") {
					for _, is := range c.validationIssues(r) {
						if is.Severity == validation.SeverityWarning {
							c.Report(r, is.Field, "see the message", "%s", is.String())
						}
					}
				}
			}
		},
	},
	{
		Code: "MSH0009", Name: "DeprecatedAnnotation", Level: Info,
		Doc:    "An object uses an Istio annotation that meshctl still honours but Istio has deprecated (sidecar.istio.io/inject as an annotation rather than a label, …).",
		Inputs: annotatedKinds,
		Run: func(c *Context) {
			for _, r := range c.Store.All() {
				if len(r.OwnerReferences) > 0 {
					continue // its owner is reported
				}
				report := func(path string, annotations map[string]string) {
					for _, key := range sortedKeys(annotations) {
						if d, ok := deprecatedAnnotations()[key]; ok {
							c.Report(r, path+key, d, "annotation %q is deprecated (Istio's annotation reference)", key)
						}
					}
				}
				report("metadata.annotations.", r.Annotations)
				if t := r.PodTemplate(); t != nil && r.Kind != config.KindPod {
					report(config.PodTemplatePath(r.Kind)+".metadata.annotations.", t.Annotations)
				}
			}
		},
	},
	{
		Code: "MSH0010", Name: "InvalidAnnotation", Level: Error,
		Doc:    "A workload's pods carry a mesh annotation whose value the injector cannot read (a proxyCPU that is no quantity, a port list with a typo, proxy.istio.io/config that is no YAML…): the injector refuses to inject them.",
		Inputs: workloadKinds,
		Run: func(c *Context) {
			for _, w := range c.workloads("") {
				if len(w.res.OwnerReferences) > 0 || !hasInjectorKeys(w.tmpl.Annotations) && !hasInjectorKeys(w.tmpl.Labels) {
					continue
				}
				if will, known := c.willInject(w); !will && known {
					continue // never injected: the values are never read
				}
				err := inject.CheckAnnotations(inject.Workload{Kind: string(w.res.Kind), Name: w.res.Name, Namespace: w.res.Namespace}, w.tmpl)
				if err == nil {
					continue
				}
				tp := config.PodTemplatePath(w.res.Kind)
				if tp != "" {
					tp += "."
				}
				wl := inject.Workload{Kind: string(w.res.Kind), Name: w.res.Name, Namespace: w.res.Namespace}
				c.Report(w.res, tp+"metadata.annotations", "correct the annotation's value as the message says",
					"%s; the injector refuses these pods", strings.TrimPrefix(err.Error(), wl.String()+": "))
			}
		},
	},
}

func meshAnnotation(key string) bool {
	for _, p := range vocab.MeshAnnotationPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// podAnnotation reports keys that only mean something on a pod.
func podAnnotation(key string) bool { return podAnnotations()[key] }

// podAnnotations are what the injector reads from a pod (vocab owns the one
// list): an annotation under a mesh prefix that is not here is ignored by
// kube-inject and the webhook, so analyze reports it. The annotation sets are built
// when analyze first needs them, not at package initialisation, which every
// meshctl command pays.
var podAnnotations = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, k := range vocab.PodAnnotations() {
		m[k] = true
	}
	return m
})

var knownAnnotations = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{
		vocab.AnnotationAnalyzeSuppress:      true,
		vocab.IstioAnnotationAnalyzeSuppress: true,
	}
	for k := range podAnnotations() {
		m[k] = true
	}
	return m
})

// describe lists items for messages: "a, b and c".
func describe(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func field(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// deprecatedAnnotations are the annotations meshctl honours that Istio's
// annotation reference (istio.io/api/annotation) marks deprecated, each with
// the replacement meshctl also honours. Istio's own advice is not repeated
// where it names something meshctl does not read (kubevirtInterfaces →
// istio.io/reroute-virtual-interfaces): there the deprecated key is the one
// that works. Deprecated annotations meshctl does not read are MSH0006's.
var deprecatedAnnotations = sync.OnceValue(func() map[string]string {
	replacements := map[string]string{
		vocab.IstioLabelInject: fmt.Sprintf("set it as a pod label (%s or %s), not an annotation", vocab.IstioLabelInject, vocab.LabelInject),
	}
	m := map[string]string{}
	for _, a := range annotation.AllResourceAnnotations() {
		if r, ok := replacements[a.Name]; ok && a.Deprecated && knownAnnotations()[a.Name] {
			m[a.Name] = r
		}
	}
	return m
})

// hasInjectorKeys reports whether m has a key the injector reads values of.
func hasInjectorKeys(m map[string]string) bool {
	for k := range m {
		if meshAnnotation(k) || k == vocab.AnnotationInjectTemplates {
			return true
		}
	}
	return false
}
