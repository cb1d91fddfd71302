package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshctl/meshctl/manifests"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/suggest"
	"github.com/meshctl/meshctl/pkg/version"
)

// DefaultProfile is used when neither a flag nor a file names a profile.
const DefaultProfile = "default"

// DefaultTag is the tag of meshctl's images when the spec names none: the
// version of this meshctl, so that it installs the images built with it.
func DefaultTag() string { return version.Get().Version }

// ResolveOptions are the layers of an install spec, lowest precedence first:
// the profile, then Files in order, then Sets in order.
type ResolveOptions struct {
	// Profile named on the command line; a file or --set profile=... wins.
	Profile string
	// Files are MeshInstall documents (-f), applied in order.
	Files []string
	// Sets are path=value overrides (--set), applied in order.
	Sets []string
	// MeshNamespace and Revision come from their own flags; empty keeps the
	// spec's value. They apply before Sets, so --set still wins.
	MeshNamespace string
	Revision      string
	// ReadFile reads Files; nil means os.ReadFile. "-" is never special here:
	// commands read stdin themselves.
	ReadFile func(string) ([]byte, error)
}

// Names returns the built-in profile names, sorted.
func Names() []string {
	entries, err := fs.ReadDir(manifests.FS, "profiles")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// ProfileSource returns the YAML of a built-in profile as shipped.
func ProfileSource(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, unknownProfile(name)
	}
	return manifests.FS.ReadFile(path.Join("profiles", name+".yaml"))
}

func unknownProfile(name string) error {
	names := Names()
	msg := fmt.Sprintf("unknown profile %q", name)
	if n := suggest.Nearest(name, names); n != "" {
		msg += fmt.Sprintf(": did you mean %q?", n)
	}
	return fmt.Errorf("%s (built-in profiles: %s; run `meshctl profile list`)", msg, strings.Join(names, ", "))
}

// Profile resolves a built-in profile without overlays.
func Profile(name string) (*MeshInstall, error) {
	return Resolve(ResolveOptions{Profile: name})
}

// parsedProfiles caches the decoded built-in profiles: they never change
// within a process and every resolve starts from them.
var parsedProfiles sync.Map // name -> map[string]any

func profileMap(name string) (map[string]any, error) {
	if v, ok := parsedProfiles.Load(name); ok {
		return deepCopy(v.(map[string]any)), nil
	}
	src, err := ProfileSource(name)
	if err != nil {
		return nil, err
	}
	m, err := parseDocument("profile "+name, src)
	if err != nil {
		return nil, err
	}
	parsedProfiles.Store(name, m)
	return deepCopy(m), nil
}

// InvalidSpecError is an install spec file that is not one: bad YAML, an
// unknown field, a value of the wrong type. Commands report it as bad input,
// not as a wrong command line.
type InvalidSpecError struct{ Err error }

func (e *InvalidSpecError) Error() string { return e.Err.Error() }
func (e *InvalidSpecError) Unwrap() error { return e.Err }

// Resolve merges the layers into one validated spec.
func Resolve(o ResolveOptions) (*MeshInstall, error) {
	read := o.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	var fileMaps []map[string]any
	for _, f := range o.Files {
		b, err := read(f)
		if err != nil {
			return nil, fmt.Errorf("reading install spec: %w", err)
		}
		m, err := parseDocument(f, b)
		if err != nil {
			return nil, &InvalidSpecError{Err: err}
		}
		fileMaps = append(fileMaps, m)
	}
	sets, err := parseSets(o.Sets)
	if err != nil {
		return nil, err
	}

	// The profile is chosen by the highest layer that names one.
	profile := o.Profile
	for _, m := range fileMaps {
		if p, ok := spec(m)["profile"].(string); ok && p != "" {
			profile = p
		}
	}
	for _, s := range sets {
		if strings.Join(s.path, ".") == "spec.profile" {
			profile = s.raw
		}
	}
	if profile == "" {
		profile = DefaultProfile
	}

	merged, err := profileMap(DefaultProfile)
	if err != nil {
		return nil, err
	}
	if profile != DefaultProfile {
		p, err := profileMap(profile)
		if err != nil {
			return nil, err
		}
		merged = merge(merged, p)
	}
	for _, m := range fileMaps {
		merged = merge(merged, m)
	}
	sp := spec(merged)
	sp["profile"] = profile
	if o.MeshNamespace != "" {
		sp["meshNamespace"] = o.MeshNamespace
	}
	if o.Revision != "" {
		sp["revision"] = o.Revision
	}
	if t, _ := sp["tag"].(string); t == "" {
		sp["tag"] = DefaultTag()
	}
	for _, s := range sets {
		if err := s.apply(merged); err != nil {
			return nil, err
		}
	}

	b, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var mi MeshInstall
	if err := dec.Decode(&mi); err != nil {
		// Every layer was checked field by field already; this only catches
		// a value of the wrong type.
		return nil, fmt.Errorf("invalid install spec: %w", err)
	}
	if err := mi.Validate(); err != nil {
		return nil, err
	}
	return &mi, nil
}

