package suggest

import "testing"

func TestNearest(t *testing.T) {
	for _, c := range []struct {
		in   string
		cand []string
		want string
	}{
		{"ISTIO_MUTAL", []string{"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"}, "ISTIO_MUTUAL"},
		{"subsett", []string{"host", "subset", "port"}, "subset"},
		{"istio_mutual", []string{"MUTUAL", "ISTIO_MUTUAL"}, "ISTIO_MUTUAL"},
		{"completelydifferent", []string{"host", "subset", "port"}, ""},
		{"x", nil, ""},
	} {
		if got := Nearest(c.in, c.cand); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
