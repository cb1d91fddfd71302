package analyze

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// The IST to MSH table lists every istioctl code once, in order; each row
// names existing MSH codes or says why there are none; the published doc is
// the table.
func TestIstioCodeTable(t *testing.T) {
	prev := ""
	for _, ic := range IstioCodes {
		if !regexp.MustCompile(`^IST\d{4}$`).MatchString(ic.Code) || ic.Code <= prev {
			t.Errorf("%s: codes must be IST + 4 digits, unique and ascending (after %s)", ic.Code, prev)
		}
		prev = ic.Code
		if len(ic.MSH) == 0 && ic.Note == "" {
			t.Errorf("%s: neither an MSH code nor a reason", ic.Code)
		}
		for _, c := range ic.MSH {
			if ByCode(c) == nil {
				t.Errorf("%s maps to %s, which is no analyzer", ic.Code, c)
			}
		}
	}
	doc := filepath.Join(testdata, "..", "docs", "analyze-istio-codes.md")
	want := IstioCodesMarkdown()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(doc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date: UPDATE_GOLDEN=1 go test ./pkg/analyze -run TestIstioCodeTable", doc)
	}
	// IST0101…IST0175 as the issue lists them, each in one row.
	for _, ic := range IstioCodes {
		if n := strings.Count(string(got), "| "+ic.Code+" |"); n != 1 {
			t.Errorf("%s appears %d times in the doc", ic.Code, n)
		}
	}
	for _, c := range []string{"IST0101", "IST0173", "IST0174", "IST0175"} {
		if _, ok := istioCodes(c); !ok {
			t.Errorf("%s missing from the table", c)
		}
	}
}

// Suppressions written for istioctl keep working.
func TestSuppressIstioCode(t *testing.T) {
	store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/MSH0101/positive.yaml")...)
	for _, s := range []string{"IST0101=VirtualService default/*", "ist01*=*"} {
		sup, err := ParseSuppression(s)
		if err != nil {
			t.Fatal(err)
		}
		if res := Analyze(store, errs, Options{Suppressions: []Suppression{sup}}); len(res.Findings) != 0 {
			t.Errorf("%s should suppress MSH0101, got %v", s, res.Findings)
		}
	}
	for s, want := range map[string]int{"IST0102=*": 1, "IST0128=*": 1} { // other checks; one meshctl lacks
		sup, err := ParseSuppression(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if res := Analyze(store, errs, Options{Suppressions: []Suppression{sup}}); len(res.Findings) != want {
			t.Errorf("%s: %d findings, want %d", s, len(res.Findings), want)
		}
	}
	if _, err := ParseSuppression("IST9999=*"); err == nil || !strings.Contains(err.Error(), "analyze-istio-codes.md") {
		t.Errorf("an unknown IST code must be refused with a pointer to the table: %v", err)
	}
	vs := store.Get(config.KindVirtualService, "default", "reviews")
	vs.Annotations = map[string]string{vocab.IstioAnnotationAnalyzeSuppress: "IST0101"}
	if res := Analyze(store, errs, Options{}); len(res.Findings) != 0 {
		t.Errorf("galley.istio.io/analyze-suppress: IST0101 should suppress: %v", res.Findings)
	}
}
