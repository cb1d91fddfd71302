package install

import (
	"context"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshctl/meshctl/pkg/profiles"
)

func TestPodReason(t *testing.T) {
	for _, tc := range []struct {
		pod  corev1.Pod
		want string
	}{
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}},
			"Pending: Unschedulable: 0/3 nodes are available"},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "server", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}}}}},
			"container server waiting: ImagePullBackOff not found"},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "server", Ready: false, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}},
			"container server is running but not Ready"},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "server", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
			""},
	} {
		got := podReason(&tc.pod)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("podReason = %q, want %q", got, tc.want)
		}
	}
}

func TestPrecheckReportsVersionAndMissingRights(t *testing.T) {
	kube := fake.NewClientset()
	kube.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{Major: "1", Minor: "26", GitVersion: "v1.26.3"}
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		// Everything is allowed except cluster roles and updating leases.
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = ra.Resource != "clusterroles" && (ra.Resource != "leases" || ra.Verb != "update")
		return true, sar, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		{Version: "v1", Kind: "Service"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
	} {
		scope := meta.RESTScopeNamespace
		if gvk.Kind == "Namespace" || gvk.Kind == "ClusterRole" {
			scope = meta.RESTScopeRoot
		}
		mapper.Add(gvk, scope)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{crdResource: "CustomResourceDefinitionList"})
	m := renderProfile(t, profiles.ResolveOptions{Profile: "minimal"})
	checks := Precheck(context.Background(), Clients{Kube: kube, Dynamic: dyn, Mapper: mapper}, m)
	byName := map[string]Check{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	if c := byName["Kubernetes version"]; c.OK || !strings.Contains(c.Message, "too old") {
		t.Errorf("version check: %+v", c)
	}
	if c := byName["Permissions"]; c.OK || !strings.Contains(c.Message, "create clusterroles.rbac.authorization.k8s.io cluster-wide") || strings.Contains(c.Message, "deployments") ||
		!strings.Contains(c.Message, "update leases.coordination.k8s.io in mesh-system") {
		t.Errorf("permission check: %+v", c)
	}
	if c := byName["Existing mesh"]; !c.OK {
		t.Errorf("existing mesh check: %+v", c)
	}
}
