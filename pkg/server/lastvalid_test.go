package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/xds/transport"
)

// TestLastValidForgetsDeletedObjects: the last valid version of an object
// is served while its update is rejected, and forgotten once the object is
// deleted: it neither comes back nor stays in memory. Both the incremental
// path (live store snapshots) and the whole one (unrelated stores) are
// covered.
func TestLastValidForgetsDeletedObjects(t *testing.T) {
	reject := func(r *config.Resource) error {
		if r.Annotations["test"] == "reject" {
			return errors.New("rejected by the test")
		}
		return nil
	}
	vs := func(name, ann string) *config.Resource {
		rs, errs := config.Parse("vs.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: `+name+`, namespace: default, annotations: {test: `+ann+`}}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}`))
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		return rs[0]
	}
	base := parseStore(t, reviewsYAML(map[string]string{"v1": "10.0.0.1", "v2": "10.0.0.2", "v3": "10.0.0.3"}, 9080)).All()

	for _, incremental := range []bool{true, false} {
		p := &Pusher{Log: logr.Discard(), Validate: reject}
		p.Views = transport.NewViews(p.Populate, nil)
		live := config.NewLiveStore()
		live.Put(base...)
		update := func() {
			if incremental {
				p.Update(live.Snapshot())
			} else {
				p.Update(config.NewStoreFrom(live.Snapshot().All()))
			}
		}
		update()
		n0 := p.LastValidLen() // the base's DestinationRule
		live.Put(vs("a", "ok"), vs("b", "ok"))
		update()
		if n := p.LastValidLen(); n != n0+2 {
			t.Fatalf("incremental=%v: %d last valid versions kept, want %d", incremental, n, n0+2)
		}
		live.Put(vs("a", "reject"))
		update()
		if probs := strings.Join(p.Problems(), "\n"); !strings.Contains(probs, "VirtualService default/a: rejected by validation, its last valid version is served") {
			t.Errorf("incremental=%v: the rejected update is not reported as served from its last valid version:\n%s", incremental, probs)
		}
		live.Delete(config.Key{Kind: config.KindVirtualService, Namespace: "default", Name: "a"}, config.Key{Kind: config.KindVirtualService, Namespace: "default", Name: "b"})
		update()
		if n := p.LastValidLen(); n != n0 {
			t.Errorf("incremental=%v: %d last valid versions kept after both objects were deleted, want %d", incremental, n, n0)
		}
		if probs := p.Problems(); len(probs) != 0 {
			t.Errorf("incremental=%v: problems left after the delete: %v", incremental, probs)
		}
	}
}
