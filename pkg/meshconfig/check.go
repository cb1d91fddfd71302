package meshconfig

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/meshctl/meshctl/pkg/suggest"
)

// checker walks a YAML config along the MeshConfig descriptor, so that an
// unknown field or a wrong value is reported at its own line (protojson's
// errors only know offsets into the JSON it was given). It also records
// the line of every field, and renames proto_names to their JSON names so
// that merging over the defaults cannot produce both spellings.
type checker struct {
	where func(line int) string
	lines map[string]int
}

func (c *checker) message(n *yaml.Node, md protoreflect.MessageDescriptor, at string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	if wellKnown(md) {
		return c.wellKnown(n, md, at)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: %s must be a mapping", c.where(n.Line), orRoot(at))
	}
	fields := md.Fields()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fd := fields.ByJSONName(k.Value)
		if fd == nil {
			fd = fields.ByTextName(k.Value)
		}
		if fd == nil {
			return c.unknown(k, at, fields)
		}
		k.Value = fd.JSONName()
		path := join(at, k.Value)
		c.lines[path] = k.Line
		if err := c.field(v, fd, path); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) unknown(k *yaml.Node, at string, fields protoreflect.FieldDescriptors) error {
	var names []string
	for i := range fields.Len() {
		names = append(names, fields.Get(i).JSONName())
	}
	sort.Strings(names)
	msg := fmt.Sprintf("%s: unknown field %q", c.where(k.Line), join(at, k.Value))
	if s := suggest.Nearest(k.Value, names); s != "" {
		msg += fmt.Sprintf(": did you mean %q?", s)
	}
	if len(names) > 12 {
		return fmt.Errorf("%s (see Istio's MeshConfig reference for the fields of %s)", msg, orRoot(at))
	}
	return fmt.Errorf("%s (valid fields here: %s)", msg, strings.Join(names, ", "))
}

func (c *checker) field(n *yaml.Node, fd protoreflect.FieldDescriptor, at string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	switch {
	case fd.IsMap():
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: %s must be a mapping", c.where(n.Line), at)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			n.Content[i].Tag = "!!str"
			if err := c.single(n.Content[i+1], fd.MapValue(), at+"."+n.Content[i].Value); err != nil {
				return err
			}
		}
		return nil
	case fd.IsList():
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: %s must be a list", c.where(n.Line), at)
		}
		for i, e := range n.Content {
			if err := c.single(e, fd, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return c.single(n, fd, at)
}

// single checks one value of fd's type (an element, for lists and maps).
func (c *checker) single(n *yaml.Node, fd protoreflect.FieldDescriptor, at string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	if md := fd.Message(); md != nil {
		return c.message(n, md, at)
	}
	return c.scalar(n, fd.Kind(), fd.Enum(), at)
}

func (c *checker) scalar(n *yaml.Node, kind protoreflect.Kind, enum protoreflect.EnumDescriptor, at string) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: %s must be a single value, not a %s", c.where(n.Line), at, nodeKind(n))
	}
	tag := n.ShortTag()
	switch kind {
	case protoreflect.BoolKind:
		if tag != "!!bool" {
			return fmt.Errorf("%s: %s: %q is not a boolean: use true or false", c.where(n.Line), at, n.Value)
		}
	case protoreflect.StringKind, protoreflect.BytesKind:
		// trustDomain: 1.0 is the text "1.0", as a person means it.
		n.Tag = "!!str"
	case protoreflect.EnumKind:
		var names []string
		for i := range enum.Values().Len() {
			names = append(names, string(enum.Values().Get(i).Name()))
		}
		for _, v := range names {
			if v == n.Value {
				return nil
			}
		}
		msg := fmt.Sprintf("%s: %s: %q is not one of %s", c.where(n.Line), at, n.Value, strings.Join(names, ", "))
		if s := suggest.Nearest(n.Value, names); s != "" {
			msg += fmt.Sprintf(": did you mean %q?", s)
		}
		return fmt.Errorf("%s", msg)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if tag != "!!float" && tag != "!!int" {
			return fmt.Errorf("%s: %s: %q is not a number", c.where(n.Line), at, n.Value)
		}
	default: // the integer kinds
		if tag != "!!int" {
			if _, err := strconv.ParseInt(n.Value, 10, 64); err != nil || tag != "!!str" {
				return fmt.Errorf("%s: %s: %q is not a whole number", c.where(n.Line), at, n.Value)
			}
		}
	}
	return nil
}

// wellKnown checks the JSON forms of google.protobuf types: wrappers are
// their value, Duration and Timestamp are text; Struct, Value and Any hold
// anything.
func (c *checker) wellKnown(n *yaml.Node, md protoreflect.MessageDescriptor, at string) error {
	switch md.Name() {
	case "Duration", "Timestamp", "FieldMask":
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: %s must be a single value such as 10s", c.where(n.Line), at)
		}
		n.Tag = "!!str"
		if md.Name() == "FieldMask" {
			return nil
		}
		var m proto.Message = &durationpb.Duration{}
		form := "seconds with an s, such as 10s or 0.5s"
		if md.Name() == "Timestamp" {
			m, form = &timestamppb.Timestamp{}, "RFC 3339, such as 2006-01-02T15:04:05Z"
		}
		if err := protojson.Unmarshal([]byte(strconv.Quote(n.Value)), m); err != nil {
			return fmt.Errorf("%s: %s: %q is not a %s: write it as %s", c.where(n.Line), at, n.Value, strings.ToLower(string(md.Name())), form)
		}
	case "Struct", "Value", "ListValue", "Any", "Empty":
	default:
		if v := md.Fields().ByName("value"); v != nil {
			return c.scalar(n, v.Kind(), nil, at)
		}
	}
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func orRoot(at string) string {
	if at == "" {
		return "the mesh config"
	}
	return at
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}
