package config

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The reference way from a YAML node to a typed object is JSONOf, then
// protojson (mesh specs) or encoding/json (metadata): exact, with the
// errors users see, but it writes and re-reads every document as JSON,
// which cost more than the whole analysis of what was parsed. The functions
// here read the node tree directly for the plain shapes that nearly all
// config is made of, and give up (false) at anything else: aliases, merge
// keys, tags of their own, floats, well-known types, unknown or repeated
// fields, values of another type than the field's. The caller then throws
// the partly filled value away and takes the reference way, so every error
// and every unusual input is handled there, once. TestFastDecodeMatches
// and FuzzParse check that both ways give equal objects.

// maxFastDepth is deeper than any Istio message nests; deeper input goes
// the reference way, which has its own limits and errors.
const maxFastDepth = 64

// decodeProtoFast fills m from the mapping n as protojson would fill it from
// JSONOf(n), or returns false.
func decodeProtoFast(n *yaml.Node, m protoreflect.Message, depth int) bool {
	if n.Kind != yaml.MappingNode || depth > maxFastDepth {
		return false
	}
	md := m.Descriptor()
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return false // well-known types have JSON forms of their own
	}
	fields := md.Fields()
	// protojson refuses a field given twice (by its JSON and its proto name)
	// and two fields of one oneof; both are errors, so give up at either.
	var seen, seenOneofs []protoreflect.FieldNumber
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != strStr {
			return false
		}
		fd := fields.ByJSONName(k.Value)
		if fd == nil {
			fd = fields.ByTextName(k.Value)
		}
		if fd == nil || containsNumber(seen, fd.Number()) {
			return false
		}
		seen = append(seen, fd.Number())
		if v.Kind == yaml.ScalarNode && v.ShortTag() == strNull {
			continue // protojson skips null fields (none of ours is a google.protobuf.Value)
		}
		switch {
		case fd.IsList():
			if v.Kind != yaml.SequenceNode {
				return false
			}
			list := m.Mutable(fd).List()
			for _, e := range v.Content {
				var val protoreflect.Value
				if fd.Kind() == protoreflect.MessageKind {
					val = list.NewElement()
					if !decodeProtoFast(e, val.Message(), depth+1) {
						return false
					}
				} else {
					var ok bool
					if val, ok = scalarFast(e, fd); !ok {
						return false
					}
				}
				list.Append(val)
			}
		case fd.IsMap():
			if v.Kind != yaml.MappingNode || fd.MapKey().Kind() != protoreflect.StringKind {
				return false
			}
			mp := m.Mutable(fd).Map()
			for j := 0; j+1 < len(v.Content); j += 2 {
				mk, mv := v.Content[j], v.Content[j+1]
				if mk.Kind != yaml.ScalarNode || mk.ShortTag() != strStr || !utf8.ValidString(mk.Value) {
					return false
				}
				key := protoreflect.ValueOfString(mk.Value).MapKey()
				if mp.Has(key) {
					return false
				}
				var val protoreflect.Value
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					val = mp.NewValue()
					if !decodeProtoFast(mv, val.Message(), depth+1) {
						return false
					}
				} else {
					var ok bool
					if val, ok = scalarFast(mv, fd.MapValue()); !ok {
						return false
					}
				}
				mp.Set(key, val)
			}
		default:
			if od := fd.ContainingOneof(); od != nil {
				if containsNumber(seenOneofs, protoreflect.FieldNumber(od.Index())) {
					return false
				}
				seenOneofs = append(seenOneofs, protoreflect.FieldNumber(od.Index()))
			}
			if fd.Kind() == protoreflect.MessageKind {
				val := m.NewField(fd)
				if !decodeProtoFast(v, val.Message(), depth+1) {
					return false
				}
				m.Set(fd, val)
				continue
			}
			val, ok := scalarFast(v, fd)
			if !ok {
				return false
			}
			m.Set(fd, val)
		}
	}
	return true
}

const (
	strStr  = "!!str"
	strInt  = "!!int"
	strBool = "!!bool"
	strNull = "!!null"
)

func containsNumber(s []protoreflect.FieldNumber, n protoreflect.FieldNumber) bool {
	for _, x := range s {
		if x == n {
			return true
		}
	}
	return false
}

// scalarFast reads a scalar field: strings, booleans, integers in range and
// enum names. Anything protojson would read another way (quoted numbers,
// enum numbers, floats, bytes) or refuse goes the reference way.
func scalarFast(n *yaml.Node, fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	if n.Kind != yaml.ScalarNode {
		return protoreflect.Value{}, false
	}
	tag := n.ShortTag()
	switch fd.Kind() {
	case protoreflect.StringKind:
		// JSONOf replaces invalid UTF-8; leave that to it.
		if tag == strStr && utf8.ValidString(n.Value) {
			return protoreflect.ValueOfString(n.Value), true
		}
	case protoreflect.BoolKind:
		if tag == strBool {
			return protoreflect.ValueOfBool(strings.EqualFold(n.Value, "true")), true
		}
	case protoreflect.EnumKind:
		if tag == strStr {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(n.Value)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), true
			}
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if v, err := parseInt(n.Value); tag == strInt && err == nil && v >= math.MinInt32 && v <= math.MaxInt32 {
			return protoreflect.ValueOfInt32(int32(v)), true
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if v, err := parseInt(n.Value); tag == strInt && err == nil {
			return protoreflect.ValueOfInt64(v), true
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if v, err := parseInt(n.Value); tag == strInt && err == nil && v >= 0 && v <= math.MaxUint32 {
			return protoreflect.ValueOfUint32(uint32(v)), true
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if v, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64); tag == strInt && err == nil {
			return protoreflect.ValueOfUint64(v), true
		}
	}
	return protoreflect.Value{}, false
}

// decodeMetaFast fills the fields of metadata that config files write
// (name, namespace, generateName, labels, annotations) as encoding/json
// would from JSONOf(n), or returns false for anything else.
func decodeMetaFast(n *yaml.Node, m *metav1.ObjectMeta) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	var seen uint8
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != strStr {
			return false
		}
		var bit uint8
		var ok bool
		switch k.Value {
		case "name":
			bit = 1
			m.Name, ok = stringFast(v)
		case "namespace":
			bit = 2
			m.Namespace, ok = stringFast(v)
		case "generateName":
			bit = 4
			m.GenerateName, ok = stringFast(v)
		case "labels":
			bit = 8
			m.Labels, ok = stringMapFast(v)
		case "annotations":
			bit = 16
			m.Annotations, ok = stringMapFast(v)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return true
}

func stringFast(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != strStr || !utf8.ValidString(n.Value) {
		return "", false
	}
	return n.Value, true
}

func stringMapFast(n *yaml.Node) (map[string]string, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, ok := stringFast(n.Content[i])
		if !ok {
			return nil, false
		}
		v, ok := stringFast(n.Content[i+1])
		if _, dup := out[k]; !ok || dup {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}
