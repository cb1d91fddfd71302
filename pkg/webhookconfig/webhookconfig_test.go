package webhookconfig

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// combos returns every assignment of the given values (or absence) to keys.
func combos(keys []string, values []string) []map[string]string {
	out := []map[string]string{{}}
	for _, k := range keys {
		var next []map[string]string
		for _, m := range out {
			next = append(next, m) // key absent
			for _, v := range values {
				c := map[string]string{k: v}
				for kk, vv := range m {
					c[kk] = vv
				}
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

func matches(t *testing.T, s *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	if s == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Matches(labels.Set(l))
}

// The selectors of every revision and inject.PodRevision (what analyze
// uses) agree on every combination of the labels involved, and no pod is
// ever sent to two webhooks.
func TestSelectorsAgreeWithPodRevision(t *testing.T) {
	revs := []string{vocab.DefaultRevision, "canary"}
	type hook struct {
		name    string
		ns, obj labels.Selector
	}
	hooks := map[string][]hook{}
	for _, r := range revs {
		for _, h := range Mutating(Options{Revision: r, MeshNamespace: "mesh-system", URL: "https://x"}) {
			ns, err1 := metav1.LabelSelectorAsSelector(h.NamespaceSelector)
			obj, err2 := metav1.LabelSelectorAsSelector(h.ObjectSelector)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			hooks[r] = append(hooks[r], hook{h.Name, ns, obj})
		}
	}
	nsCombos := combos([]string{vocab.NamespaceLabelInjection, vocab.IstioNamespaceLabelInjection, vocab.NamespaceLabelRevision, vocab.IstioNamespaceLabelRevision},
		[]string{"enabled", "disabled", "canary", "default", ""})
	podCombos := combos([]string{vocab.LabelInject, vocab.IstioLabelInject, vocab.NamespaceLabelRevision}, []string{"true", "false", "canary", "default"})
	checked := 0
	for _, nsl := range nsCombos {
		nsl["kubernetes.io/metadata.name"] = "shop"
		for _, pl := range podCombos {
			var got []string
			for _, r := range revs {
				for _, h := range hooks[r] {
					if h.ns.Matches(labels.Set(nsl)) && h.obj.Matches(labels.Set(pl)) {
						got = append(got, r+"/"+h.name)
					}
				}
			}
			want := inject.PodRevision(nsl, pl)
			if want != vocab.DefaultRevision && want != "canary" {
				want = "" // a revision nobody installed
			}
			if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || got[0][:len(want)+1] != want+"/") {
				t.Fatalf("namespace %v, pod %v: webhooks %v, PodRevision %q", nsl, pl, got, want)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d combinations checked", checked)
	}
}

func TestSystemAndMeshNamespacesNeverInjected(t *testing.T) {
	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "mesh-a"} {
		for _, h := range Mutating(Options{MeshNamespace: "mesh-a", URL: "https://x"}) {
			l := map[string]string{"kubernetes.io/metadata.name": ns, vocab.NamespaceLabelInjection: "enabled"}
			if matches(t, h.NamespaceSelector, l) {
				t.Errorf("%s selects namespace %s", h.Name, ns)
			}
		}
	}
}

func TestEntriesAreStrictAndShort(t *testing.T) {
	for _, h := range Mutating(Options{URL: "https://x"}) {
		if *h.FailurePolicy != admissionregistrationv1.Fail || *h.TimeoutSeconds > 10 || *h.ClientConfig.URL != "https://x/inject" {
			t.Errorf("%s: policy %s timeout %d url %s", h.Name, *h.FailurePolicy, *h.TimeoutSeconds, *h.ClientConfig.URL)
		}
	}
	v := Validating(Options{Revision: "canary", Service: &admissionregistrationv1.ServiceReference{Name: "s", Namespace: "n"}}, admissionregistrationv1.Ignore)
	if *v[0].ClientConfig.Service.Path != ValidatePath || v[0].ObjectSelector.MatchLabels[vocab.NamespaceLabelRevision] != "canary" {
		t.Errorf("canary validation webhook: %+v", v[0])
	}
}
