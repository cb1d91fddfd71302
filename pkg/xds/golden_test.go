package xds_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/translate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/server")

const goldenDir = "../../testdata/server"

// loadCase reads testdata/server/<name>/in.yaml into a store.
func loadCase(t *testing.T, dir string) *config.Store {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := config.Parse(filepath.Join(dir, "in.yaml"), data)
	for _, e := range errs {
		t.Fatalf("%s: %v", dir, e)
	}
	config.DefaultNamespace(rs, "default")
	return config.NewStoreFrom(rs)
}

// TestGolden runs both stages on every case: in.yaml → ir.yaml (what the
// config means) → grpc.yaml (what a proxyless gRPC client receives, after
// Validate()).
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases in %s: %v", goldenDir, err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			store := loadCase(t, dir)
			cfg := translate.Build(translate.Input{Store: store}, translate.View{Namespace: "default"})
			irYAML, err := yaml.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "ir.yaml"), irYAML)

			res, problems := generate.GRPC(cfg)
			for _, p := range problems {
				t.Errorf("generated resource fails validation: %s", p)
			}
			golden(t, filepath.Join(dir, "grpc.yaml"), resourcesYAML(t, res))
		})
	}
}

// resourcesYAML prints resources by type and name, as protojson turned into YAML.
func resourcesYAML(t *testing.T, res generate.Resources) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, typ := range generate.Types {
		names := res.Names(typ)
		if len(names) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", generate.ShortType(typ))
		for _, n := range names {
			js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(res[typ][n])
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(js)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "- # %s\n", n)
			for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
				fmt.Fprintf(&b, "  %s\n", line)
			}
		}
	}
	return b.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/xds -run TestGolden -update creates it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (go test ./pkg/xds -run TestGolden -update rewrites it); got:\n%s", path, got)
	}
}
