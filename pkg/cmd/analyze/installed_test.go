package analyze

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/install"
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

// The mesh-wide PeerAuthentication that a STRICT or DISABLE mode installs is
// part of the installed objects, in the mesh (root) namespace.
func TestInstalledKeepsTheMeshPeerAuthentication(t *testing.T) {
	for mode, want := range map[string]int{"PERMISSIVE": 0, "STRICT": 1} {
		mi, err := profiles.Resolve(profiles.ResolveOptions{Profile: "minimal", MeshNamespace: "mesh-q", Sets: []string{"meshConfig.mtls.mode=" + mode}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := install.Render(mi)
		if err != nil {
			t.Fatal(err)
		}
		data, err := installedJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		rs, errs := config.Parse("installed", data)
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		got := 0
		for _, r := range rs {
			if r.Kind == config.KindPeerAuthentication {
				got++
				if r.Namespace != "mesh-q" || r.Name != "default" {
					t.Errorf("%s: want mesh-q/default", r.Key())
				}
			}
		}
		if got != want {
			t.Errorf("mode %s: %d PeerAuthentications in the installed objects, want %d", mode, got, want)
		}
	}
}
