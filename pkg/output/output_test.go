package output

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/iostreams"
)

func TestStatusLinesHonourColor(t *testing.T) {
	streams, _, out, errOut := iostreams.Test()
	p := New(streams)
	p.Success("Installation complete")
	p.Failure("Control plane not ready")
	p.Warning("addon %s disabled", "kiali")
	if got := errOut.String(); got != "✔ Installation complete\n✘ Control plane not ready\n! addon kiali disabled\n" {
		t.Fatalf("plain status lines %q", got)
	}
	if out.Len() != 0 {
		t.Fatalf("status lines on standard output: %q", out)
	}

	streams, _, _, errOut = iostreams.Test()
	streams.SetColorEnabled(true)
	New(streams).Success("ok")
	if !strings.Contains(errOut.String(), "\x1b[32m✔\x1b[0m ok") {
		t.Fatalf("colored output %q", errOut.String())
	}
}

func TestTableIsPlainAndAligned(t *testing.T) {
	streams, _, out, _ := iostreams.Test()
	err := New(streams).Table([]string{"NAME", "HOSTS"}, [][]string{{"reviews", "reviews"}, {"bookinfo-gateway", "*"}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || strings.ContainsAny(out.String(), "|+─│") {
		t.Fatalf("table:\n%s", out.String())
	}
	if strings.Index(lines[0], "HOSTS") != strings.Index(lines[2], "*") {
		t.Fatalf("columns not aligned:\n%s", out.String())
	}
}

func TestPrintData(t *testing.T) {
	var b strings.Builder
	if err := PrintData(&b, FormatJSON, map[string]int{"a": 1}); err != nil || b.String() != "{\n  \"a\": 1\n}\n" {
		t.Fatalf("json %q %v", b.String(), err)
	}
	b.Reset()
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}
	if err := PrintData(&b, FormatYAML, cm); err != nil || !strings.Contains(b.String(), "kind: ConfigMap") {
		t.Fatalf("yaml %q %v", b.String(), err)
	}
	if err := ValidateFormat("xml", FormatJSON, FormatYAML); err == nil {
		t.Fatal("xml accepted")
	}
}

func TestTableHasNoTrailingBlanks(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, []string{"A", "B"}, [][]string{{"x", "y"}}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasSuffix(l, " ") {
			t.Fatalf("trailing blank in %q", l)
		}
	}
}
