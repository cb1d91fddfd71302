package server

import (
	"fmt"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/go-logr/logr"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// BenchmarkOneEventInto100Sidecars: 100 Envoy sidecars (two in each of 50
// namespaces) of a mesh of 500 services with 4 endpoints each; one
// VirtualService changes. The cost of publishing it to every sidecar's view.
func BenchmarkOneEventInto100Sidecars(b *testing.B) {
	rs := bigMesh(b, 500, 4, 50)
	p := &Pusher{Log: logr.Discard()}
	p.Views = transport.NewViews(p.Populate, nil)
	live := config.NewLiveStore()
	live.Put(rs...)
	p.Update(live.Snapshot())
	for i := range 100 {
		ns := fmt.Sprintf("ns-%d", i%50)
		pod := fmt.Sprintf("svc-%d-0", i)
		p.Views.Ensure(&core.Node{Id: "sidecar~10.0.0.1~" + pod + "." + ns + "~" + ns + ".svc.cluster.local"})
	}
	turns := changeAndBack(b, rs)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		live.Put(turns[i%2])
		p.Update(live.Snapshot())
	}
}
