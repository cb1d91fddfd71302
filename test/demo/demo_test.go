// Package demo checks that what `make demo` announces is what the config it
// applies does: the demo is read by newcomers as the reference use.
package demo

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

const root = "../.."

// applies returns, per `kubectl apply` command of hack/demo.sh, the files it
// applies and the step title announced before it.
func applies(t *testing.T) (steps []string, files [][]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "hack/demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stepRE := regexp.MustCompile(`^step "(.*)"`)
	fileRE := regexp.MustCompile(`-f (testdata/\S+)`)
	var step, cmd string
	flush := func() {
		if strings.Contains(cmd, "kubectl apply") {
			var fs []string
			for _, m := range fileRE.FindAllStringSubmatch(cmd, -1) {
				fs = append(fs, m[1])
			}
			if len(fs) > 0 {
				steps, files = append(steps, step), append(files, fs)
			}
		}
		cmd = ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := stepRE.FindStringSubmatch(line); m != nil {
			step = m[1]
		}
		cmd += line
		if strings.HasSuffix(line, `\`) {
			continue
		}
		flush()
	}
	return steps, files
}

func parse(t *testing.T, file string) []*config.Resource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := config.Parse(file, data)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", file, errs[0])
	}
	return rs
}

// One apply of two files that define the same object keeps only the last:
// the step would announce routing the cluster never gets.
func TestNoApplyDefinesAnObjectTwice(t *testing.T) {
	steps, files := applies(t)
	if len(files) == 0 {
		t.Fatal("no kubectl apply -f testdata/... found in hack/demo.sh")
	}
	for i, fs := range files {
		seen := map[string]string{}
		for _, f := range fs {
			for _, r := range parse(t, f) {
				k := r.Key().String()
				if prev, dup := seen[k]; dup {
					t.Errorf("step %q applies %s from %s and again from %s: only the last one counts", steps[i], k, prev, f)
				}
				seen[k] = f
			}
		}
	}
}

// After every apply of the demo, reviews routes as announced: end-user
// jason to v2, everyone else 90/10 between v1 and v3.
func TestDemoRoutesReviewsAsAnnounced(t *testing.T) {
	_, files := applies(t)
	final := map[string]*config.Resource{}
	for _, fs := range files {
		for _, f := range fs {
			for _, r := range parse(t, f) {
				final[r.Key().String()] = r
			}
		}
	}
	var vs *networking.VirtualService
	for _, r := range final {
		if r.Kind == config.KindVirtualService && r.Name == "reviews" {
			vs, _ = r.Spec.(*networking.VirtualService)
		}
	}
	if vs == nil {
		t.Fatal("the demo applies no VirtualService reviews")
	}
	if len(vs.Http) != 2 {
		t.Fatalf("reviews has %d http routes, want the jason match then the split", len(vs.Http))
	}
	jason := vs.Http[0]
	if len(jason.Match) != 1 || jason.Match[0].Headers["end-user"].GetExact() != "jason" ||
		len(jason.Route) != 1 || jason.Route[0].Destination.Subset != "v2" {
		t.Errorf("first reviews route is not end-user: jason → v2: %v", jason)
	}
	weights := map[string]int32{}
	for _, d := range vs.Http[1].Route {
		weights[d.Destination.Subset] = d.Weight
	}
	if len(vs.Http[1].Match) != 0 || len(weights) != 2 || weights["v1"] != 90 || weights["v3"] != 10 {
		t.Errorf("default reviews route is not 90/10 v1/v3: match %v weights %v", vs.Http[1].Match, weights)
	}
}
