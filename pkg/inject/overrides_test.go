package inject

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// overrideValues holds, for every override, a value that differs from what
// DefaultConfig gives the base template below.
var overrideValues = map[vocab.Override]string{
	vocab.OverrideProxyImage:             "registry.example.com/proxy:custom",
	vocab.OverrideProxyCPU:               "300m",
	vocab.OverrideProxyMemory:            "300Mi",
	vocab.OverrideProxyCPULimit:          "3",
	vocab.OverrideProxyMemoryLimit:       "3Gi",
	vocab.OverrideLogLevel:               "debug",
	vocab.OverrideComponentLogLevel:      "misc:error",
	vocab.OverrideRewriteAppHTTPProbers:  "false",
	vocab.OverrideNativeSidecar:          "true",
	vocab.OverrideHoldApplication:        "true",
	vocab.OverrideInterceptionMode:       "TPROXY", // honoured by refusing it
	vocab.OverrideUserVolume:             `[{"name": "filters", "configMap": {"name": "envoy-filters"}}]`,
	vocab.OverrideUserVolumeMount:        `[{"name": "app-data", "mountPath": "/etc/app-data", "readOnly": true}]`,
	vocab.TrafficIncludeOutboundIPRanges: "10.0.0.0/8",
	vocab.TrafficExcludeOutboundIPRanges: "10.96.0.1/32",
	vocab.TrafficIncludeInboundPorts:     "8080",
	vocab.TrafficExcludeInboundPorts:     "9000",
	vocab.TrafficExcludeOutboundPorts:    "5432",
	vocab.TrafficExcludeInterfaces:       "eth1",
	vocab.TrafficKubevirtInterfaces:      "net1",
}

func overrideBase() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tuned"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "example/app:1",
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
			}},
			Volumes: []corev1.Volume{{Name: "app-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// TestEveryOverrideIsHonoured is half of the guarantee that kube-inject and
// analyze agree on annotations: analyze knows exactly vocab's overrides
// (and reports any other key under their prefixes), the injector reads
// overrides only through readOverrides, which knows only vocab's list, and
// here every override on that list, under each of its keys, changes what
// the injector does.
func TestEveryOverrideIsHonoured(t *testing.T) {
	w := Workload{Kind: "Deployment", Name: "tuned", Namespace: "default"}
	base, err := Inject(w, overrideBase(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	baseJSON, _ := json.Marshal(base.Template)
	for _, o := range vocab.Overrides() {
		value, ok := overrideValues[o]
		if !ok {
			t.Errorf("override %s has no test value: add one to overrideValues and make the injector read it", o)
			continue
		}
		for _, key := range o.Keys() {
			tmpl := overrideBase()
			tmpl.Annotations = map[string]string{key: value}
			res, err := Inject(w, tmpl, DefaultConfig())
			if err != nil {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("%s: the error does not name the annotation: %v", key, err)
				}
				continue // refusing a value is honouring it
			}
			// Compare without the annotation itself, which injection keeps.
			delete(res.Template.Annotations, key)
			got, _ := json.Marshal(res.Template)
			if string(got) == string(baseJSON) {
				t.Errorf("%s=%q changed nothing: the injector ignores it", key, value)
			}
		}
	}
	if len(overrideValues) != vocab.NumOverrides {
		t.Errorf("overrideValues has %d entries for %d overrides", len(overrideValues), vocab.NumOverrides)
	}
}

func TestUserVolumes(t *testing.T) {
	w := Workload{Kind: "Deployment", Name: "tuned", Namespace: "default"}
	for name, ann := range map[string]map[string]string{
		"list": {
			"sidecar.meshctl.io/userVolume":      `[{"name": "filters", "configMap": {"name": "envoy-filters"}}]`,
			"sidecar.meshctl.io/userVolumeMount": `[{"name": "filters", "mountPath": "/etc/filters", "readOnly": true}]`,
		},
		"istio map form": {
			"sidecar.istio.io/userVolume":      `{"filters": {"configMap": {"name": "envoy-filters"}}}`,
			"sidecar.istio.io/userVolumeMount": `{"filters": {"mountPath": "/etc/filters", "readOnly": true}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := overrideBase()
			tmpl.Annotations = ann
			res, err := Inject(w, tmpl, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			var vol *corev1.Volume
			for i, v := range res.Template.Spec.Volumes {
				if v.Name == "filters" {
					vol = &res.Template.Spec.Volumes[i]
				}
			}
			if vol == nil || vol.ConfigMap == nil || vol.ConfigMap.Name != "envoy-filters" {
				t.Fatalf("user volume not added: %+v", res.Template.Spec.Volumes)
			}
			var proxy *corev1.Container
			for i, c := range res.Template.Spec.Containers {
				if c.Name == vocab.ProxyContainerName {
					proxy = &res.Template.Spec.Containers[i]
				}
			}
			want := corev1.VolumeMount{Name: "filters", MountPath: "/etc/filters", ReadOnly: true}
			found := false
			for _, m := range proxy.VolumeMounts {
				found = found || reflect.DeepEqual(m, want)
			}
			if !found {
				t.Fatalf("mount %+v not on the proxy: %+v", want, proxy.VolumeMounts)
			}
			for _, c := range res.Template.Spec.Containers {
				if c.Name == "app" && len(c.VolumeMounts) != 0 {
					t.Errorf("the app container got mounts: %+v", c.VolumeMounts)
				}
			}
			// Uninject removes the user volume with the rest of the sidecar.
			back, _, err := Uninject(w, res.Template)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Spec, tmpl.Spec) {
				t.Errorf("uninject did not give back the spec:\n got %+v\nwant %+v", back.Spec, tmpl.Spec)
			}
		})
	}
	for name, tc := range map[string]struct {
		ann  map[string]string
		want string
	}{
		"not JSON":       {map[string]string{"sidecar.istio.io/userVolume": "filters"}, `annotation sidecar.istio.io/userVolume: "filters" is not a JSON list of volumes`},
		"unknown field":  {map[string]string{"sidecar.meshctl.io/userVolume": `[{"name": "f", "confgMap": {}}]`}, `unknown field "confgMap"`},
		"no name":        {map[string]string{"sidecar.meshctl.io/userVolume": `[{"emptyDir": {}}]`}, "an entry has no name"},
		"unknown volume": {map[string]string{"sidecar.meshctl.io/userVolumeMount": `[{"name": "nope", "mountPath": "/x"}]`}, `volume "nope" is neither in the pod nor in the userVolume annotation`},
		"no mount path":  {map[string]string{"sidecar.meshctl.io/userVolumeMount": `[{"name": "app-data"}]`}, `mount of volume "app-data" has no mountPath`},
		"clash":          {map[string]string{"sidecar.meshctl.io/userVolume": `[{"name": "app-data", "emptyDir": {}}]`}, `volume "app-data" already exists`},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := overrideBase()
			tmpl.Annotations = tc.ann
			_, err := Inject(w, tmpl, DefaultConfig())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if !strings.Contains(err.Error(), `deployment "tuned"`) {
				t.Errorf("error does not name the workload: %v", err)
			}
		})
	}
}
