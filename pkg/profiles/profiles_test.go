package profiles

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/version"
)

func TestBuiltinProfiles(t *testing.T) {
	want := []string{"default", "demo", "empty", "minimal"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range want {
		m, err := Profile(n)
		if err != nil {
			t.Fatalf("profile %s: %v", n, err)
		}
		if m.Spec.Profile != n {
			t.Errorf("profile %s resolved with Spec.Profile %q", n, m.Spec.Profile)
		}
	}
	demo, _ := Profile("demo")
	if !demo.Spec.Addons.Kiali.Enabled || !demo.Spec.Components.EgressGateways[0].Enabled || demo.Spec.MeshConfig.Tracing.Sampling != 100 {
		t.Errorf("demo profile lacks addons, egress gateway or full tracing: %+v", demo.Spec)
	}
	// Named list items merge: demo keeps default's serviceType.
	if demo.Spec.Components.IngressGateways[0].K8s.ServiceType != "LoadBalancer" {
		t.Errorf("demo ingress gateway lost serviceType")
	}
	minimal, _ := Profile("minimal")
	if len(minimal.Spec.Components.IngressGateways) != 1 || minimal.Spec.Components.IngressGateways[0].Enabled ||
		minimal.Spec.Components.IngressGateways[0].Replicas != 1 || !minimal.Spec.Components.Server.Enabled {
		t.Errorf("minimal: %+v", minimal.Spec.Components)
	}
	empty, _ := Profile("empty")
	if empty.Spec.Components.Base.Enabled || empty.Spec.Components.Server.Enabled {
		t.Errorf("empty installs something: %+v", empty.Spec.Components)
	}
}

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, &testErr{name}
		}
		return []byte(s), nil
	}
}

type testErr struct{ name string }

func (e *testErr) Error() string { return "open " + e.name + ": no such file" }

func TestOverlayPrecedence(t *testing.T) {
	fs := files(map[string]string{
		"a.yaml": "apiVersion: install.meshctl.io/v1alpha1\nkind: MeshInstall\nspec:\n  tag: \"1.20\"\n  components:\n    server:\n      replicas: 2\n  meshConfig:\n    outboundTrafficPolicy: REGISTRY_ONLY\n",
		"b.yaml": "spec:\n  components:\n    server:\n      replicas: 3\n",
	})
	m, err := Resolve(ResolveOptions{Profile: "demo", Files: []string{"a.yaml", "b.yaml"}, Sets: []string{"meshConfig.trustDomain=example.org"}, ReadFile: fs})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Tag != "1.20" || m.Spec.Components.Server.Replicas != 3 || m.Spec.MeshConfig.OutboundTrafficPolicy != "REGISTRY_ONLY" ||
		m.Spec.MeshConfig.TrustDomain != "example.org" || !m.Spec.Addons.Grafana.Enabled {
		t.Errorf("layers not applied in order: %+v", m.Spec)
	}
	// --set beats files, and files beat the profile.
	m, err = Resolve(ResolveOptions{Profile: "demo", Files: []string{"b.yaml"}, Sets: []string{"components.server.replicas=5"}, ReadFile: fs})
	if err != nil || m.Spec.Components.Server.Replicas != 5 {
		t.Fatalf("--set did not win: %v %+v", err, m)
	}
	// --set profile=... picks the profile.
	m, err = Resolve(ResolveOptions{Sets: []string{"profile=minimal"}})
	if err != nil || m.Spec.Profile != "minimal" || m.Spec.Components.IngressGateways[0].Enabled {
		t.Fatalf("--set profile=minimal: %v %+v", err, m)
	}
	// Flags for namespace and revision apply, --set still wins.
	m, err = Resolve(ResolveOptions{MeshNamespace: "other", Revision: "canary", Sets: []string{"revision=blue"}})
	if err != nil || m.Spec.MeshNamespace != "other" || m.Spec.Revision != "blue" {
		t.Fatalf("flags: %v %+v", err, m)
	}
	// A gateway index and a map key with an escaped dot.
	m, err = Resolve(ResolveOptions{Sets: []string{"components.ingressGateways[0].replicas=4", `components.server.k8s.podAnnotations.prometheus\.io/scrape=true`}})
	if err != nil || m.Spec.Components.IngressGateways[0].Replicas != 4 || m.Spec.Components.Server.K8s.PodAnnotations["prometheus.io/scrape"] != "true" {
		t.Fatalf("indexed set: %v %+v", err, m)
	}
}

