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

// TestGolden runs both stages on every case: in.yaml → <view>.ir.yaml (what the
// config means for a client) → <view>.xds.yaml (what it receives, after
// Validate()), for each client of views.yaml.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases in %s: %v", goldenDir, err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			store := loadCase(t, dir)
			index := translate.NewIndex(translate.Input{Store: store})
			for _, v := range loadViews(t, dir) {
				cfg := index.Build(translate.View{Namespace: v.Namespace, Workload: v.Workload, Gateway: v.Kind == "gateway", Servers: v.Kind == "grpc"})
				irYAML, err := yaml.Marshal(cfg)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join(dir, v.Name+".ir.yaml"), irYAML)

				var res generate.Resources
				var problems []generate.Problem
				switch v.Kind {
				case "grpc":
					res, problems = generate.GRPC(cfg)
				case "sidecar":
					res, problems = generate.Sidecar(cfg, generate.Ports{Outbound: 15001, Inbound: 15006})
				case "gateway":
					res, problems = generate.Gateway(cfg)
				default:
					t.Fatalf("%s/views.yaml: unknown kind %q (grpc, sidecar, gateway)", dir, v.Kind)
				}
				// Config a client cannot be sent as written is part of the
				// golden output; a resource failing validation never is.
				var notes bytes.Buffer
				for _, p := range problems {
					if p.Object == "" {
						t.Errorf("%s: generated resource fails validation: %s", v.Name, p)
					} else {
						fmt.Fprintf(&notes, "# problem: %s\n", p)
					}
				}
				golden(t, filepath.Join(dir, v.Name+".xds.yaml"), append(notes.Bytes(), resourcesYAML(t, res)...))
			}
		})
	}
}

type caseView struct {
	Name, Kind, Namespace, Workload string
}

// loadViews reads views.yaml: the clients a case is translated for; without
// it, the gRPC clients of namespace default.
func loadViews(t *testing.T, dir string) []caseView {
	data, err := os.ReadFile(filepath.Join(dir, "views.yaml"))
	if os.IsNotExist(err) {
		return []caseView{{Name: "grpc", Kind: "grpc", Namespace: "default"}}
	}
	if err != nil {
		t.Fatal(err)
	}
	var vs []caseView
	if err := yaml.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s/views.yaml: %v", dir, err)
	}
	return vs
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
