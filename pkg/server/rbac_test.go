package server

import (
	"bytes"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/config"
)

// TestRBACMatchesWatchedKinds: the installed ClusterRole grants list and
// watch on every kind the server watches, and read access to no other kind
// of the mesh APIs or the workload APIs (CA and webhook rules aside).
func TestRBACMatchesWatchedKinds(t *testing.T) {
	data, err := manifests.FS.ReadFile("server/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &r); err == nil && r.Kind == "ClusterRole" {
			role = &r
		}
	}
	if role == nil {
		t.Fatal("no ClusterRole in manifests/server/rbac.yaml")
	}
	readable := map[string]bool{} // group/resource with list and watch
	for _, rule := range role.Rules {
		verbs := map[string]bool{}
		for _, v := range rule.Verbs {
			verbs[v] = true
		}
		if !verbs["list"] || !verbs["watch"] {
			continue
		}
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				readable[g+"/"+r] = true
			}
		}
	}
	want := map[string]bool{}
	for _, k := range append(WatchedKinds, config.KindConfigMap) {
		info, _ := config.InfoFor(k)
		want[info.Group+"/"+info.Resource] = true
		if !readable[info.Group+"/"+info.Resource] {
			t.Errorf("ClusterRole does not let the server list and watch %s (%s)", k, info.Group+"/"+info.Resource)
		}
	}
	// Other rules serve the CA and the webhooks (issue 12).
	allowedExtra := map[string]bool{
		"admissionregistration.k8s.io/mutatingwebhookconfigurations":   true,
		"admissionregistration.k8s.io/validatingwebhookconfigurations": true,
		"certificates.k8s.io/certificatesigningrequests":               true,
	}
	for gr := range readable {
		if !want[gr] && !allowedExtra[gr] {
			t.Errorf("ClusterRole lets the server read %s, which it does not watch", gr)
		}
	}
}

// TestRBACLeaseVerbs: the installed Role grants on Leases exactly what the
// leader election's LeaseLock does (get, create, update), in the mesh
// namespace only; no cluster-wide Lease rights. TestLeaderElectionOnlyLeaderWrites
// runs the election with this Role's rights alone.
func TestRBACLeaseVerbs(t *testing.T) {
	data, err := manifests.FS.ReadFile("server/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var roleVerbs, clusterVerbs []string
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var r rbacv1.ClusterRole // a Role's rules read the same
		if err := yaml.Unmarshal(doc, &r); err != nil || (r.Kind != "Role" && r.Kind != "ClusterRole") {
			continue
		}
		for _, rule := range r.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					if g == "coordination.k8s.io" && (res == "leases" || res == "*") || g == "*" {
						if r.Kind == "Role" {
							roleVerbs = append(roleVerbs, rule.Verbs...)
						} else {
							clusterVerbs = append(clusterVerbs, rule.Verbs...)
						}
					}
				}
			}
		}
	}
	slices.Sort(roleVerbs)
	if want := []string{"create", "get", "update"}; !slices.Equal(roleVerbs, want) {
		t.Errorf("the Role grants %v on leases, want exactly %v (what client-go's LeaseLock uses)", roleVerbs, want)
	}
	if len(clusterVerbs) > 0 {
		t.Errorf("the ClusterRole grants %v on leases: the Lease lives in the mesh namespace only", clusterVerbs)
	}
}
