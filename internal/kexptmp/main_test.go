package kexp

import (
	"io/fs"
	"path"
	"testing"

	"github.com/meshctl/meshctl/manifests"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestX(t *testing.T) {
	mfs := filesys.MakeFsInMemory()
	fs.WalkDir(manifests.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() { return nil }
		b, _ := manifests.FS.ReadFile(p)
		mfs.WriteFile(path.Join("/m", p), b)
		return nil
	})
	mfs.WriteFile("/m/ov/ns.yaml", []byte("apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n  namespace: foo\nsetRoleBindingSubjects: allServiceAccounts\nunsetOnly: false\nfieldSpecs:\n- path: metadata/namespace\n  create: true\n- path: webhooks/clientConfig/service/namespace\n  kind: MutatingWebhookConfiguration\n- path: webhooks/clientConfig/service/namespace\n  kind: ValidatingWebhookConfiguration\n"))
	mfs.WriteFile("/m/ov/mesh", []byte("a: b\n"))
	mfs.WriteFile("/m/ov/kustomization.yaml", []byte(`
transformers: [ns.yaml]
nameSuffix: -canary
resources: [../server]
components: [../components/autoscale]
labels:
- pairs: {meshctl.io/revision: canary}
  includeSelectors: true
- pairs: {meshctl.io/component: server}
  includeTemplates: true
images:
- name: meshctl
  newName: docker.io/x/meshctl
  newTag: "1.0"
configMapGenerator:
- name: mesh
  files: [mesh]
  options: {disableNameSuffixHash: true}
patches:
- target: {kind: ClusterRole}
  patch: |
    - op: replace
      path: /metadata/name
      value: meshctl-server-foo-canary
- target: {kind: MutatingWebhookConfiguration}
  patch: |
    - op: replace
      path: /metadata/name
      value: meshctl-sidecar-injector-foo-canary
`))
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(mfs, "/m/ov")
	if err != nil { t.Fatal(err) }
	y, _ := rm.AsYaml()
	t.Log(string(y))
}
