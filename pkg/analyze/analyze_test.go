package analyze

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
)

const testdata = "../../testdata"

var bookinfoFiles = []string{"bookinfo/bookinfo.yaml", "bookinfo/mesh.yaml", "bookinfo/gateway.yaml", "bookinfo/destination-rules.yaml"}

// load parses files named relative to testdata, with origins relative to it
// too, and defaults namespaces to "default" as kubectl apply would.
func load(t testing.TB, files ...string) (*config.Store, []*config.ParseError) {
	t.Helper()
	var all []*config.Resource
	var errs []*config.ParseError
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(testdata, f))
		if err != nil {
			t.Fatal(err)
		}
		rs, es := config.Parse(filepath.Base(f), data)
		all = append(all, rs...)
		errs = append(errs, es...)
	}
	config.DefaultNamespace(all, "default")
	config.DefaultNamespaceErrors(errs, "default")
	return config.NewStoreFrom(all), errs
}

func lines(fs []Finding, code string) []string {
	var out []string
	for _, f := range fs {
		if code == "" || f.Code == code {
			out = append(out, f.String())
		}
	}
	return out
}

func TestBookinfoAnalyzesClean(t *testing.T) {
	routes, _ := filepath.Glob(filepath.Join(testdata, "bookinfo/routes/*.yaml"))
	if len(routes) < 5 {
		t.Fatalf("expected the seeds' route scenarios under testdata/bookinfo/routes, got %v", routes)
	}
	for _, r := range routes {
		name := "bookinfo/routes/" + filepath.Base(r)
		t.Run(filepath.Base(r), func(t *testing.T) {
			store, errs := load(t, append(append([]string{}, bookinfoFiles...), name)...)
			res := Analyze(store, errs, Options{})
			if got := lines(res.Findings, ""); len(got) > 0 {
				t.Fatalf("bookinfo with %s should analyze clean, got:\n%s", name, strings.Join(got, "\n"))
			}
		})
	}
}

// TestAnalyzers runs every analyzer's cases: testdata/analyze/CODE/positive.yaml
// must produce exactly the findings of that code listed in expected.txt, and
// negative.yaml none of that code. Both are analyzed on top of bookinfo.
func TestAnalyzers(t *testing.T) {
	for _, a := range All() {
		t.Run(a.Code+"_"+a.Name, func(t *testing.T) {
			dir := filepath.Join("analyze", a.Code)
			want, err := os.ReadFile(filepath.Join(testdata, dir, "expected.txt"))
			if err != nil {
				t.Fatalf("every analyzer needs a positive case with expected findings: %v", err)
			}
			for _, c := range []string{"positive.yaml", "negative.yaml"} {
				store, errs := load(t, append(append([]string{}, bookinfoFiles...), filepath.Join(dir, c))...)
				// bookinfo plays the cluster; file-only semantics have their own tests.
				res := Analyze(store, errs, Options{Cluster: true})
				got := lines(res.Findings, a.Code)
				if a.Code != codeParse && a.Code != codeSchema {
					// A case that does not parse would test nothing.
					if bad := append(lines(res.Findings, codeParse), lines(res.Findings, codeSchema)...); len(bad) > 0 {
						t.Fatalf("%s does not parse cleanly:\n%s", c, strings.Join(bad, "\n"))
					}
				}
				if c == "negative.yaml" {
					if len(got) > 0 {
						t.Errorf("%s: want no %s findings, got:\n%s", c, a.Code, strings.Join(got, "\n"))
					}
					continue
				}
				var exp []string
				for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
					if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
						exp = append(exp, l)
					}
				}
				sort.Strings(exp)
				sort.Strings(got)
				if len(exp) == 0 && os.Getenv("UPDATE_GOLDEN") == "" {
					t.Fatalf("expected.txt of %s lists no finding", a.Code)
				}
				if os.Getenv("UPDATE_GOLDEN") != "" {
					// Regenerate after a deliberate message change; review the diff.
					if err := os.WriteFile(filepath.Join(testdata, dir, "expected.txt"), []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if strings.Join(got, "\n") != strings.Join(exp, "\n") {
					t.Errorf("%s findings:\n got:\n%s\nwant:\n%s", c, strings.Join(got, "\n"), strings.Join(exp, "\n"))
				}
			}
		})
	}
}
