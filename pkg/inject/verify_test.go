package inject

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// verifyDoc is what stands between a wrong text edit and the user: each
// way an edit can go wrong must be caught.
func TestVerifyDocCatchesBadOutput(t *testing.T) {
	in := []byte("apiVersion: v1\nitems:\n- kind: Pod\n  metadata:\n    name: p\n  spec:\n    containers:\n    - name: a\n      image: x\nkind: List\nmetadata:\n  resourceVersion: \"\"\n")
	good, _ := process(t, in, Options{Config: DefaultConfig()})
	wlsOf := func() (*yaml.Node, []*workload) {
		var doc yaml.Node
		if err := yaml.Unmarshal(in, &doc); err != nil {
			t.Fatal(err)
		}
		ed := &textEditor{emit: emitter{cache: &renderCache{}}}
		ed.reset(in)
		var wls []*workload
		if err := collect(ed, doc.Content[0], len(in), 1, Options{Config: DefaultConfig()}, &wls, -1); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0], wls
	}
	root, wls := wlsOf()
	if err := verifyDoc(root, good, wls); err != nil {
		t.Fatalf("the real output is rejected: %v\n%s", err, good)
	}
	// Drop the line that names the proxy container: its fields then belong
	// to the app container.
	proxyAt := bytes.Index(good, []byte("    - name: "+vocab.ProxyContainerName))
	proxyEnd := proxyAt + bytes.IndexByte(good[proxyAt:], '\n')
	// The whole proxy item: up to the next line indented no deeper than it.
	itemEnd := proxyEnd
	for itemEnd+1 < len(good) && (bytes.HasPrefix(good[itemEnd+1:], []byte("      ")) || good[itemEnd+1] == '\n') {
		itemEnd += 1 + bytes.IndexByte(good[itemEnd+1:], '\n')
	}
	for _, tc := range []struct{ name, out, want string }{
		{"sidecar after the List's keys", string(good) + "    - name: " + vocab.ProxyContainerName + "\n      image: proxy\n", "does not parse"},
		{"sidecar fields on the app container", string(good[:proxyAt]) + string(good[proxyEnd+1:]), "written twice"},
		{"sidecar missing", string(good[:proxyAt]) + string(good[itemEnd+1:]), "differs"},
		{"other key changed", strings.Replace(string(good), `resourceVersion: ""`, `resourceVersion: "1"`, 1), "became"},
		{"two documents", string(good) + "---\nkind: Service\n", "more than one document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, wls := wlsOf()
			err := verifyDoc(root, []byte(tc.out), wls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q; output:\n%s", err, tc.want, tc.out)
			}
		})
	}
}
