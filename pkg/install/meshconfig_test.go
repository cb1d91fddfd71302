package install

import (
	"strings"
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// renderedMeshConfigMap pulls the mesh ConfigMap out of a render, or nil.
func renderedMeshConfigMap(t *testing.T, m *Manifest, revision string) *corev1.ConfigMap {
	t.Helper()
	for _, o := range m.Objects() {
		if o.GetKind() != "ConfigMap" || o.GetName() != vocab.MeshConfigMapName(revision) {
			continue
		}
		var cm corev1.ConfigMap
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
			t.Fatal(err)
		}
		return &cm
	}
	return nil
}

// readBack parses the mesh ConfigMap of a render with the one parser every
// reader uses.
func readBack(t *testing.T, m *Manifest, revision string) (*meshconfig.MeshConfig, *corev1.ConfigMap) {
	t.Helper()
	cm := renderedMeshConfigMap(t, m, revision)
	if cm == nil {
		t.Fatalf("the render has no mesh ConfigMap %s", vocab.MeshConfigMapName(revision))
	}
	mc, ok, err := meshconfig.FromConfigMapData(cm.Data, "configmap "+cm.Name)
	if err != nil || !ok {
		t.Fatalf("reading back the mesh config: ok %v, %v\n%s", ok, err, cm.Data[vocab.ConfigMapKeyMesh])
	}
	return mc, cm
}

// Every profile: render with the installer, take the mesh ConfigMap out of
// the output, parse it as kube-inject and the server do, and compare with
// what the profile says.
func TestMeshConfigRoundTripEveryProfile(t *testing.T) {
	for _, name := range profiles.Names() {
		t.Run(name, func(t *testing.T) {
			mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: name})
			if err != nil {
				t.Fatal(err)
			}
			m, err := Render(mi)
			if err != nil {
				t.Fatal(err)
			}
			s := mi.Spec
			if !s.Components.Server.Enabled {
				if cm := renderedMeshConfigMap(t, m, ""); cm != nil {
					t.Errorf("profile %s installs no control plane but renders a mesh ConfigMap", name)
				}
				return
			}
			mc, cm := readBack(t, m, "")
			ms := s.MeshConfig
			wantLog := ""
			if ms.AccessLog.Enabled {
				wantLog = ms.AccessLog.File
			}
			tr := mc.GetDefaultConfig().GetTracing()
			for _, c := range []struct {
				field     string
				got, want any
			}{
				{"trustDomain", mc.GetTrustDomain(), ms.TrustDomain},
				{"rootNamespace", mc.GetRootNamespace(), s.MeshNamespace},
				{"accessLogFile", mc.GetAccessLogFile(), wantLog},
				{"accessLogEncoding", mc.GetAccessLogEncoding().String(), ms.AccessLog.Encoding},
				{"outboundTrafficPolicy.mode", mc.GetOutboundTrafficPolicy().GetMode().String(), ms.OutboundTrafficPolicy},
				{"enableTracing", mc.GetEnableTracing(), ms.Tracing.Sampling > 0},
				{"defaultConfig.tracing.sampling", tr.GetSampling(), ms.Tracing.Sampling},
				{"defaultConfig.tracing.zipkin.address", tr.GetZipkin().GetAddress(), s.TracingAddress()},
			} {
				if c.got != c.want {
					t.Errorf("%s: read back %v, the profile says %v", c.field, c.got, c.want)
				}
			}
			rendered, err := mi.RenderedMeshConfig()
			if err != nil {
				t.Fatal(err)
			}
			if !meshconfig.Equal(mc, rendered) {
				t.Errorf("the ConfigMap holds %v, install rendered %v", mc, rendered)
			}
			// The injector reads the same ConfigMap through the same parser.
			cfg, err := inject.ConfigFromConfigMap(cm)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TrustDomain != mc.GetTrustDomain() {
				t.Errorf("injection trust domain %q, mesh config %q", cfg.TrustDomain, mc.GetTrustDomain())
			}
		})
	}
}

