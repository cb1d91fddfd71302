package analyze

import (
	"strings"
	"testing"
)

// Findings Istio's analyzers treat as fine must not be reported, and the
// wrong cases next to them still must.
func TestFalseAlarms(t *testing.T) {
	for _, tc := range []struct {
		file, code string
		want       []string
	}{
		{"topology-subsets.yaml", "MSH0302", nil},
		{"topology-subsets-wrong.yaml", "MSH0302", []string{
			`Warning [MSH0302] (DestinationRule default/reviews-by-zone topology-subsets-wrong.yaml:10) subset "v9-in-zone" (topology.kubernetes.io/zone=eu-west-1a,version=v9) selects no pods of Service default/reviews`,
		}},
		{"serviceentry-ports.yaml", "MSH0802", []string{
			`Warning [MSH0802] (ServiceEntry default/partner-https-again serviceentry-ports.yaml:30) host "api.partner.example" port 443 is also defined by ServiceEntry default/partner-https`,
		}},
		{"exportto.yaml", "MSH0101", []string{
			`Error [MSH0101] (VirtualService default/outbound exportto.yaml:50) Referenced host not found: "ledger.internal.example"`,
			`Error [MSH0101] (VirtualService default/outbound exportto.yaml:53) Referenced host not found: "unknown.example"`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			store, errs := load(t, append(append([]string{}, bookinfoFiles...), "analyze/false-alarms/"+tc.file)...)
			res := Analyze(store, errs, Options{Cluster: true})
			got := lines(res.Findings, tc.code)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("%s findings:\n got:\n%s\nwant:\n%s", tc.code, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