func spec(m map[string]any) map[string]any {
	s, ok := m["spec"].(map[string]any)
	if !ok {
		s = map[string]any{}
		m["spec"] = s
	}
	return s
}

// parseDocument reads one MeshInstall document, checking every field name
// against the spec so that a typo is reported with its line and the nearest
// valid name instead of being silently ignored.
func parseDocument(source string, b []byte) (map[string]any, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: only one MeshInstall document is allowed per file", source, extra.Line)
	}
	if len(doc.Content) == 0 {
		return map[string]any{}, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: expected a MeshInstall document (apiVersion: %s, kind: %s)", source, root.Line, APIVersion, Kind)
	}
	if err := checkNode(source, root, reflect.TypeFor[MeshInstall](), ""); err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		if k == "apiVersion" && v.Value != APIVersion {
			return nil, fmt.Errorf("%s:%d: apiVersion %q is not supported: use %s", source, v.Line, v.Value, APIVersion)
		}
		if k == "kind" && v.Value != Kind {
			return nil, fmt.Errorf("%s:%d: kind %q is not supported: use %s", source, v.Line, v.Value, Kind)
		}
	}
	var m map[string]any
	if err := root.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

var (
	textUnmarshaler = reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()
)

// checkNode reports the first field in n that t does not have.
func checkNode(source string, n *yaml.Node, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a mapping", source, n.Line, orRoot(at))
		}
		fields := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return unknownField(fmt.Sprintf("%s:%d", source, k.Line), join(at, k.Value), k.Value, fieldNames(t))
			}
			if err := checkNode(source, n.Content[i+1], ft, join(at, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a mapping", source, n.Line, orRoot(at))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(source, n.Content[i+1], t.Elem(), join(at, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a list", source, n.Line, orRoot(at))
		}
		for i, c := range n.Content {
			if err := checkNode(source, c, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: %s must be a %s", source, n.Line, orRoot(at), kindName(t))
		}
		if _, err := parseScalar(n.Value, t, n.Tag); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", source, n.Line, at, err)
		}
		if t.Kind() == reflect.String && n.Tag != "!!null" {
			// tag: 1.20 is the string "1.20", not the number 1.2.
			n.Tag = "!!str"
		}
	}
	return nil
}

func orRoot(at string) string {
	if at == "" {
		return "the document"
	}
	return at
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

func unknownField(where, path, name string, valid []string) error {
	msg := fmt.Sprintf("unknown field %q", path)
	if where != "" {
		msg = where + ": " + msg
	}
	if n := suggest.Nearest(name, valid); n != "" {
		msg += fmt.Sprintf(": did you mean %q?", n)
	}
	return fmt.Errorf("%s (valid fields here: %s)", msg, strings.Join(valid, ", "))
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for n := range jsonFields(t) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return "string"
}

// parseScalar converts a scalar to the Go kind of t. tag is the YAML tag
// ("!!str" when quoted in a file; "" from --set, where any text is a string).
func parseScalar(s string, t reflect.Type, tag string) (any, error) {
	switch t.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean: use true or false", s)
		}
		return b, nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		i, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return i, nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case reflect.String:
		return s, nil
	case reflect.Interface:
		var v any
		if err := yaml.Unmarshal([]byte(s), &v); err != nil || v == nil {
			return s, nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("%q cannot be set with --set here: use a -f file", s)
}

// merge overlays src onto dst: maps merge key by key, lists of named items
// (gateways) merge item by name, anything else is replaced.
func merge(dst, src map[string]any) map[string]any {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		switch s := sv.(type) {
		case map[string]any:
			if d, ok := dv.(map[string]any); ok {
				dst[k] = merge(d, s)
				continue
			}
		case []any:
			if d, ok := dv.([]any); ok && named(d) && named(s) {
				dst[k] = mergeNamed(d, s)
				continue
			}
		}
		dst[k] = sv
	}
	return dst
}

func named(l []any) bool {
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["name"].(string); !ok {
			return false
		}
	}
	return true
}

func mergeNamed(dst, src []any) []any {
	for _, se := range src {
		sm := se.(map[string]any)
		found := false
		for i, de := range dst {
			dm := de.(map[string]any)
			if dm["name"] == sm["name"] {
				dst[i] = merge(dm, sm)
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, sm)
		}
	}
	return dst
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopy(t)
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopyValue(e)
		}
		return l
	}
	return v
}

