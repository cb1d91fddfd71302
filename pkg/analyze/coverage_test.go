package analyze

import (
	"strings"
	"testing"
)

// Without a cluster and without any RequestAuthentication in the files, a
// missing one cannot be told from one the files leave out: MSH0111 says so
// at Info. Once the files hold RequestAuthentications, none applying to the
// gateway is an Error again.
func TestJWTClaimRouteFileOnly(t *testing.T) {
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{"analyze/MSH0111/positive.yaml"}, "Info [MSH0111]"},
		{[]string{"analyze/MSH0111/positive.yaml", "analyze/file-only/requestauthn-elsewhere.yaml"}, "Error [MSH0111]"},
	} {
		store, errs := load(t, append(append([]string{}, bookinfoFiles...), tc.files...)...)
		got := lines(Analyze(store, errs, Options{}).Findings, "MSH0111")
		if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%v: want one %s finding, got %q", tc.files, tc.want, got)
		}
	}
}

// MSH0009 knows a replacement for the deprecated annotation it reports; the
// replacement table must not name an annotation Istio does not deprecate.
func TestDeprecatedAnnotationsHaveReplacements(t *testing.T) {
	if _, ok := deprecatedAnnotations()["sidecar.istio.io/inject"]; !ok || len(deprecatedAnnotations()) != 1 {
		t.Errorf("deprecated annotations with a replacement meshctl reads: %v, want sidecar.istio.io/inject", deprecatedAnnotations())
	}
}
