package analyze

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// TestKnownAnnotationsAreWhatTheInjectorReads is the other half of
// pkg/inject's TestEveryOverrideIsHonoured: every annotation the injector
// reads is known here, and a key under the same prefixes that it does not
// read is reported.
func TestKnownAnnotationsAreWhatTheInjectorReads(t *testing.T) {
	deployment := func(keys []string) *config.Store {
		var b strings.Builder
		b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tuned, namespace: default}\nspec:\n  selector: {matchLabels: {app: tuned}}\n  template:\n    metadata:\n      labels: {app: tuned}\n      annotations:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "        %s: \"x\"\n", k)
		}
		b.WriteString("    spec:\n      containers: [{name: app, image: app}]\n")
		rs, errs := config.Parse("tuned.yaml", []byte(b.String()))
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		return config.NewStoreFrom(rs)
	}
	known := vocab.PodAnnotations()
	res := Analyze(deployment(known), nil, Options{})
	if got := lines(res.Findings, "MSH0006"); len(got) > 0 {
		t.Errorf("annotations the injector reads are reported as unknown:\n%s", strings.Join(got, "\n"))
	}
	for _, o := range []vocab.Override{vocab.OverrideUserVolume, vocab.OverrideUserVolumeMount} {
		if !strings.Contains(strings.Join(known, " "), o.Keys()[0]) {
			t.Errorf("%s is honoured by the injector but not known", o)
		}
	}

	var unread []string
	for _, p := range vocab.OverridePrefixes {
		unread = append(unread, p+"notAnOverride")
	}
	// Istio annotations meshctl's injector does not honour.
	unread = append(unread, "sidecar.istio.io/bootstrapOverride", "sidecar.istio.io/statsInclusionPrefixes", "proxy.istio.io/overrides")
	res = Analyze(deployment(unread), nil, Options{})
	got := strings.Join(lines(res.Findings, "MSH0006"), "\n")
	for _, k := range unread {
		if !strings.Contains(got, fmt.Sprintf("%q", k)) {
			t.Errorf("%s is not read by the injector but not reported; MSH0006 findings:\n%s", k, got)
		}
	}
}
