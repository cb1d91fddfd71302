package config

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"

	"github.com/meshctl/meshctl/pkg/suggest"
)

// A mesh spec that protojson rejects is walked again against the message
// descriptors of istio.io/api, so that every problem of the object is
// reported with its field path, its line and what was expected; protojson
// alone stops at the first problem and names offsets in re-encoded JSON. The
// walk follows protojson's rules (JSON or proto field names, null as unset,
// quoted integers, enum names or numbers, the JSON forms of the well-known
// types), so that it finds problems exactly where protojson fails.

// fieldProblem is one schema problem of a spec.
type fieldProblem struct {
	segs    []string // path segments for Resource.LineAt
	path    string   // spec.http[0].route[1].weight
	message string
}

type schemaWalker struct {
	problems []fieldProblem
}

func (w *schemaWalker) add(segs []string, path, format string, args ...any) {
	w.problems = append(w.problems, fieldProblem{segs: append([]string(nil), segs...), path: path, message: fmt.Sprintf(format, args...)})
}

// specProblems walks the spec node n of a message with descriptor md.
func specProblems(n *yaml.Node, md protoreflect.MessageDescriptor) []fieldProblem {
	w := &schemaWalker{}
	if n == nil {
		return nil
	}
	w.message(resolve(n), md, []string{"spec"}, "spec", 0)
	return w.problems
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// maxSchemaDepth bounds the walk on hostile input; protojson has its own
// limit, so deeper specs are rejected anyway.
const maxSchemaDepth = 100

func (w *schemaWalker) message(n *yaml.Node, md protoreflect.MessageDescriptor, segs []string, path string, depth int) {
	if depth > maxSchemaDepth {
		w.add(segs, path, "nested too deeply")
		return
	}
	if wellKnown(w, n, md, segs, path, depth) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.add(segs, path, "expected an object with the fields of %s (%s), got %s", md.Name(), fieldList(md), describe(n))
		return
	}
	seen := map[protoreflect.FieldNumber]string{}
	oneofs := map[protoreflect.FullName]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.ShortTag() == "!!merge" || v == nil {
			continue // merge keys: protojson judges the merged result
		}
		name := k.Value
		fsegs, fpath := append(segs, name), path+"."+name
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			fd = md.Fields().ByTextName(name)
		}
		if fd == nil {
			msg := fmt.Sprintf("unknown field %q in %s", name, md.Name())
			if s := suggest.Nearest(name, jsonNames(md)); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			w.add(fsegs, fpath, "%s (fields: %s)", msg, fieldList(md))
			continue
		}
		if prev, dup := seen[fd.Number()]; dup {
			w.add(fsegs, fpath, "field %s is set twice (also as %s); keep one", fd.JSONName(), prev)
			continue
		}
		seen[fd.Number()] = name
		if isNull(v) && !isNullValueEnum(fd) {
			continue // null means unset
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, set := oneofs[od.FullName()]; set {
				w.add(fsegs, fpath, "%s and %s are alternatives (%s): set only one", other, name, od.Name())
			}
			oneofs[od.FullName()] = name
		}
		w.field(v, fd, fsegs, fpath, depth+1)
	}
}

