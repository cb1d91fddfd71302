package validate

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func run(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	streams, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	cmd := NewCmdValidate(cmdutil.NewFactory(streams))
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.WithExitCode(cmdutil.ExitUsage, err) })
	err := cmd.Execute()
	return cmdutil.ExitCode(err), out.String() + errOut.String()
}

func TestValidateBookinfo(t *testing.T) {
	code, out := run(t, "", "-R", "-f", "../../../testdata/bookinfo")
	if code != 0 || !strings.Contains(out, "✔ Validation succeeded") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestValidateReportsFileAndLine(t *testing.T) {
	in := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 120
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsetz: []
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings}}]
    mirror: {host: ratings}
    mirrorPercent: 5
`
	code, out := run(t, in, "-f", "-")
	if code != cmdutil.ExitDataErr {
		t.Fatalf("exit %d, want %d:\n%s", code, cmdutil.ExitDataErr, out)
	}
	for _, want := range []string{
		"Error -:9: VirtualService default/reviews: spec.http[0].route[0].weight: weight 120 is out of range; use 0-100",
		`Error -:16: DestinationRule default/reviews: spec.subsetz: unknown field "subsetz" in DestinationRule; did you mean subsets?`,
		"Warning -:26: VirtualService default/ratings: spec.http[0].mirrorPercent: field mirrorPercent is deprecated",
		"✘ Validation failed: 2 error(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, out := run(t, in, "-o", "json", "-f", "-"); code != cmdutil.ExitDataErr || !strings.Contains(out, `"exitCode": 65`) {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
	if code, _ := run(t, ""); code != cmdutil.ExitUsage {
		t.Errorf("no input: exit %d", code)
	}
}

// The inputs of issue 14, whose errors were raw protojson messages pointing
// at spec:, each get the path and line of the field, what was expected and a
// did-you-mean; all errors of an object are reported.
func TestValidateSchemaErrorsNameFieldAndLine(t *testing.T) {
	in := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: reviews
  http:
  - route:
    - destination: {host: reviews, subsett: v1}
      weight: 50
    - destination: {host: reviews, subset: v2}
      weight: fifty
    timeout: 5x
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTAL}
`
	code, out := run(t, in, "-f", "-")
	if code != cmdutil.ExitDataErr {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		`Error -:5: VirtualService default/reviews: spec.hosts: expected a list of strings, got "reviews"; write it as a list: [reviews]`,
		`Error -:8: VirtualService default/reviews: spec.http[0].route[0].destination.subsett: unknown field "subsett" in Destination; did you mean subset?`,
		`Error -:11: VirtualService default/reviews: spec.http[0].route[1].weight: expected an integer (32-bit), got "fifty"`,
		`Error -:12: VirtualService default/reviews: spec.http[0].timeout: expected a duration in seconds with an s suffix`,
		`Error -:20: DestinationRule default/reviews: spec.trafficPolicy.tls.mode: invalid value "ISTIO_MUTAL": expected one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL; did you mean ISTIO_MUTUAL?`,
		"✘ Validation failed: 5 error(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, raw := range []string{"syntax error", "(line 1:", "google.protobuf.Duration", "int32 field"} {
		if strings.Contains(out, raw) {
			t.Errorf("output still has protojson's %q:\n%s", raw, out)
		}
	}
	if code, out := run(t, in, "-o", "json", "-f", "-"); code != cmdutil.ExitDataErr || !strings.Contains(out, `"field": "spec.http[0].route[1].weight"`) {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
}

func TestValidateIstioSamples(t *testing.T) {
	code, out := run(t, "", "-R", "-f", "../../../testdata/upstream/istio")
	if code != 0 || !strings.Contains(out, "✔ Validation succeeded") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
