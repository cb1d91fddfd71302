package install

import (
	"bytes"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// The base component (the CRDs) is rendered without kustomize: its
// kustomization only adds labels, and parsing its ~850 KB of schemas as YAML
// would cost half a second on every meshctl start that renders. The same
// file decodes as JSON in milliseconds, and the YAML of the schemas is
// generated beside it (crds.spec.yaml), so that writing a manifest never
// encodes them either. TestCRDFastPathMatchesKustomize keeps this path
// byte-identical to `kustomize build manifests/base` plus the labels.

// crdSet is the decoded CRDs and, for each, its `spec:` block as meshctl
// writes it.
type crdSet struct {
	items []map[string]any
	specs [][]byte
}

const (
	crdFile     = "base/crds.json"
	crdSpecFile = "base/crds.spec.yaml"
	crdHeadFile = "base/crds.heads.json"
	// crdSpecSeparator ends each CRD's block in crdSpecFile; no line of a
	// block can equal it, as every line of a block but the first is indented.
	crdSpecSeparator = "---\n"
)

// loadCRDs decodes the CRDs, without their spec (the schemas: nearly all
// of crds.json) unless withSpec: then they come from the generated
// crds.heads.json.
func loadCRDs(withSpec bool) (*crdSet, error) {
	file := crdFile
	if !withSpec {
		file = crdHeadFile
	}
	b, err := manifests.FS.ReadFile(file)
	if err != nil {
		return nil, err
	}
	// One pass over the file, numbers as the int64/float64 unstructured
	// objects hold (UnstructuredList.UnmarshalJSON decodes it three times).
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if withSpec {
		err = utiljson.Unmarshal(b, &list)
	} else {
		err = utiljson.Unmarshal(b, &list.Items)
	}
	if err != nil {
		return nil, fmt.Errorf("manifests/%s: %w", file, err)
	}
	set := &crdSet{items: list.Items}
	specs, err := manifests.FS.ReadFile(crdSpecFile)
	if err != nil {
		return nil, err
	}
	// The file starts with a comment line saying it is generated.
	if i := bytes.IndexByte(specs, '\n'); bytes.HasPrefix(specs, []byte("#")) && i >= 0 {
		specs = specs[i+1:]
	}
	set.specs = bytes.SplitAfter(specs, []byte(crdSpecSeparator))
	if n := len(set.specs); n > 0 && len(set.specs[n-1]) == 0 {
		set.specs = set.specs[:n-1]
	}
	if len(set.specs) != len(set.items) {
		return nil, fmt.Errorf("manifests/%s has %d CRDs and %s %d: run go generate ./manifests/", file, len(set.items), crdSpecFile, len(set.specs))
	}
	for i := range set.specs {
		set.specs[i] = bytes.TrimSuffix(set.specs[i], []byte(crdSpecSeparator))
	}
	return set, nil
}

// EncodeCRDSpec returns the block that crds.spec.yaml holds for one CRD: its
// `spec:` key and value as sigs.k8s.io/yaml writes them at the top level of
// the object. It is the one definition of that format, for hack/gencrds.
func EncodeCRDSpec(crd map[string]any) ([]byte, error) {
	return yaml.Marshal(map[string]any{"spec": crd["spec"]})
}

// CRDSpecSeparator is what ends each block in crds.spec.yaml.
const CRDSpecSeparator = crdSpecSeparator

// crdLabels are the labels of the mesh CRDs. They name no revision or
// install: the CRDs are shared by all of them, and an install applying its
// own revision label to them would make them look like its own.
func crdLabels() []labelSet {
	return []labelSet{{Pairs: map[string]string{vocab.LabelPartOf: vocab.PartOfValue, vocab.LabelComponent: vocab.ComponentBase}}}
}

func (r *renderer) renderCRDs() ([]*unstructured.Unstructured, error) {
	set, err := r.crds()
	if err != nil {
		return nil, err
	}
	return renderCRDSet(set)
}

// renderCRDHeads renders the CRDs without their spec, which only their
// cached YAML holds: for renders that are only written out.
func (r *renderer) renderCRDHeads() ([]*unstructured.Unstructured, error) {
	set, err := r.crdHeads()
	if err != nil {
		return nil, err
	}
	return renderCRDSet(set)
}

func renderCRDSet(set *crdSet) ([]*unstructured.Unstructured, error) {
	labels := map[string]string{}
	for _, set := range crdLabels() {
		maps.Copy(labels, set.Pairs)
	}
	out := make([]*unstructured.Unstructured, 0, len(set.items))
	for i, item := range set.items {
		// Shallow copies share the schemas, which nothing modifies (see
		// renderOverlays); only metadata is made per render.
		obj := maps.Clone(item)
		meta := maps.Clone(item["metadata"].(map[string]any))
		l := map[string]any{}
		if old, ok := meta["labels"].(map[string]any); ok {
			maps.Copy(l, old)
		}
		for k, v := range labels {
			l[k] = v
		}
		meta["labels"] = l
		obj["metadata"] = meta
		o := &unstructured.Unstructured{Object: obj}
		// The YAML is everything but the spec, encoded now, followed by the
		// generated spec block: keys are written sorted and "spec" is the
		// last key of a CRD.
		head := maps.Clone(obj)
		delete(head, "spec")
		for k := range head {
			if k > "spec" {
				return nil, fmt.Errorf("CRD %s has a field %q after spec; hack/gencrds must not keep it", o.GetName(), k)
			}
		}
		b, err := yaml.Marshal(head)
		if err != nil {
			return nil, err
		}
		encoded.Store(o, append(b, set.specs[i]...))
		out = append(out, o)
	}
	return out, nil
}

// CRDs returns the CustomResourceDefinitions meshctl installs, as shipped
// (without install labels): the one place to read them from, whatever file
// format manifests/base uses. The objects are copies the caller may change.
func CRDs() ([]*unstructured.Unstructured, error) {
	set, err := theRenderer.crds()
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(set.items))
	for i, item := range set.items {
		out[i] = (&unstructured.Unstructured{Object: item}).DeepCopy()
	}
	return out, nil
}