// Each meshConfig field of the install spec lands on its MeshConfig field.
func TestMeshConfigFieldsOfTheInstallSpec(t *testing.T) {
	cases := []struct {
		set   []string
		ns    string
		check func(*meshconfig.MeshConfig) bool
	}{
		{[]string{"meshConfig.trustDomain=example.org"}, "", func(mc *meshconfig.MeshConfig) bool { return mc.TrustDomain == "example.org" }},
		{[]string{"meshConfig.accessLog.enabled=true", "meshConfig.accessLog.file=/var/log/proxy.log"}, "", func(mc *meshconfig.MeshConfig) bool {
			return mc.AccessLogFile == "/var/log/proxy.log"
		}},
		{[]string{"meshConfig.accessLog.enabled=false", "meshConfig.accessLog.file=/var/log/proxy.log"}, "", func(mc *meshconfig.MeshConfig) bool { return mc.AccessLogFile == "" }},
		{[]string{"meshConfig.accessLog.encoding=JSON"}, "", func(mc *meshconfig.MeshConfig) bool { return mc.AccessLogEncoding == meshv1alpha1.MeshConfig_JSON }},
		// REGISTRY_ONLY is the enum's zero value: it must survive the trip.
		{[]string{"meshConfig.outboundTrafficPolicy=REGISTRY_ONLY"}, "", func(mc *meshconfig.MeshConfig) bool {
			return mc.GetOutboundTrafficPolicy().GetMode() == meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
		}},
		{[]string{"meshConfig.tracing.sampling=0"}, "", func(mc *meshconfig.MeshConfig) bool {
			return !mc.EnableTracing && mc.GetDefaultConfig().GetTracing().GetSampling() == 0
		}},
		{[]string{"meshConfig.tracing.sampling=12.5", "meshConfig.tracing.address=collector.obs:9411"}, "", func(mc *meshconfig.MeshConfig) bool {
			tr := mc.GetDefaultConfig().GetTracing()
			return mc.EnableTracing && tr.GetSampling() == 12.5 && tr.GetZipkin().GetAddress() == "collector.obs:9411"
		}},
		{nil, "mesh-a", func(mc *meshconfig.MeshConfig) bool { return mc.RootNamespace == "mesh-a" }},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.set, ",")+tc.ns, func(t *testing.T) {
			m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal", Sets: tc.set, MeshNamespace: tc.ns})
			mc, _ := readBack(t, m, "")
			if !tc.check(mc) {
				t.Errorf("not mapped: %v", mc)
			}
		})
	}
}

// Free-form values are kept beside the mesh config, not inside it: the mesh
// key stays a valid MeshConfig.
func TestMeshConfigValuesKey(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal", Sets: []string{"values.global.meshID=m1"}})
	_, cm := readBack(t, m, "")
	if v := cm.Data[vocab.ConfigMapKeyValues]; !strings.Contains(v, "meshID: m1") {
		t.Errorf("values key: %q", v)
	}
	m = renderProfile(t, profiles.ResolveOptions{Profile: "minimal"})
	if _, ok := renderedMeshConfigMap(t, m, "").Data[vocab.ConfigMapKeyValues]; ok {
		t.Errorf("a values key without values")
	}
}

func TestMeshConfigOfARevision(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal", Revision: "canary", Sets: []string{"meshConfig.trustDomain=canary.example"}})
	mc, _ := readBack(t, m, "canary")
	if mc.TrustDomain != "canary.example" {
		t.Errorf("trust domain of the canary: %q", mc.TrustDomain)
	}
}

// A spec whose mesh config is invalid fails with the spec path, never
// writes a ConfigMap.
func TestMeshConfigInvalidSpec(t *testing.T) {
	for set, want := range map[string]string{
		"meshConfig.trustDomain=spiffe://x":  "spec.meshConfig.trustDomain",
		"meshConfig.tracing.sampling=101":    "spec.meshConfig.tracing.sampling",
		"meshConfig.trustDomain=Not_Allowed": "spec.meshConfig.trustDomain",
	} {
		_, err := profiles.Resolve(profiles.ResolveOptions{Profile: "minimal", Sets: []string{set}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v, want an error naming %s", set, err, want)
		}
	}
}
