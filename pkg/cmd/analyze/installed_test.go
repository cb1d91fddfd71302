package analyze

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

var update = flag.Bool("update", false, "rewrite installed/ from the profiles")

// The embedded objects of each profile are what rendering it gives now, and
// there is one file per built-in profile, no more.
func TestInstalledMatchesRender(t *testing.T) {
	want := map[string]bool{}
	for _, name := range profiles.Names() {
		f := installedFile(name)
		want[f] = true
		got, err := renderInstalled(name, vocab.DefaultMeshNamespace)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(filepath.FromSlash(f), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		embedded, err := installedDir.ReadFile(f)
		if err != nil || !bytes.Equal(embedded, got) {
			t.Errorf("%s is not what profile %s renders to now; run go test ./pkg/cmd/analyze -run TestInstalledMatchesRender -update", f, name)
		}
	}
	if *update {
		return
	}
	files, _ := fs.Glob(installedDir, "installed/*")
	for _, f := range files {
		if !want[f] {
			t.Errorf("%s is no built-in profile's; remove it", f)
		}
	}
}

// Another mesh namespace is rendered, not taken from the embedded files.
func TestInstalledOtherMeshNamespace(t *testing.T) {
	rs, err := installedObjects("default", "other-mesh")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("no objects")
	}
	for _, r := range rs {
		if r.Namespace != "" && r.Namespace != "other-mesh" {
			t.Errorf("%s is in namespace %s, want other-mesh", r.Key(), r.Namespace)
		}
	}
}