// Validate checks values that the types alone do not constrain.
func (m *MeshInstall) Validate() error {
	s := &m.Spec
	var errs []string
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("spec.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if msgs := validation.IsDNS1123Label(s.MeshNamespace); len(msgs) > 0 {
		bad("meshNamespace", "%q is not a valid namespace name: %s", s.MeshNamespace, strings.Join(msgs, "; "))
	}
	if s.Revision != "" {
		if msgs := validation.IsDNS1123Label(s.Revision); len(msgs) > 0 || len(s.Revision) > 20 {
			bad("revision", "%q must be a lowercase DNS label of at most 20 characters (it becomes part of object names)", s.Revision)
		}
	}
	if s.Hub == "" || s.Tag == "" {
		bad("hub", "hub and tag must not be empty (images are <hub>/meshctl:<tag>)")
	}
	oneOf := func(path, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			msg := fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
			if n := suggest.Nearest(v, allowed); n != "" {
				msg += fmt.Sprintf(": did you mean %q?", n)
			}
			bad(path, "%s", msg)
		}
	}
	oneOf("meshConfig.mtls.mode", s.MeshConfig.MTLS.Mode, MTLSPermissive, "STRICT", "DISABLE")
	// The mode is rendered as a PeerAuthentication with the control plane
	// (as the rest of meshConfig is, in its ConfigMap): without it, STRICT
	// would be accepted and never enforced.
	if m := s.MeshConfig.MTLS.Mode; m != MTLSPermissive && !s.Components.Server.Enabled {
		bad("meshConfig.mtls.mode", "%s needs components.server.enabled: the mesh-wide PeerAuthentication is installed with the control plane", m)
	}
	oneOf("meshConfig.outboundTrafficPolicy", s.MeshConfig.OutboundTrafficPolicy, "ALLOW_ANY", "REGISTRY_ONLY")
	if s.MeshConfig.AccessLog.Encoding != "" {
		oneOf("meshConfig.accessLog.encoding", s.MeshConfig.AccessLog.Encoding, "TEXT", "JSON")
	}
	if s.Components.Server.Replicas < 0 {
		bad("components.server.replicas", "must not be negative")
	}
	if a := s.Components.Server.Autoscale; a.Enabled && (a.Min < 1 || a.Max < a.Min) {
		bad("components.server.autoscale", "min must be at least 1 and max at least min (got min %d, max %d)", a.Min, a.Max)
	}
	seen := map[string]string{}
	for _, gws := range []struct {
		path string
		list []Gateway
	}{{"components.ingressGateways", s.Components.IngressGateways}, {"components.egressGateways", s.Components.EgressGateways}} {
		for i, g := range gws.list {
			p := fmt.Sprintf("%s[%d]", gws.path, i)
			if msgs := validation.IsDNS1123Label(g.Name); len(msgs) > 0 {
				bad(p+".name", "%q is not a valid name: %s", g.Name, strings.Join(msgs, "; "))
			}
			if prev, dup := seen[g.Name]; dup {
				bad(p+".name", "%q is already the name of %s", g.Name, prev)
			}
			seen[g.Name] = p
			if g.Replicas < 0 {
				bad(p+".replicas", "must not be negative")
			}
			if g.K8s.ServiceType != "" {
				oneOf(p+".k8s.serviceType", g.K8s.ServiceType, "LoadBalancer", "NodePort", "ClusterIP")
			}
		}
	}
	if len(errs) == 0 {
		// The rules of the mesh config itself are pkg/meshconfig's.
		if _, err := m.RenderedMeshConfig(); err != nil {
			var fe *meshconfig.FieldError
			if errors.As(err, &fe) {
				bad(specPathOf(fe.Path), "%s", fe.Message)
			} else {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid install spec:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// specPathOf names the install spec field a MeshConfig field is rendered
// from, so that an error points at what the user wrote.
func specPathOf(meshPath string) string {
	switch meshPath {
	case "rootNamespace":
		return "meshNamespace"
	case "defaultConfig.tracing.sampling":
		return "meshConfig.tracing.sampling"
	case "defaultConfig.tracing.zipkin.address":
		return "meshConfig.tracing.address"
	}
	return "meshConfig." + meshPath
}

// Inject is a shorthand for callers that need only the injector's config of
// a resolved spec (kube-inject offline).
func Inject(o ResolveOptions) (inject.Config, error) {
	m, err := Resolve(o)
	if err != nil {
		return inject.Config{}, err
	}
	return m.InjectConfig(), nil
}
