package install

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// MinKubernetesMinor is the oldest Kubernetes 1.x the mesh supports.
const MinKubernetesMinor = 28

// Check is one precheck result.
type Check struct {
	Name string
	// OK false with Warning true is advice; with Warning false it blocks
	// the install.
	OK      bool
	Warning bool
	Message string
}

// Precheck tells whether the cluster can take the install: reachable, a
// supported version, the rights to create what the install renders, and no
// foreign install in the way.
func Precheck(ctx context.Context, c Clients, m *Manifest) []Check {
	var checks []Check
	v, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return append(checks, Check{Name: "Cluster reachable", Message: fmt.Sprintf("cannot reach the API server: %v\n  check --kubeconfig/--context", err)})
	}
	checks = append(checks, Check{Name: "Cluster reachable", OK: true, Message: "Kubernetes " + v.GitVersion})
	minor, _ := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if v.Major == "1" && minor < MinKubernetesMinor {
		checks = append(checks, Check{Name: "Kubernetes version", Message: fmt.Sprintf("%s is too old: the mesh needs 1.%d or newer", v.GitVersion, MinKubernetesMinor)})
	} else {
		checks = append(checks, Check{Name: "Kubernetes version", OK: true, Message: v.GitVersion + " is supported"})
	}

	s := &m.Spec.Spec
	var missing []string
	type review struct{ verb, ns, resource, group string }
	var reviews []review
	seen := map[string]bool{}
	for _, o := range append(append(namespaceProbe(s), lockProbe(s)), m.Objects()...) {
		gvk := o.GroupVersionKind()
		mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			// A kind whose CRD the install creates itself is not served yet.
			continue
		}
		ns := ""
		if mapping.Scope.Name() == "namespace" {
			ns = s.MeshNamespace
		}
		key := mapping.Resource.String() + "/" + ns
		if seen[key] {
			continue
		}
		seen[key] = true
		verbs := []string{"create", "patch", "delete"}
		switch gvk.Kind {
		case "Namespace":
			verbs = []string{"get", "create"}
		case "Lease":
			verbs = []string{"get", "create", "update", "delete"}
		}
		for _, verb := range verbs {
			reviews = append(reviews, review{verb: verb, ns: ns, resource: mapping.Resource.Resource, group: mapping.Resource.Group})
		}
	}
	// One access review per right, all independent: asked concurrently,
	// reported in the order above.
	answers := make([]string, len(reviews))
	var g errgroup.Group
	g.SetLimit(maxInFlight)
	for i, rv := range reviews {
		g.Go(func() error {
			sar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: rv.ns, Verb: rv.verb, Group: rv.group, Resource: rv.resource,
			}}}
			r, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				answers[i] = fmt.Sprintf("%s %s (access review failed: %v)", rv.verb, rv.resource, err)
				return nil
			}
			if !r.Status.Allowed {
				where := "cluster-wide"
				if rv.ns != "" {
					where = "in " + rv.ns
				}
				answers[i] = fmt.Sprintf("%s %s %s", rv.verb, qualified(rv.resource, rv.group), where)
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, a := range answers {
		if a != "" {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		checks = append(checks, Check{Name: "Permissions", Message: "missing rights:\n    " + strings.Join(missing, "\n    ") + "\n  ask a cluster admin to run the install, or grant these rights"})
	} else {
		checks = append(checks, Check{Name: "Permissions", OK: true, Message: "can create everything the install renders"})
	}

	// Another revision's install in the same namespace is fine (side by
	// side); an Istio install with the same CRDs but another owner is
	// worth knowing about before they are taken over.
	crd, err := c.Dynamic.Resource(crdResource).Get(ctx, "virtualservices.networking.istio.io", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || err != nil:
		checks = append(checks, Check{Name: "Existing mesh", OK: true, Message: "no mesh CRDs installed yet"})
	case crd.GetLabels()[vocab.LabelPartOf] != vocab.PartOfValue:
		checks = append(checks, Check{Name: "Existing mesh", Warning: true, Message: "the Istio CRDs are already installed by another tool (Istio?): meshctl will take them over; " +
			"remove the other mesh first if it is still running"})
	default:
		checks = append(checks, Check{Name: "Existing mesh", OK: true, Message: "mesh CRDs installed by meshctl"})
	}
	return checks
}

func qualified(resource, group string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

var crdResource = schemaGVR("apiextensions.k8s.io", "v1", "customresourcedefinitions")
