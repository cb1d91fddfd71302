// Package meshconfig owns the mesh config: Istio's
// istio.io/api/mesh/v1alpha1.MeshConfig, as the install writes it into the
// mesh ConfigMap (key vocab.ConfigMapKeyMesh) and as kube-inject, the
// injection webhook and the server read it back. There is one parser (with
// the defaults), one set of rules and one writer, so that what install wrote
// is what every reader sees.
//
// It imports nothing heavy (no kustomize, no client-go): the agent and
// analyze may read a mesh config without pulling in the install machinery.
package meshconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"gopkg.in/yaml.v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/vocab"
)

// MeshConfig is Istio's mesh config type; meshctl has no type of its own.
type MeshConfig = meshv1alpha1.MeshConfig

// Default is the mesh config of an install that sets nothing. A field a
// config leaves out keeps this value.
func Default() *MeshConfig {
	return &MeshConfig{
		TrustDomain:   vocab.DefaultTrustDomain,
		RootNamespace: vocab.DefaultMeshNamespace,
		OutboundTrafficPolicy: &meshv1alpha1.MeshConfig_OutboundTrafficPolicy{
			Mode: meshv1alpha1.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
		},
		EnablePrometheusMerge: wrapperspb.Bool(true),
	}
}

// Parse reads a mesh config from YAML or JSON in Istio's MeshConfig schema,
// over Default. source names the input in errors, which carry source:line:
// an unknown field (with the nearest valid name), a value of the wrong type
// or outside its enum, and a value Validate rejects.
func Parse(b []byte, source string) (*MeshConfig, error) {
	return parse(b, source, 0)
}

// ParseFile is Parse for a file that may also be a mesh ConfigMap manifest
// (`kubectl get configmap mesh -o yaml`): then its mesh key is read, and
// lines are counted in the file.
func ParseFile(b []byte, source string) (*MeshConfig, error) {
	data, line, ok, err := configMapKey(b, vocab.ConfigMapKeyMesh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if !ok {
		return Parse(b, source)
	}
	return parse(data, source, line)
}

// FromConfigMapData reads the mesh config out of a mesh ConfigMap's data;
// ok is false when it has no mesh key.
func FromConfigMapData(data map[string]string, source string) (mc *MeshConfig, ok bool, err error) {
	s, ok := data[vocab.ConfigMapKeyMesh]
	if !ok {
		return nil, false, nil
	}
	mc, err = Parse([]byte(s), source+" key "+vocab.ConfigMapKeyMesh)
	return mc, true, err
}

// Marshal writes mc as the mesh ConfigMap holds it: YAML with Istio's field
// names, keys sorted, the same bytes for the same config. A field whose
// default is not its zero value is written even when zero, so that Parse
// gives back exactly mc.
func Marshal(mc *MeshConfig) ([]byte, error) {
	if err := Validate(mc); err != nil {
		return nil, err
	}
	j, err := protojson.Marshal(mc)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	keepZeroes(m, Default().ProtoReflect(), mc.ProtoReflect())
	j, err = json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	return sigsyaml.JSONToYAML(j)
}

// keepZeroes writes the fields that are set in the defaults and zero in msg,
// which protojson leaves out and Parse would then read as the default.
func keepZeroes(out map[string]any, def, msg protoreflect.Message) {
	def.Range(func(fd protoreflect.FieldDescriptor, dv protoreflect.Value) bool {
		if fd.IsList() || fd.IsMap() || fd.ContainingOneof() != nil {
			return true
		}
		name := fd.JSONName()
		if fd.Message() != nil {
			if !msg.Has(fd) || wellKnown(fd.Message()) {
				return true
			}
			sub, _ := out[name].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
			}
			keepZeroes(sub, dv.Message(), msg.Get(fd).Message())
			if len(sub) > 0 {
				out[name] = sub
			}
			return true
		}
		if !msg.Has(fd) {
			out[name] = zeroJSON(fd)
		}
		return true
	})
}

func zeroJSON(fd protoreflect.FieldDescriptor) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return false
	case protoreflect.StringKind, protoreflect.BytesKind:
		return ""
	case protoreflect.EnumKind:
		if v := fd.Enum().Values().ByNumber(0); v != nil {
			return string(v.Name())
		}
	}
	return 0
}

// FieldError is a rule a mesh config breaks; Path is the field in Istio's
// JSON names (defaultConfig.tracing.sampling).
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// The regular expressions here are compiled on first use, not at package
// initialisation, which every meshctl command pays.
var dnsLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) })

// Validate checks the rules the schema cannot express. It returns the
// first broken rule as a *FieldError.
func Validate(mc *MeshConfig) error {
	if mc == nil {
		return errors.New("no mesh config")
	}
	td := mc.GetTrustDomain()
	switch {
	case td == "":
		return &FieldError{"trustDomain", "must be set, e.g. " + vocab.DefaultTrustDomain}
	case len(td) > 255 || strings.Contains(td, "/") || strings.Contains(td, ":"):
		return &FieldError{"trustDomain", fmt.Sprintf("%q is not a trust domain: give a DNS name such as %s, without spiffe:// or a path", td, vocab.DefaultTrustDomain)}
	}
	for _, l := range strings.Split(td, ".") {
		if !dnsLabel().MatchString(l) || len(l) > 63 {
			return &FieldError{"trustDomain", fmt.Sprintf("%q is not a trust domain: use lower-case letters, digits, '-' and '.', e.g. %s", td, vocab.DefaultTrustDomain)}
		}
	}
	if ns := mc.GetRootNamespace(); ns != "" && (!dnsLabel().MatchString(ns) || len(ns) > 63) {
		return &FieldError{"rootNamespace", fmt.Sprintf("%q is not a namespace name", ns)}
	}
	if s := mc.GetDefaultConfig().GetTracing().GetSampling(); s < 0 || s > 100 {
		return &FieldError{"defaultConfig.tracing.sampling", fmt.Sprintf("%v must be a percentage between 0 and 100", s)}
	}
	return nil
}