func (w *schemaWalker) field(n *yaml.Node, fd protoreflect.FieldDescriptor, segs []string, path string, depth int) {
	switch {
	case fd.IsMap():
		if n.Kind != yaml.MappingNode {
			w.add(segs, path, "expected a map of %s to %s, got %s", kindName(fd.MapKey().Kind()), expectation(fd.MapValue()), describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], resolve(n.Content[i+1])
			if v == nil {
				continue
			}
			esegs, epath := append(segs, k.Value), path+"."+k.Value
			if msg := mapKeyProblem(k.Value, fd.MapKey()); msg != "" {
				w.add(esegs, epath, "%s", msg)
			}
			w.single(v, fd.MapValue(), esegs, epath, depth+1)
		}
	case fd.IsList():
		if n.Kind != yaml.SequenceNode {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("; write it as a list: [%s]", n.Value)
			} else if n.Kind == yaml.MappingNode {
				hint = "; start the entry with \"- \""
			}
			w.add(segs, path, "expected a list of %s, got %s%s", plural(fd), describe(n), hint)
			return
		}
		for i, c := range n.Content {
			w.single(resolve(c), fd, append(segs, strconv.Itoa(i)), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	default:
		w.single(n, fd, segs, path, depth)
	}
}

// single checks one value of fd (a field, a list element or a map value).
func (w *schemaWalker) single(n *yaml.Node, fd protoreflect.FieldDescriptor, segs []string, path string, depth int) {
	if n == nil {
		return
	}
	if isNull(n) && !isNullValueEnum(fd) && !(fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == "google.protobuf.Value") {
		w.add(segs, path, "expected %s, got null", expectation(fd))
		return
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.message(n, fd.Message(), segs, path, depth+1)
	case protoreflect.EnumKind:
		w.enum(n, fd.Enum(), segs, path)
	default:
		if msg := scalarProblem(n, fd.Kind()); msg != "" {
			w.add(segs, path, "%s", msg)
		}
	}
}

func (w *schemaWalker) enum(n *yaml.Node, ed protoreflect.EnumDescriptor, segs []string, path string) {
	if ed.FullName() == "google.protobuf.NullValue" {
		if !isNull(n) {
			w.add(segs, path, "expected null, got %s", describe(n))
		}
		return
	}
	names := enumNames(ed)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32); err == nil {
				return // proto3 enums are open: any number is accepted
			}
		case "!!str":
			if ed.Values().ByName(protoreflect.Name(n.Value)) != nil {
				return
			}
			msg := fmt.Sprintf("invalid value %q: expected one of %s", n.Value, strings.Join(names, ", "))
			if s := suggest.Nearest(n.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			w.add(segs, path, "%s", msg)
			return
		}
	}
	w.add(segs, path, "expected one of %s, got %s", strings.Join(names, ", "), describe(n))
}

// wellKnown checks the messages that protojson reads from special JSON
// forms; false for any other message.
func wellKnown(w *schemaWalker, n *yaml.Node, md protoreflect.MessageDescriptor, segs []string, path string, depth int) bool {
	switch md.FullName() {
	case "google.protobuf.Duration":
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || !durationRE().MatchString(n.Value) {
			w.add(segs, path, "expected a duration in seconds with an s suffix (5s, 0.5s, 1.250s; 1m is written 60s), got %s", describe(n))
		}
	case "google.protobuf.Timestamp":
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp") {
			w.add(segs, path, "expected an RFC 3339 timestamp such as 2024-01-02T15:04:05Z, got %s", describe(n))
		}
	case "google.protobuf.FieldMask":
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			w.add(segs, path, "expected a comma-separated list of field paths, got %s", describe(n))
		}
	case "google.protobuf.Struct", "google.protobuf.Any", "google.protobuf.Empty":
		if n.Kind != yaml.MappingNode {
			w.add(segs, path, "expected an object, got %s", describe(n))
		}
	case "google.protobuf.ListValue":
		if n.Kind != yaml.SequenceNode {
			w.add(segs, path, "expected a list, got %s", describe(n))
		}
	case "google.protobuf.Value":
		// any JSON value
	case "google.protobuf.BoolValue", "google.protobuf.Int32Value", "google.protobuf.Int64Value",
		"google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.FloatValue",
		"google.protobuf.DoubleValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		w.single(n, md.Fields().ByName("value"), segs, path, depth)
	default:
		return false
	}
	return true
}