func TestTyposAreErrors(t *testing.T) {
	fs := files(map[string]string{
		"typo.yaml": "spec:\n  components:\n    sever:\n      replicas: 2\n",
		"bad.yaml":  "spec:\n  components:\n    server:\n      replicas: two\n",
		"kind.yaml": "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n",
	})
	for _, tc := range []struct {
		opts ResolveOptions
		want []string
	}{
		{ResolveOptions{Profile: "dmeo"}, []string{`unknown profile "dmeo"`, `did you mean "demo"`}},
		{ResolveOptions{Sets: []string{"profile=minmal"}}, []string{`did you mean "minimal"`}},
		{ResolveOptions{Sets: []string{"components.sever.replicas=2"}}, []string{`unknown field "components.sever"`, `did you mean "server"`}},
		{ResolveOptions{Sets: []string{"meshConfig.mtls.mod=STRICT"}}, []string{`did you mean "mode"`}},
		{ResolveOptions{Sets: []string{"components.server.replicas=many"}}, []string{"components.server.replicas", "not a whole number"}},
		{ResolveOptions{Sets: []string{"meshConfig.mtls.mode=STICT"}}, []string{"spec.meshConfig.mtls.mode", `did you mean "STRICT"`}},
		// The mode is rendered with the control plane; without it, it would
		// be accepted and never enforced.
		{ResolveOptions{Profile: "empty", Sets: []string{"meshConfig.mtls.mode=STRICT"}}, []string{"spec.meshConfig.mtls.mode", "STRICT needs components.server.enabled"}},
		{ResolveOptions{Sets: []string{"meshConfig.mtls.mode=DISABLE", "components.server.enabled=false"}}, []string{"DISABLE needs components.server.enabled"}},
		{ResolveOptions{Sets: []string{"components.ingressGateways[3].replicas=1"}}, []string{"index 3 is out of range"}},
		{ResolveOptions{Sets: []string{"novalue"}}, []string{"expected path=value"}},
		{ResolveOptions{Files: []string{"typo.yaml"}, ReadFile: fs}, []string{"typo.yaml:3", `did you mean "server"`}},
		{ResolveOptions{Files: []string{"bad.yaml"}, ReadFile: fs}, []string{"bad.yaml:4", "not a whole number"}},
		{ResolveOptions{Files: []string{"kind.yaml"}, ReadFile: fs}, []string{"kind.yaml:1", "install.meshctl.io/v1alpha1"}},
		{ResolveOptions{Files: []string{"missing.yaml"}, ReadFile: fs}, []string{"missing.yaml"}},
		{ResolveOptions{Revision: "Not_Valid"}, []string{"spec.revision"}},
	} {
		_, err := Resolve(tc.opts)
		if err == nil {
			t.Errorf("%+v: no error", tc.opts)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not contain %q", tc.opts, err, w)
			}
		}
	}
}

func TestInjectConfig(t *testing.T) {
	m, err := Resolve(ResolveOptions{Revision: "canary", MeshNamespace: "mesh-a", Sets: []string{"hub=example.com/x", "tag=1.2.3", "meshConfig.trustDomain=td.example", "proxy.resources.limits.cpu=500m"}})
	if err != nil {
		t.Fatal(err)
	}
	c := m.InjectConfig()
	if c.Revision != "canary" || c.ProxyImage != "example.com/x/proxy:1.2.3" || c.InitImage != "example.com/x/meshctl:1.2.3" ||
		c.DiscoveryAddress != "meshctl-server-canary.mesh-a.svc:15012" || c.TrustDomain != "td.example" || c.ProxyResources.Limits.CPU != "500m" {
		t.Errorf("InjectConfig() = %+v", c)
	}
}

// Images default to the tag of this meshctl's own version, never :latest; an
// explicit tag still wins.
func TestImageTagDefaultsToVersion(t *testing.T) {
	for _, name := range Names() {
		m, err := Profile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Spec.Tag != version.Get().Version || strings.Contains(m.Spec.ServerImage()+m.Spec.ProxyImage(), "latest") {
			t.Errorf("profile %s: tag %q, images %s %s; want the meshctl version %q", name, m.Spec.Tag, m.Spec.ServerImage(), m.Spec.ProxyImage(), version.Get().Version)
		}
	}
	m, err := Resolve(ResolveOptions{Sets: []string{"tag=1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.ProxyImage() != "ghcr.io/meshctl/proxy:1.2.3" || m.InjectConfig().InitImage != "ghcr.io/meshctl/meshctl:1.2.3" {
		t.Errorf("--set tag lost: %s %s", m.Spec.ProxyImage(), m.InjectConfig().InitImage)
	}
}