func parse(b []byte, source string, lineOffset int) (*MeshConfig, error) {
	where := func(line int) string {
		if line <= 0 {
			return source
		}
		return fmt.Sprintf("%s:%d", source, line+lineOffset)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: not a mesh config: %v", source, shiftYAMLError(err, lineOffset))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s: only one mesh config document is allowed", where(extra.Line))
	}
	lines := map[string]int{}
	user := map[string]any{}
	if len(doc.Content) > 0 && doc.Content[0].Tag != "!!null" {
		root := doc.Content[0]
		c := &checker{where: where, lines: lines}
		if err := c.message(root, (&MeshConfig{}).ProtoReflect().Descriptor(), ""); err != nil {
			return nil, err
		}
		if err := root.Decode(&user); err != nil {
			return nil, fmt.Errorf("%s: %v", source, shiftYAMLError(err, lineOffset))
		}
	}
	merged, err := defaultsJSON()
	if err != nil {
		return nil, err
	}
	mergeOver(merged, user)
	j, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	mc := &MeshConfig{}
	if err := protojson.Unmarshal(j, mc); err != nil {
		msg, field := cleanProtoError(err)
		return nil, fmt.Errorf("%s: %s", where(lineOf(lines, field)), msg)
	}
	if err := Validate(mc); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: %s", where(lines[fe.Path]), fe)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return mc, nil
}

func defaultsJSON() (map[string]any, error) {
	j, err := protojson.Marshal(Default())
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(j, &m)
	return m, err
}

// mergeOver writes src over dst: mappings merge, anything else replaces,
// and null keeps the default.
func mergeOver(dst, src map[string]any) {
	for k, v := range src {
		switch v := v.(type) {
		case nil:
		case map[string]any:
			if d, ok := dst[k].(map[string]any); ok {
				mergeOver(d, v)
				continue
			}
			dst[k] = v
		default:
			dst[k] = v
		}
	}
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

// shiftYAMLError counts yaml.v3's line numbers from the start of the file
// when the config was a ConfigMap's value.
func shiftYAMLError(err error, offset int) error {
	if offset == 0 {
		return err
	}
	return errors.New(yamlLine().ReplaceAllStringFunc(err.Error(), func(s string) string {
		var n int
		fmt.Sscanf(s, "line %d", &n)
		return fmt.Sprintf("line %d", n+offset)
	}))
}

var (
	protoPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`) })
	namedField  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?:field|value for) ([A-Za-z_][A-Za-z0-9_.]*)`) })
)

// cleanProtoError drops protojson's offsets into the re-encoded JSON (they
// mean nothing to the user) and returns the field it complains about.
func cleanProtoError(err error) (msg, field string) {
	msg = protoPrefix().ReplaceAllString(err.Error(), "")
	msg = strings.ReplaceAll(msg, "\u00a0", " ")
	if m := namedField().FindStringSubmatch(msg); m != nil {
		f := m[1]
		if i := strings.LastIndex(f, "."); i >= 0 {
			f = f[i+1:]
		}
		return msg, f
	}
	return msg, ""
}

// lineOf finds the line of a field named name (proto or JSON name) anywhere
// in the config.
func lineOf(lines map[string]int, name string) int {
	if name == "" {
		return 0
	}
	best := 0
	for path, l := range lines {
		last := path
		if i := strings.LastIndexAny(path, ".]"); i >= 0 {
			last = path[i+1:]
		}
		if (last == name || last == snakeToCamel(name)) && (best == 0 || l < best) {
			best = l
		}
	}
	return best
}

func snakeToCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// wellKnown reports the google.protobuf messages whose JSON form is not an
// object with their fields (Duration is "5s", BoolValue is true, Struct is
// anything).
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.FullName().Parent() == "google.protobuf"
}

// configMapKey returns data[key] of a ConfigMap manifest and the line
// before its first line in the file.
func configMapKey(b []byte, key string) (data []byte, line int, ok bool, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
		return nil, 0, false, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode || value(root, "kind") == nil || value(root, "kind").Value != "ConfigMap" {
		return nil, 0, false, nil
	}
	d := value(root, "data")
	v := value(d, key)
	if v == nil {
		return nil, 0, false, fmt.Errorf("the ConfigMap has no data.%s key: is it the mesh ConfigMap an install wrote?", key)
	}
	line = v.Line - 1
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line = v.Line
	}
	return []byte(v.Value), line, true, nil
}

func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Equal reports whether two mesh configs are the same.
func Equal(a, b *MeshConfig) bool { return proto.Equal(a, b) }