// durationRE is protojson's Duration form: signed decimal seconds with at
// most nine fractional digits and an "s".
var durationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-?[0-9]+(\.[0-9]{0,9})?s$`) })

func isNullValueEnum(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "google.protobuf.NullValue"
}

// scalarProblem says why n is not a JSON value protojson accepts for kind k,
// or "".
func scalarProblem(n *yaml.Node, k protoreflect.Kind) string {
	if n.Kind != yaml.ScalarNode {
		return fmt.Sprintf("expected %s, got %s", kindName(k), describe(n))
	}
	tag, v := n.ShortTag(), strings.ReplaceAll(n.Value, "_", "")
	switch k {
	case protoreflect.BoolKind:
		if tag == "!!bool" {
			return ""
		}
	case protoreflect.StringKind:
		switch tag {
		case "!!str", "!!timestamp", "!!binary":
			return ""
		}
		return fmt.Sprintf("expected a string, got %s; quote it: \"%s\"", describe(n), n.Value)
	case protoreflect.BytesKind:
		if tag == "!!str" || tag == "!!binary" {
			if validBase64(n.Value) {
				return ""
			}
			return fmt.Sprintf("expected base64-encoded bytes, got %q", n.Value)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if intIn(tag, v, math.MinInt32, math.MaxInt32) {
			return ""
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if intIn(tag, v, math.MinInt64, math.MaxInt64) {
			return ""
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if uintIn(tag, v, math.MaxUint32) {
			return ""
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if uintIn(tag, v, math.MaxUint64) {
			return ""
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		switch tag {
		case "!!int", "!!float":
			return ""
		case "!!str":
			if v == "NaN" || v == "Infinity" || v == "-Infinity" {
				return ""
			}
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return ""
			}
		}
	}
	return fmt.Sprintf("expected %s, got %s", kindName(k), describe(n))
}

func intIn(tag, v string, lo, hi int64) bool {
	if tag != "!!int" && tag != "!!float" && tag != "!!str" {
		return false
	}
	if i, err := strconv.ParseInt(v, 0, 64); err == nil {
		return i >= lo && i <= hi
	}
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == math.Trunc(f) && f >= float64(lo) && f <= float64(hi)
}

func uintIn(tag, v string, hi uint64) bool {
	if tag != "!!int" && tag != "!!float" && tag != "!!str" {
		return false
	}
	if u, err := strconv.ParseUint(v, 0, 64); err == nil {
		return u <= hi
	}
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == math.Trunc(f) && f >= 0 && f <= float64(hi)
}

func validBase64(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

func mapKeyProblem(key string, fd protoreflect.FieldDescriptor) string {
	var ok bool
	switch fd.Kind() {
	case protoreflect.StringKind:
		return ""
	case protoreflect.BoolKind:
		ok = key == "true" || key == "false"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err := strconv.ParseInt(key, 10, 32)
		ok = err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err := strconv.ParseInt(key, 10, 64)
		ok = err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err := strconv.ParseUint(key, 10, 32)
		ok = err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err := strconv.ParseUint(key, 10, 64)
		ok = err == nil
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("invalid key %q: expected %s", key, kindName(fd.Kind()))
}

// describe names what the user wrote: "the string \"reviews\"", "a list".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "the boolean " + n.Value
		case "!!int", "!!float":
			return "the number " + n.Value
		default:
			return strconv.Quote(n.Value)
		}
	}
	return "a value of another type"
}

func kindName(k protoreflect.Kind) string {
	switch k {
	case protoreflect.BoolKind:
		return "a boolean (true or false)"
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "base64-encoded bytes"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "an integer (32-bit)"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "an integer (64-bit)"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "a non-negative integer (32-bit)"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "a non-negative integer (64-bit)"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	case protoreflect.EnumKind:
		return "an enum value"
	}
	return "an object"
}

// expectation says what one value of fd looks like.
func expectation(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return "one of " + strings.Join(enumNames(fd.Enum()), ", ")
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Duration":
			return "a duration such as 5s"
		case "google.protobuf.Value":
			return "a value"
		}
		return "an object (" + string(fd.Message().Name()) + ")"
	}
	return kindName(fd.Kind())
}

func plural(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "strings"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "objects (" + string(fd.Message().Name()) + ")"
	case protoreflect.EnumKind:
		return "values of " + strings.Join(enumNames(fd.Enum()), ", ")
	}
	return "values (" + kindName(fd.Kind()) + ")"
}

func jsonNames(md protoreflect.MessageDescriptor) []string {
	fs := md.Fields()
	out := make([]string, 0, fs.Len())
	for i := 0; i < fs.Len(); i++ {
		out = append(out, fs.Get(i).JSONName())
	}
	return out
}

func fieldList(md protoreflect.MessageDescriptor) string {
	return strings.Join(jsonNames(md), ", ")
}

func enumNames(ed protoreflect.EnumDescriptor) []string {
	vs := ed.Values()
	out := make([]string, 0, vs.Len())
	for i := 0; i < vs.Len(); i++ {
		out = append(out, string(vs.Get(i).Name()))
	}
	return out
}
