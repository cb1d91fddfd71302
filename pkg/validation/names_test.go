package validation

import (
	"reflect"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// gatewayRef is the expression isGatewayRef replaces.
var gatewayRef = regexp.MustCompile(`^(([a-z0-9]([-a-z0-9]*[a-z0-9])?)/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// The byte loops agree with apimachinery's checks and the gateway expression on every
// string of up to five characters from an alphabet of the characters that
// matter, and on the length limits.
func TestNameChecks(t *testing.T) {
	alphabet := []byte("a0-./Z_")
	var all []string
	var gen func(prefix []byte, n int)
	gen = func(prefix []byte, n int) {
		all = append(all, string(prefix))
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c), n-1)
		}
	}
	gen(nil, 5)
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	all = append(all, long(63), long(64), long(253), long(254), long(60)+"."+long(70), long(250)+"/"+long(63), long(254)+"/a", "a/"+long(64))
	for _, s := range all {
		if got, want := dns1123Label(s), validation.IsDNS1123Label(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("dns1123Label(%q) = %v, want %v", s, got, want)
		}
		if got, want := dns1123Subdomain(s), validation.IsDNS1123Subdomain(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("dns1123Subdomain(%q) = %v, want %v", s, got, want)
		}
		if got, want := qualifiedName(s), validation.IsQualifiedName(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("qualifiedName(%q) = %v, want %v", s, got, want)
		}
		if got, want := labelValue(s), validation.IsValidLabelValue(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("labelValue(%q) = %v, want %v", s, got, want)
		}
		if got, want := isGatewayRef(s), gatewayRef.MatchString(s); got != want {
			t.Fatalf("isGatewayRef(%q) = %v, want %v", s, got, want)
		}
	}
}
