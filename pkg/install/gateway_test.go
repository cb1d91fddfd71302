package install

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// TestGatewaysCarryTheSidecarsAgentSetup: every rendered gateway's proxy has
// what the injector gives a sidecar's proxy (checked against a real
// injection with the install's config): the same environment, mounts and
// volumes, with the install's trust domain and discovery address, and runs
// the agent as a router.
func TestGatewaysCarryTheSidecarsAgentSetup(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "demo", Sets: []string{
		"meshConfig.trustDomain=example.org", "components.egressGateways[0].env.EXTRA=1",
	}})
	cfg := m.Spec.InjectConfig()
	app := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	res, err := inject.Inject(inject.Workload{Kind: "Deployment", Name: "app", Namespace: "shop"}, app, cfg)
	if err != nil || res.Template == nil {
		t.Fatalf("injecting a reference pod: %v %v", res.Action, err)
	}
	var sidecar corev1.Container
	for _, c := range res.Template.Spec.Containers {
		if c.Name == vocab.ProxyContainerName {
			sidecar = c
		}
	}
	// What depends on the app's own containers, or names the workload.
	perWorkload := map[string]bool{vocab.EnvWorkloadName: true, vocab.EnvAppContainers: true, vocab.EnvPodPorts: true, vocab.EnvAppProbers: true, vocab.EnvPrometheusScrape: true}
	want := map[string]corev1.EnvVar{}
	for _, e := range sidecar.Env {
		if !perWorkload[e.Name] {
			want[e.Name] = e
		}
	}
	if want[vocab.EnvTrustDomain].Value != "example.org" || want[vocab.EnvDiscoveryAddress].Value == "" {
		t.Fatalf("reference sidecar lacks the install's settings: %v", sidecar.Env)
	}
	wantVolumes := map[string]corev1.Volume{}
	for _, v := range res.Template.Spec.Volumes {
		wantVolumes[v.Name] = v
	}

	gateways := 0
	for _, comp := range []string{vocab.ComponentIngressGateway, vocab.ComponentEgressGateway} {
		for _, o := range m.Component(comp).Objects {
			if o.GetKind() != "Deployment" {
				continue
			}
			gateways++
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
			var proxy *corev1.Container
			for i := range d.Spec.Template.Spec.Containers {
				if d.Spec.Template.Spec.Containers[i].Name == vocab.ProxyContainerName {
					proxy = &d.Spec.Template.Spec.Containers[i]
				}
			}
			if proxy == nil {
				t.Fatalf("%s: no %s container", d.Name, vocab.ProxyContainerName)
			}
			if got := proxy.Args; len(got) != 3 || got[0] != "agent" || got[1] != "proxy" || got[2] != "router" {
				t.Errorf("%s: args %v, want agent proxy router", d.Name, got)
			}
			got := map[string]corev1.EnvVar{}
			for _, e := range proxy.Env {
				if _, dup := got[e.Name]; dup {
					t.Errorf("%s: env %s twice", d.Name, e.Name)
				}
				got[e.Name] = e
			}
			for name, e := range want {
				if !equality.Semantic.DeepEqual(got[name], e) {
					t.Errorf("%s: env %s = %+v, the sidecar has %+v", d.Name, name, got[name], e)
				}
			}
			if got[vocab.EnvWorkloadName].Value != d.Name {
				t.Errorf("%s: %s = %q", d.Name, vocab.EnvWorkloadName, got[vocab.EnvWorkloadName].Value)
			}
			if comp == vocab.ComponentEgressGateway && got["EXTRA"].Value != "1" {
				t.Errorf("%s: the spec's own env is lost: %v", d.Name, proxy.Env)
			}
			if !equality.Semantic.DeepEqual(proxy.VolumeMounts, sidecar.VolumeMounts) {
				t.Errorf("%s: mounts %v, the sidecar has %v", d.Name, proxy.VolumeMounts, sidecar.VolumeMounts)
			}
			for _, m := range proxy.VolumeMounts {
				var found bool
				for _, v := range d.Spec.Template.Spec.Volumes {
					if v.Name == m.Name {
						found = true
						if !equality.Semantic.DeepEqual(v, wantVolumes[v.Name]) {
							t.Errorf("%s: volume %s = %+v, the sidecar's is %+v", d.Name, v.Name, v, wantVolumes[v.Name])
						}
					}
				}
				if !found {
					t.Errorf("%s: mount %s has no volume", d.Name, m.Name)
				}
			}
			if sc := proxy.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsUser == nil || *sc.RunAsUser != vocab.ProxyUID {
				t.Errorf("%s: security context %+v", d.Name, sc)
			}
		}
	}
	if gateways < 2 {
		t.Fatalf("demo renders %d gateway Deployments, want ingress and egress", gateways)
	}
}

// TestGatewaySpecEnvWinsOverTheAgents: a gateway's own env replaces the
// agent's entry of the same name (one entry, the spec's value) and adds the
// others, in the order the two strategic-merge patches it replaced gave:
// the spec's entries first.
func TestGatewaySpecEnvWinsOverTheAgents(t *testing.T) {
	m := renderProfile(t, profiles.ResolveOptions{Profile: "demo", Sets: []string{
		"components.egressGateways[0].env." + vocab.EnvLogLevel + "=debug", "components.egressGateways[0].env.EXTRA=1",
	}})
	var env []corev1.EnvVar
	for _, o := range m.Component(vocab.ComponentEgressGateway).Objects {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatal(err)
		}
		env = d.Spec.Template.Spec.Containers[0].Env
	}
	if len(env) < 4 {
		t.Fatalf("egress gateway env %v", env)
	}
	if env[0].Name != "EXTRA" || env[0].Value != "1" || env[1].Name != vocab.EnvLogLevel || env[1].Value != "debug" {
		t.Errorf("the spec's env does not come first with its values: %v", env[:2])
	}
	seen := map[string]int{}
	for _, e := range env {
		seen[e.Name]++
	}
	if seen[vocab.EnvLogLevel] != 1 || seen[vocab.EnvTrustDomain] != 1 {
		t.Errorf("entries %v, want MESH_LOG_LEVEL once and the agent's others kept", seen)
	}
}
