package x

import (
	"os"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func TestUninjectRestoresBookinfo(t *testing.T) {
	streams, _, out, errOut := iostreams.Test()
	cmd := NewCmdX(cmdutil.NewFactory(streams))
	cmd.SetArgs([]string{"uninject", "-f", "../../../testdata/inject/bookinfo.golden.yaml"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want, err := os.ReadFile("../../../testdata/inject/bookinfo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("uninject did not restore bookinfo.yaml byte for byte")
	}
	if got := errOut.String(); !strings.Contains(got, `deployment "reviews-v2" uninjected`) || !strings.Contains(got, `service "reviews" skipped`) {
		t.Errorf("report:\n%s", got)
	}
}

func TestUninjectNeedsInput(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	cmd := NewCmdX(cmdutil.NewFactory(streams))
	cmd.SetArgs([]string{"uninject"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("uninject without -f succeeded")
	}
}
