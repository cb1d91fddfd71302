package meshconfig

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

func TestParseKeepsDefaultsForWhatIsLeftOut(t *testing.T) {
	mc, err := Parse([]byte("accessLogFile: /dev/stdout\n"), "mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.AccessLogFile = "/dev/stdout"
	if !Equal(mc, want) {
		t.Errorf("got %v, want %v", mc, want)
	}
	empty, err := Parse(nil, "empty")
	if err != nil || !Equal(empty, Default()) {
		t.Errorf("an empty config is the default: %v %v", empty, err)
	}
}

func TestParseAcceptsIstioSpellings(t *testing.T) {
	in := `
trust_domain: example.org
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
enablePrometheusMerge: false
connectTimeout: 5s
defaultConfig:
  discoveryAddress: cp.example.org:15012
  concurrency: 4
  proxyMetadata:
    A: "1"
  tracing:
    sampling: 2.5
    zipkin:
      address: zipkin.mesh:9411
extensionProviders:
- name: otel
  opentelemetry:
    service: otel.mesh.svc
    port: 4317
`
	mc, err := Parse([]byte(in), "mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if mc.TrustDomain != "example.org" || mc.GetOutboundTrafficPolicy().GetMode() != meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY ||
		mc.GetEnablePrometheusMerge().GetValue() || mc.GetConnectTimeout().AsDuration().Seconds() != 5 ||
		mc.GetDefaultConfig().GetConcurrency().GetValue() != 4 || mc.GetDefaultConfig().GetProxyMetadata()["A"] != "1" ||
		mc.GetDefaultConfig().GetTracing().GetZipkin().GetAddress() != "zipkin.mesh:9411" ||
		mc.GetExtensionProviders()[0].GetOpentelemetry().GetPort() != 4317 {
		t.Errorf("not read as written: %v", mc)
	}
	if mc.RootNamespace != "mesh-system" {
		t.Errorf("rootNamespace default lost: %q", mc.RootNamespace)
	}
}

func TestParseErrorsNameFileLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"trustDomian: x\n", `mesh.yaml:1: unknown field "trustDomian": did you mean "trustDomain"?`},
		{"defaultConfig:\n  tracing:\n    sampling: 1\n    zipkn: {}\n", `mesh.yaml:4: unknown field "defaultConfig.tracing.zipkn": did you mean "zipkin"?`},
		{"outboundTrafficPolicy:\n  mode: ALLOW_ANYY\n", `mesh.yaml:2: outboundTrafficPolicy.mode: "ALLOW_ANYY" is not one of REGISTRY_ONLY, ALLOW_ANY`},
		{"enableTracing: yes please\n", `mesh.yaml:1: enableTracing: "yes please" is not a boolean`},
		{"enablePrometheusMerge: 3\n", `mesh.yaml:1: enablePrometheusMerge: "3" is not a boolean`},
		{"defaultConfig:\n  concurrency: two\n", `mesh.yaml:2: defaultConfig.concurrency: "two" is not a whole number`},
		{"defaultConfig: [a]\n", `mesh.yaml:1: defaultConfig must be a mapping`},
		{"trustDomainAliases: a\n", `mesh.yaml:1: trustDomainAliases must be a list`},
		{"\n\nconnectTimeout: soon\n", `mesh.yaml:3: connectTimeout: "soon" is not a duration: write it as seconds with an s`},
		{"trustDomain: spiffe://x\n", `mesh.yaml:1: trustDomain: "spiffe://x" is not a trust domain`},
		{"trustDomain: ''\n", `mesh.yaml:1: trustDomain: must be set`},
		{"rootNamespace: Not_A_Namespace\n", `mesh.yaml:1: rootNamespace: "Not_A_Namespace" is not a namespace name`},
		{"defaultConfig:\n  tracing:\n    sampling: 101\n", `mesh.yaml:3: defaultConfig.tracing.sampling: 101 must be a percentage`},
		{"a: [\n", `mesh.yaml: not a mesh config: yaml: line`},
		{"a: 1\n---\nb: 2\n", `mesh.yaml:2: only one mesh config document`},
		{"- a\n", `mesh.yaml:1: the mesh config must be a mapping`},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.in), "mesh.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseFileReadsTheConfigMapKeyWithFileLines(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh\ndata:\n  mesh: |\n    trustDomain: example.org\n    accessLogFil: x\n"
	_, err := ParseFile([]byte(cm), "cm.yaml")
	if err == nil || !strings.Contains(err.Error(), `cm.yaml:8: unknown field "accessLogFil"`) {
		t.Errorf("want the line in the file, got %v", err)
	}
	mc, err := ParseFile([]byte(strings.Replace(cm, "accessLogFil", "accessLogFile", 1)), "cm.yaml")
	if err != nil || mc.TrustDomain != "example.org" || mc.AccessLogFile != "x" {
		t.Errorf("got %v, %v", mc, err)
	}
	_, err = ParseFile([]byte("kind: ConfigMap\ndata:\n  other: x\n"), "cm.yaml")
	if err == nil || !strings.Contains(err.Error(), "no data.mesh key") {
		t.Errorf("a ConfigMap without the key: %v", err)
	}
	if _, ok, err := FromConfigMapData(map[string]string{"inject": "x"}, "configmap mesh-system/mesh"); ok || err != nil {
		t.Errorf("no mesh key: ok %v err %v", ok, err)
	}
	_, _, err = FromConfigMapData(map[string]string{"mesh": "trustDomain: [x]\n"}, "configmap mesh-system/mesh")
	if err == nil || !strings.Contains(err.Error(), "configmap mesh-system/mesh key mesh:1:") {
		t.Errorf("bad mesh key: %v", err)
	}
}

// A config survives Marshal and Parse unchanged, including fields whose
// zero value differs from their default.
func TestMarshalParseRoundTrip(t *testing.T) {
	mc := Default()
	mc.TrustDomain = "example.org"
	mc.OutboundTrafficPolicy.Mode = meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
	mc.EnablePrometheusMerge = wrapperspb.Bool(false)
	mc.AccessLogEncoding = meshv1alpha1.MeshConfig_JSON
	mc.ConnectTimeout = durationpb.New(5e9)
	mc.DefaultConfig = &meshv1alpha1.ProxyConfig{Tracing: &meshv1alpha1.Tracing{Sampling: 0.5}}
	b, err := Marshal(mc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "mode: REGISTRY_ONLY") {
		t.Errorf("the zero enum value was left out:\n%s", b)
	}
	back, err := Parse(b, "out")
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(back, mc) {
		t.Errorf("round trip changed the config:\n%s\ngot %v", b, back)
	}
	again, _ := Marshal(back)
	if string(again) != string(b) {
		t.Errorf("Marshal is not stable:\n%s\n---\n%s", b, again)
	}
	bad := Default()
	bad.TrustDomain = ""
	if _, err := Marshal(bad); err == nil {
		t.Errorf("Marshal wrote an invalid config")
	}
}
