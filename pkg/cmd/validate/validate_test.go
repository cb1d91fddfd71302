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
		`Error -:16: DestinationRule default/reviews: unknown field "subsetz"`,
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
