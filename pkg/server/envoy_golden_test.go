package server

import (
	"os"
	"path/filepath"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/translate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// TestEnvoyViewsMatchGoldenPath: for every Envoy client of the translation
// goldens (testdata/server), the view the server assembles from its pieces,
// after the config arrived as events into a live store that started empty,
// holds exactly what the pure path (translate.Build, then generate.Sidecar
// or generate.Gateway, which the goldens pin down) gives.
func TestEnvoyViewsMatchGoldenPath(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/server/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "views.yaml"))
		if os.IsNotExist(err) {
			continue // gRPC clients only
		}
		if err != nil {
			t.Fatal(err)
		}
		var views []struct{ Name, Kind, Namespace, Workload string }
		if err := yaml.Unmarshal(data, &views); err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, "in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			rs, errs := config.Parse("in.yaml", in)
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			config.DefaultNamespace(rs, "default")
			p := &Pusher{Log: logr.Discard()}
			p.Views = transport.NewViews(p.Populate, nil)
			live := config.NewLiveStore()
			p.Update(live.Snapshot())
			held := map[string]*transport.View{}
			for _, v := range views {
				kind := map[string]string{"sidecar": "sidecar", "gateway": "router"}[v.Kind]
				if kind == "" {
					continue
				}
				held[v.Name] = p.Views.Ensure(&core.Node{Id: kind + "~10.0.0.1~" + v.Workload + "." + v.Namespace + "~" + v.Namespace + ".svc.cluster.local"})
			}
			live.Put(rs...)
			p.Update(live.Snapshot())
			index := translate.NewIndex(translate.Input{Store: config.NewStoreFrom(rs)})
			for _, v := range views {
				view := held[v.Name]
				if view == nil {
					continue
				}
				cfg := index.Build(translate.View{Namespace: v.Namespace, Workload: v.Workload, Gateway: v.Kind == "gateway"})
				want, _ := generate.Sidecar(cfg, sidecarPorts)
				if v.Kind == "gateway" {
					want, _ = generate.Gateway(cfg)
				}
				got := view.Resources()
				for _, typ := range generate.Types {
					for name, m := range want[typ] {
						if g, ok := got[typ][name]; !ok || !proto.Equal(g, m) {
							t.Errorf("%s: %s %s differs from the golden path (held: %v)", v.Name, generate.ShortType(typ), name, ok)
						}
					}
					for name := range got[typ] {
						if _, ok := want[typ][name]; !ok {
							t.Errorf("%s: %s %s is not in the golden path", v.Name, generate.ShortType(typ), name)
						}
					}
				}
			}
		})
	}
}

// TestRegeneratedListenerIsEqual: the inbound listener of a workload with
// several AuthorizationPolicies (RBAC policies are a map), generated twice
// from the same IR, is proto.Equal, which is how a view decides what to
// send again. (Packed without deterministic marshalling, the map's random
// order made one in four differ.)
func TestRegeneratedListenerIsEqual(t *testing.T) {
	in, err := os.ReadFile("../../testdata/server/authz/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := config.Parse("in.yaml", in)
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	config.DefaultNamespace(rs, "default")
	x := translate.NewIndex(translate.Input{Store: config.NewStoreFrom(rs)})
	var w *translate.WorkloadPart
	for _, r := range rs {
		if r.Kind == config.KindPod {
			if w = x.Workload(translate.View{Namespace: r.Namespace, Workload: r.Name}); len(w.Inbound.Authorization) > 1 {
				break
			}
		}
	}
	if w == nil || len(w.Inbound.Authorization) < 2 {
		t.Fatal("no workload of testdata/server/authz has two AuthorizationPolicies")
	}
	first, _ := generate.SidecarInbound(w.Inbound, sidecarPorts)
	for range 50 {
		again, _ := generate.SidecarInbound(w.Inbound, sidecarPorts)
		if !proto.Equal(first[generate.ListenerType][generate.VirtualInboundListener], again[generate.ListenerType][generate.VirtualInboundListener]) {
			t.Fatal("the same inbound listener generated twice is not proto.Equal: it would be sent again")
		}
	}
}
