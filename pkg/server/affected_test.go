package server

import (
	"reflect"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/generate"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// TestOnlyAffectedViewsChange: a change that only the clients of one
// namespace see (a Sidecar there narrows what they reach) leaves the view
// of another namespace holding the very same resources, while the
// affected view loses the hosts its Sidecar no longer allows.
func TestOnlyAffectedViewsChange(t *testing.T) {
	p := &Pusher{Log: logr.Discard()}
	p.Views = transport.NewViews(p.Populate, nil)
	node := func(ns string) *core.Node {
		md, _ := structpb.NewStruct(map[string]any{"GENERATOR": "grpc", "NAMESPACE": ns})
		return &core.Node{Id: "sidecar~10.0.0.1~c." + ns + "~" + ns + ".svc.cluster.local", Metadata: md}
	}
	live := config.NewLiveStore()
	live.Put(bigMesh(t, 4, 2, 50)...) // svc-i in ns-i
	p.Update(live.Snapshot())
	a, b := p.Views.Ensure(node("ns-0")), p.Views.Ensure(node("ns-1"))
	id := func(v *transport.View) uintptr { return reflect.ValueOf(v.Resources()).Pointer() }
	beforeA, beforeB := id(a), id(b)
	if n := len(a.Resources()[generate.ListenerType]); n != 4 {
		t.Fatalf("ns-0 clients see %d listeners, want 4", n)
	}
	rs, errs := config.Parse("sidecar.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ns-0}
spec: {egress: [{hosts: ["./*"]}]}`))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	live.Put(rs...)
	p.Update(live.Snapshot())
	if id(b) != beforeB {
		t.Error("the view of ns-1 was rebuilt although nothing it sees changed")
	}
	if id(a) == beforeA || len(a.Resources()[generate.ListenerType]) != 1 {
		t.Errorf("ns-0 clients see %d listeners after their Sidecar, want 1 (their own service)", len(a.Resources()[generate.ListenerType]))
	}
}
