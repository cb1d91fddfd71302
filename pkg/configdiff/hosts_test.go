package configdiff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/analyze"
)

const hostFormsBase = `apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [%s]
  http:
  - route:
    - destination: {host: %s, subset: v1}
`

// TestDiffAndAnalyzeAgreeOnHostForms: every way of writing the same host is
// the same host for config diff (no difference) and for analyze (found,
// with its subsets); a host that is not the same is a difference for one
// and missing for the other.
func TestDiffAndAnalyzeAgreeOnHostForms(t *testing.T) {
	old := fmt.Sprintf(hostFormsBase, "reviews", "reviews")
	for _, form := range []string{"reviews", "reviews.default", "reviews.default.svc", "reviews.default.svc.cluster.local"} {
		cur := fmt.Sprintf(hostFormsBase, form, form)
		r := Diff(store(t, "old.yaml", old), store(t, "new.yaml", cur))
		if r.Differences {
			t.Errorf("%s: config diff reports %v", form, lines(r))
		}
		res := analyze.Analyze(store(t, "new.yaml", cur), nil, analyze.Options{})
		for _, f := range res.Findings {
			t.Errorf("%s: analyze: %s %s", form, f.Code, f.Message)
		}
	}
	other := fmt.Sprintf(hostFormsBase, "reviews.other.svc.cluster.local", "reviews.other.svc.cluster.local")
	if r := Diff(store(t, "old.yaml", old), store(t, "new.yaml", other)); !r.Differences {
		t.Error("config diff: a host of another namespace is another host")
	}
	res := analyze.Analyze(store(t, "new.yaml", other), nil, analyze.Options{})
	var msgs []string
	for _, f := range res.Findings {
		msgs = append(msgs, f.Code+" "+f.Message)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "reviews.other.svc.cluster.local") {
		t.Errorf("analyze should report the host of another namespace as missing, got %v", msgs)
	}
}
