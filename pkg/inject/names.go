package inject

import (
	"strings"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// TokenExpirationSeconds is short enough to limit a stolen token's use and
// long enough for the kubelet to refresh it well before expiry.
const TokenExpirationSeconds = 43200

// overrides are the values a pod set for each vocab.Override, found once.
// The injector reads overrides only from here, so it cannot honour an
// annotation that analyze does not know.
type overrides [vocab.NumOverrides]struct {
	key, value string
	ok         bool
}

// readOverrides finds every override in annotations, then labels; meshctl's
// prefix wins over Istio's.
func readOverrides(annotations, labels map[string]string) *overrides {
	var ov overrides
	if !hasOverrideKeys(annotations) && !hasOverrideKeys(labels) {
		// Most pods carry no overrides; skipping the lookups then keeps
		// injection of thousands of workloads cheap.
		return &ov
	}
	for _, o := range vocab.Overrides() {
	lookup:
		for _, m := range []map[string]string{annotations, labels} {
			for _, k := range o.Keys() {
				if v, found := m[k]; found {
					ov[o].key, ov[o].value, ov[o].ok = k, strings.TrimSpace(v), true
					break lookup
				}
			}
		}
	}
	return &ov
}

// get returns the key the pod used and its value.
func (ov *overrides) get(o vocab.Override) (key, value string, ok bool) {
	f := ov[o]
	return f.key, f.value, f.ok
}

func hasOverrideKeys(m map[string]string) bool {
	for k := range m {
		for _, p := range vocab.OverridePrefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
	}
	return false
}
