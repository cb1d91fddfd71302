package vocab

import (
	"strings"
	"testing"
)

func TestOverrideKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Overrides() {
		if o.Name() == "" {
			t.Fatalf("override %d has no name", int(o))
		}
		for _, k := range o.Keys() {
			if seen[k] {
				t.Errorf("key %s twice", k)
			}
			seen[k] = true
		}
	}
	if got := OverrideUserVolume.Keys(); got != [2]string{"sidecar.meshctl.io/userVolume", "sidecar.istio.io/userVolume"} {
		t.Errorf("userVolume keys: %v", got)
	}
	if got := TrafficExcludeInboundPorts.Keys(); got != [2]string{"traffic.sidecar.meshctl.io/excludeInboundPorts", "traffic.sidecar.istio.io/excludeInboundPorts"} {
		t.Errorf("excludeInboundPorts keys: %v", got)
	}
	for _, k := range PodAnnotations() {
		ok := false
		for _, p := range MeshAnnotationPrefixes {
			ok = ok || strings.HasPrefix(k, p)
		}
		if !ok {
			t.Errorf("pod annotation %s is under no mesh prefix, so analyze could not report a misspelling of it", k)
		}
	}
}

func TestRevisionNames(t *testing.T) {
	for _, tc := range []struct{ rev, cm, server, inventory string }{
		{"", "mesh", "meshctl-server", "meshctl-install"},
		{"default", "mesh", "meshctl-server", "meshctl-install"},
		{"canary", "mesh-canary", "meshctl-server-canary", "meshctl-install-canary"},
	} {
		if got := InventoryName(tc.rev); got != tc.inventory {
			t.Errorf("InventoryName(%q) = %q, want %q", tc.rev, got, tc.inventory)
		}
		if got := MeshConfigMapName(tc.rev); got != tc.cm {
			t.Errorf("MeshConfigMapName(%q) = %q, want %q", tc.rev, got, tc.cm)
		}
		if got := ServerName(tc.rev); got != tc.server {
			t.Errorf("ServerName(%q) = %q, want %q", tc.rev, got, tc.server)
		}
	}
}
