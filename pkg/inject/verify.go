package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// verifyDoc checks that out, the text written for the input document whose
// tree is in, reads back as exactly one document that equals the input
// everywhere except in the workloads' pod templates, and whose templates
// decode to what the injector returned. The text editor is fast because it
// trusts positions in the input; this is what keeps a wrong position from
// ever reaching the user as YAML that is invalid or means something else.
func verifyDoc(in *yaml.Node, out []byte, wls []*workload) error {
	dec := yaml.NewDecoder(bytes.NewReader(yaml12As11(out)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("output does not parse: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("output is more than one document")
	}
	if len(doc.Content) == 0 {
		return errors.New("output is empty")
	}
	root := doc.Content[0]
	skip := make(map[*yaml.Node]bool, len(wls))
	for _, wl := range wls {
		skip[wl.tmplNode] = true
	}
	// A Pod is its own template: what is not part of a template (apiVersion,
	// kind, status) is compared key by key.
	for _, wl := range wls {
		if wl.id.Kind == "Pod" {
			if err := samePodRest(wl.tmplNode, locate(root, wl)); err != nil {
				return err
			}
		}
	}
	if err := sameTree(in, root, skip, 0); err != nil {
		return err
	}
	for _, wl := range wls {
		if err := sameTemplate(root, wl); err != nil {
			return fmt.Errorf("%s: %w", wl.id, err)
		}
	}
	return nil
}

// sameTree compares two node trees by meaning (kind, resolved tag, value),
// not by style, and does not descend into the nodes in skip.
func sameTree(a, b *yaml.Node, skip map[*yaml.Node]bool, depth int) error {
	if skip[a] {
		return nil
	}
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || len(a.Content) != len(b.Content) {
		return fmt.Errorf("line %d: output differs from the input", b.Line)
	}
	switch a.Kind {
	case yaml.ScalarNode:
		if a.Value != b.Value {
			return fmt.Errorf("line %d: %q became %q", b.Line, a.Value, b.Value)
		}
	case yaml.AliasNode:
		// Aliases are compared by name: following them could blow up.
		if a.Value != b.Value {
			return fmt.Errorf("line %d: alias *%s became *%s", b.Line, a.Value, b.Value)
		}
	}
	if depth > 10000 {
		return errors.New("nesting too deep")
	}
	for i := range a.Content {
		if err := sameTree(a.Content[i], b.Content[i], skip, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// sameTemplate decodes the workload's pod template from the output tree and
// compares it with the injector's result.
func sameTemplate(root *yaml.Node, wl *workload) error {
	node := locate(root, wl)
	if node == nil {
		return errors.New("pod template missing from the output")
	}
	raw, err := config.JSONOf(node)
	if err != nil {
		return err
	}
	var tmpl corev1.PodTemplateSpec
	if err := jsonUnmarshal(raw, &tmpl); err != nil {
		return fmt.Errorf("output pod template does not decode: %w", err)
	}
	if wl.id.Kind == "Pod" && tmpl.Name == "" {
		tmpl.Name = wl.id.Name
	}
	got, err := marshalJSON(&tmpl)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, wl.new) {
		return errors.New("output pod template differs from the injection result")
	}
	return nil
}

// locate finds the workload's pod template in the output tree.
func locate(root *yaml.Node, wl *workload) *yaml.Node {
	node := root
	if wl.item >= 0 {
		_, items, _ := mapGet(root, "items")
		if items == nil || items.Kind != yaml.SequenceNode || wl.item >= len(items.Content) {
			return nil
		}
		node = items.Content[wl.item]
	}
	if scalar(node, "kind") != wl.id.Kind {
		return nil
	}
	for _, key := range templatePaths[wl.id.Kind] {
		_, node, _ = mapGet(node, key)
	}
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	return node
}

func samePodRest(in, out *yaml.Node) error {
	if out == nil {
		return errors.New("pod missing from the output")
	}
	rest := func(m *yaml.Node) []*yaml.Node {
		var kv []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i].Value; k != "metadata" && k != "spec" {
				kv = append(kv, m.Content[i], m.Content[i+1])
			}
		}
		return kv
	}
	a, b := rest(in), rest(out)
	if len(a) != len(b) {
		return fmt.Errorf("line %d: the pod's fields differ from the input", out.Line)
	}
	for i := range a {
		if err := sameTree(a[i], b[i], nil, 0); err != nil {
			return err
		}
	}
	return nil
}
