package validation

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/meshctl/meshctl/pkg/config"
)

// Deprecations returns the deprecated fields and enum values that r sets,
// read from the API's own deprecation markers so that the list follows the
// istio.io/api version meshctl is built with.
func Deprecations(r *config.Resource) []Issue {
	m, ok := r.Spec.(proto.Message)
	if !ok {
		return nil
	}
	var out issues
	walkDeprecated(&out, "spec", m.ProtoReflect(), 0)
	return out
}

func walkDeprecated(out *issues, path string, m protoreflect.Message, depth int) {
	if depth > 64 || !mayDeprecate(m.Descriptor()) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		opts, _ := fd.Options().(*descriptorpb.FieldOptions)
		if !opts.GetDeprecated() && !valuesMayDeprecate(fd) {
			return true // nothing to report at or below this field: no path to build
		}
		p := path + "." + fd.JSONName()
		if opts.GetDeprecated() {
			out.warnf(p, "field %s is deprecated; see the API reference for its replacement", fd.JSONName())
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visitValue(out, fmt.Sprintf("%s[%d]", p, i), fd, l.Get(i), depth)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				visitValue(out, p+"."+k.String(), fd.MapValue(), mv, depth)
				return true
			})
		default:
			visitValue(out, p, fd, v, depth)
		}
		return true
	})
}

func visitValue(out *issues, path string, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walkDeprecated(out, path, v.Message(), depth+1)
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return
		}
		if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			out.warnf(path, "value %s is deprecated; see the API reference for its replacement", ev.Name())
		}
	}
}

// valuesMayDeprecate reports whether the values of field fd (its elements,
// its map values) can be or hold something deprecated.
func valuesMayDeprecate(fd protoreflect.FieldDescriptor) bool {
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return mayDeprecate(fd.Message())
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		for j := 0; j < vals.Len(); j++ {
			if opts, ok := vals.Get(j).Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
				return true
			}
		}
	}
	return false
}

// deprecating caches mayDeprecate per message type.
var deprecating sync.Map // protoreflect.FullName -> bool

// mayDeprecate reports whether a message of type md can hold a deprecated
// field or enum value at any depth. Most of a mesh object's messages
// cannot, and walking them (a path string per field) was most of the cost
// of Deprecations.
func mayDeprecate(md protoreflect.MessageDescriptor) bool {
	if v, ok := deprecating.Load(md.FullName()); ok {
		return v.(bool)
	}
	// Everything reachable from md, cycles included, then whether any of
	// it is marked.
	seen := map[protoreflect.FullName]bool{}
	var found bool
	var visit func(md protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if found || seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := 0; i < fields.Len() && !found; i++ {
			fd := fields.Get(i)
			if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
				found = true
				return
			}
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				visit(fd.Message())
			case protoreflect.EnumKind:
				vals := fd.Enum().Values()
				for j := 0; j < vals.Len(); j++ {
					if opts, ok := vals.Get(j).Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
						found = true
						return
					}
				}
			}
		}
	}
	visit(md)
	deprecating.Store(md.FullName(), found)
	return found
}
