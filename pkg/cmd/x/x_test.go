package x

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cmd/kubeinject"
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

// The command gives back the input of kube-inject byte for byte: quoted
// scalars, flow maps with comments, and no final newline where there was
// none.
func TestUninjectGivesBackTrickyInputByteForByte(t *testing.T) {
	for _, name := range []string{"tricky", "overrides", "kubectl-list"} {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile("../../../testdata/inject/" + name + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			injected := filepath.Join(t.TempDir(), "injected.yaml")
			streams, _, _, errOut := iostreams.Test()
			inj := kubeinject.NewCmdKubeInject(cmdutil.NewFactory(streams))
			inj.SetArgs([]string{"-f", "../../../testdata/inject/" + name + ".yaml", "--profile", "default", "-o", injected})
			if err := inj.Execute(); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			streams, _, out, errOut := iostreams.Test()
			cmd := NewCmdX(cmdutil.NewFactory(streams))
			cmd.SetArgs([]string{"uninject", "-f", injected})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if out.String() != string(want) {
				t.Errorf("uninject did not give back %s.yaml byte for byte:\n%q\nwant\n%q", name, tail(out.String()), tail(string(want)))
			}
		})
	}
}

func tail(s string) string { return s[max(0, len(s)-200):] }

func TestUninjectNeedsInput(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	cmd := NewCmdX(cmdutil.NewFactory(streams))
	cmd.SetArgs([]string{"uninject"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("uninject without -f succeeded")
	}
}
