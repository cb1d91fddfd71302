package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// A container named like the proxy is Istio's way to customize the sidecar:
// its fields win, the injected ones it does not set stay, and the pod is
// injected rather than reported as already injected.
func TestProxyNamedContainerCustomizesTheSidecar(t *testing.T) {
	for _, name := range []string{vocab.IstioProxyContainerName, vocab.ProxyContainerName} {
		t.Run(name, func(t *testing.T) {
			tmpl := &corev1.PodTemplateSpec{}
			tmpl.Labels = map[string]string{vocab.LabelTLSMode: "disabled"}
			tmpl.Spec.Containers = []corev1.Container{
				{Name: "app", Image: "app:1"},
				{Name: name, Image: autoImage, Env: []corev1.EnvVar{{Name: "EXTRA", Value: "1"}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}},
			}
			cfg := DefaultConfig()
			res, err := Inject(Workload{Kind: "Pod", Name: "p"}, tmpl, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != ActionInjected {
				t.Fatalf("action %s (%s), want injected", res.Action, res.Reason)
			}
			cs := res.Template.Spec.Containers
			if len(cs) != 2 || cs[0].Name != "app" || cs[1].Name != vocab.ProxyContainerName {
				t.Fatalf("containers %v, want app and %s", names(cs), vocab.ProxyContainerName)
			}
			proxy := cs[1]
			if proxy.Image != cfg.ProxyImage {
				t.Errorf("image %q, want the injected %q for %q", proxy.Image, cfg.ProxyImage, autoImage)
			}
			if got := proxy.Resources.Limits.Memory().String(); got != "2Gi" {
				t.Errorf("memory limit %s, want the user's 2Gi", got)
			}
			if proxy.Resources.Requests.Cpu().IsZero() {
				t.Error("the injected CPU request was lost")
			}
			env := map[string]string{}
			for _, e := range proxy.Env {
				env[e.Name] = e.Value
			}
			if env["EXTRA"] != "1" || env[vocab.EnvAppContainers] != "app" {
				t.Errorf("env %v: want the user's EXTRA and %s=app", env, vocab.EnvAppContainers)
			}
			if proxy.ReadinessProbe == nil {
				t.Error("the injected readiness probe was lost")
			}
			if got := res.Template.Labels[vocab.LabelTLSMode]; got != "disabled" {
				t.Errorf("%s = %q, want the user's disabled", vocab.LabelTLSMode, got)
			}
			back, changed, err := Uninject(Workload{Kind: "Pod", Name: "p"}, res.Template)
			if err != nil || !changed {
				t.Fatalf("uninject: %v %v", changed, err)
			}
			if got := names(back.Spec.Containers); len(got) != 2 || got[1] != name || back.Spec.Containers[1].Image != autoImage {
				t.Errorf("uninject gave containers %v, want the user's %s back", got, name)
			}
		})
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
