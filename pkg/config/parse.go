package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/meshctl/meshctl/internal/parallel"
)

// ErrorKind separates input that is not YAML/JSON at all from objects whose
// content does not fit their kind's schema: the first makes analyze exit with
// ExitDataErr, the second is an ordinary finding.
type ErrorKind string

const (
	ErrSyntax ErrorKind = "syntax"
	ErrSchema ErrorKind = "schema"
)

// ParseError is a document that could not be turned into a Resource.
type ParseError struct {
	Origin Origin    `json:"origin"`
	Kind   ErrorKind `json:"kind"`
	// Object names the object when its kind and name could be read.
	Object *Key `json:"object,omitempty"`
	// Field is the path of the offending field of a schema error
	// ("spec.http[0].route[1].weight"), "" when the error is not about one
	// field.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *ParseError) Error() string {
	if e.Object != nil {
		return fmt.Sprintf("%s: %s: %s", e.Origin, e.Object, e.Detail())
	}
	return fmt.Sprintf("%s: %s", e.Origin, e.Detail())
}

// Detail is the message with the field path in front, for reports that have
// no column of their own for the field.
func (e *ParseError) Detail() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Parse reads every document of one YAML or JSON stream. path is how the
// stream is named in origins ("-" for standard input).
func Parse(path string, data []byte) ([]*Resource, []*ParseError) {
	src := SourceFile
	if path == "-" {
		src = SourceStdin
	}
	docs := splitDocuments(data)
	// Documents are independent: big streams (generated config, a cluster
	// dump) are parsed on every core, in runs of consecutive documents
	// that each core takes in turn, so that one slowed down (by the
	// scheduler, or by documents that cost more) does not leave the others
	// waiting at the end. Results keep the order of the stream.
	const run = 128
	type result struct {
		rs   []*Resource
		errs []*ParseError
	}
	results := make([]result, (len(docs)+run-1)/run)
	parallel.Each(len(results), 1, func(i int) {
		lo, hi := i*run, min((i+1)*run, len(docs))
		results[i].rs, results[i].errs = parseChunk(src, path, data, docs[lo:hi])
	})
	var (
		out  []*Resource
		errs []*ParseError
	)
	for _, r := range results {
		out = append(out, r.rs...)
		errs = append(errs, r.errs...)
	}
	return out, errs
}

// parseChunk reads consecutive documents with one yaml.v3 decoder, which
// allocates half as much as a parser per document; if any of them is not
// valid YAML it parses them one by one, so that the error is reported at its
// document and the others still parse.
func parseChunk(src SourceType, path string, data []byte, docs []document) ([]*Resource, []*ParseError) {
	if len(docs) == 0 {
		return nil, nil
	}
	if rs, errs, ok := decodeStream(src, path, data[docs[0].start:docs[len(docs)-1].end], docs[0].line); ok {
		return rs, errs
	}
	var (
		out  []*Resource
		errs []*ParseError
	)
	for _, d := range docs {
		rs, es := parseDocument(Origin{Source: src, Path: path, Line: d.line}, data[d.start:d.end])
		out = append(out, rs...)
		errs = append(errs, es...)
	}
	return out, errs
}

func decodeStream(src SourceType, path string, text []byte, firstLine int) (rs []*Resource, errs []*ParseError, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			rs, errs, ok = nil, nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	for {
		var root yaml.Node
		if err := dec.Decode(&root); err != nil {
			if errors.Is(err, io.EOF) {
				return rs, errs, true
			}
			return nil, nil, false
		}
		if len(root.Content) == 0 {
			continue
		}
		shiftLines(&root, firstLine-1, 0)
		doc := root.Content[0]
		if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
			continue
		}
		r, e := decodeObject(Origin{Source: src, Path: path, Line: doc.Line}, doc)
		rs = append(rs, r...)
		errs = append(errs, e...)
	}
}

type document struct {
	line       int // first line, 1-based
	start, end int // byte offsets in the stream
}

// splitDocuments cuts a stream at "---" separators so that one broken
// document does not hide the ones after it (yaml.v3's decoder stops at the
// first syntax error).
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine := 0, 1
	line := 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		var l []byte
		next := len(data) + 1
		if end >= 0 {
			l = data[i : i+end]
			next = i + end + 1
		} else {
			l = data[i:]
		}
		if isSeparator(l) {
			docs = append(docs, document{line: startLine, start: start, end: i})
			start, startLine = min(next, len(data)), line+1
		}
		i = next
		line++
	}
	if start < len(data) {
		docs = append(docs, document{line: startLine, start: start, end: len(data)})
	}
	return docs
}

func isSeparator(l []byte) bool {
	l = bytes.TrimRight(l, " \t\r")
	return bytes.Equal(l, []byte("---")) || bytes.HasPrefix(l, []byte("--- "))
}

// The regular expressions of error messages are compiled when a document
// fails, not at package initialisation, which every command pays.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

func parseDocument(origin Origin, text []byte) (rs []*Resource, errs []*ParseError) {
	defer func() {
		// The YAML and protobuf libraries are not ours; a panic on hostile
		// input must become a report, never a crash.
		if p := recover(); p != nil {
			rs = nil
			errs = []*ParseError{{Origin: origin, Kind: ErrSyntax, Message: fmt.Sprintf("cannot parse document: %v", p)}}
		}
	}()
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		o := origin
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine().FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			o.Line = origin.Line + n - 1
			msg = strings.Replace(msg, m[0], "line "+strconv.Itoa(o.Line), 1)
		}
		return nil, []*ParseError{{Origin: o, Kind: ErrSyntax, Message: "invalid YAML: " + msg + "; fix the syntax (indentation, quotes, tabs)"}}
	}
	if len(root.Content) == 0 {
		return nil, nil // comments only
	}
	shiftLines(&root, origin.Line-1, 0)
	doc := root.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil, nil
	}
	origin.Line = doc.Line
	return decodeObject(origin, doc)
}

func shiftLines(n *yaml.Node, by int, depth int) {
	if depth > 10000 {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by, depth+1)
	}
}

func scalar(n *yaml.Node, key string) string {
	v, _ := child(n, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

func decodeObject(origin Origin, n *yaml.Node) ([]*Resource, []*ParseError) {
	if n.Kind != yaml.MappingNode {
		return nil, []*ParseError{{Origin: origin, Kind: ErrSyntax, Message: "document is not a Kubernetes object (a mapping with apiVersion and kind)"}}
	}
	apiVersion, kind := scalar(n, "apiVersion"), scalar(n, "kind")
	if kind == "" || apiVersion == "" {
		return nil, []*ParseError{{Origin: origin, Kind: ErrSyntax, Message: "document has no apiVersion or kind; every object needs both"}}
	}
	if items, _ := child(n, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		var (
			rs   []*Resource
			errs []*ParseError
		)
		for _, it := range items.Content {
			o := origin
			o.Line = it.Line
			r, e := decodeObject(o, it)
			rs = append(rs, r...)
			errs = append(errs, e...)
		}
		return rs, errs
	}

	r := &Resource{Kind: unmodelledKind(apiVersion, kind), APIVersion: apiVersion, Origin: origin, node: n}
	if md := nodeAt(n, "metadata"); md != nil && !decodeMetaFast(md, &r.ObjectMeta) {
		r.ObjectMeta = metav1.ObjectMeta{}
		b, err := JSONOf(md)
		if err != nil {
			o, msg := nodeErrorAt(at(r, "metadata"), err)
			return nil, []*ParseError{{Origin: o, Kind: ErrSyntax, Message: "cannot read metadata: " + msg}}
		}
		if err := json.Unmarshal(b, &r.ObjectMeta); err != nil {
			return nil, []*ParseError{{Origin: at(r, "metadata"), Kind: ErrSchema, Object: keyPtr(r), Message: "invalid metadata: " + cleanJSONError(err)}}
		}
	}

	info, ok := LookupKind(apiVersion, kind)
	if !ok {
		if k, known := indexes().byGroupKind[schema.GroupKind{Group: groupOf(apiVersion), Kind: kind}]; known {
			return nil, []*ParseError{{Origin: at(r, "apiVersion"), Kind: ErrSchema, Object: keyPtr(r),
				Message: fmt.Sprintf("%s is not served for %s; use apiVersion %s", apiVersion, kind, k.GroupVersion())}}
		}
		return []*Resource{r}, nil // not modelled: kept, without Spec
	}
	r.Kind = info.Kind
	spec := info.newSpec()
	if info.Mesh {
		sn := nodeAt(n, "spec")
		if sn != nil && sn.ShortTag() != strNull && decodeProtoFast(sn, spec.(proto.Message).ProtoReflect(), 0) {
			r.Spec = spec
			return []*Resource{r}, nil
		}
		spec = info.newSpec()
		specRaw := []byte("{}")
		if sn != nil && sn.ShortTag() != strNull {
			b, err := JSONOf(sn)
			if err != nil {
				o, msg := nodeErrorAt(at(r, "spec"), err)
				return nil, []*ParseError{{Origin: o, Kind: ErrSyntax, Object: keyPtr(r), Message: "cannot read spec: " + msg}}
			}
			specRaw = b
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(specRaw, spec.(proto.Message)); err != nil {
			if ps := specProblems(nodeAt(n, "spec"), spec.(proto.Message).ProtoReflect().Descriptor()); len(ps) > 0 {
				errs := make([]*ParseError, 0, len(ps))
				for _, p := range ps {
					o := r.Origin
					o.Line = r.LineAt(p.segs)
					errs = append(errs, &ParseError{Origin: o, Kind: ErrSchema, Object: keyPtr(r), Field: p.path, Message: p.message})
				}
				return nil, errs
			}
			msg, field := cleanProtoError(err)
			o := at(r, "spec")
			if field != "" {
				if l := findKeyLine(nodeAt(n, "spec"), field); l > 0 {
					o.Line = l
				}
			}
			return nil, []*ParseError{{Origin: o, Kind: ErrSchema, Object: keyPtr(r), Message: msg}}
		}
	} else {
		raw, err := JSONOf(n)
		if err != nil {
			o, msg := nodeErrorAt(origin, err)
			return nil, []*ParseError{{Origin: o, Kind: ErrSyntax, Object: keyPtr(r), Message: "cannot read object: " + msg}}
		}
		if errs := decodeStrict(r, raw, spec, info.newSpec); len(errs) > 0 {
			return nil, errs
		}
	}
	r.Spec = spec
	return []*Resource{r}, nil
}

// decodeStrict decodes a Kubernetes object as the API server does (case
// sensitive, unknown and duplicate fields are errors: kubectl's default
// strict field validation), and names each problem's field path and line.
func decodeStrict(r *Resource, raw []byte, v any, fresh func() any) []*ParseError {
	var errs []*ParseError
	add := func(field, msg string) {
		o := r.Origin
		if field != "" {
			o.Line = r.LineAt(splitPath(field))
		}
		errs = append(errs, &ParseError{Origin: o, Kind: ErrSchema, Object: keyPtr(r), Field: field, Message: msg})
	}
	// A wrong type stops the decoder, and with it the unknown-field checks:
	// each one found is taken out and the object decoded again, so that all
	// of an object's errors are reported in one run (up to a bound).
	for range 32 {
		strict, err := kjson.UnmarshalStrict(raw, v, kjson.DisallowUnknownFields)
		if err == nil {
			for _, e := range strict {
				var fe kjson.FieldError
				if !errors.As(e, &fe) {
					add("", e.Error())
					continue
				}
				// Repeated keys never get here: JSONOf refuses them.
				add(fe.FieldPath(), fmt.Sprintf("unknown field; check its spelling and indentation against the %s reference, or remove it", r.Kind))
			}
			return errs
		}
		// encoding/json's error exports the field path; the strict
		// decoder's does not. Only invalid input pays for this.
		var te *json.UnmarshalTypeError
		if e := json.Unmarshal(raw, fresh()); !errors.As(e, &te) || te.Field == "" {
			add("", cleanJSONError(err))
			return errs
		}
		pruned, path, ok := withoutField(raw, strings.Split(te.Field, "."))
		if !ok {
			add(te.Field, fmt.Sprintf("expected %s, got %s", jsonTypeName(te.Type.Kind().String()), te.Value))
			return errs
		}
		add(path, fmt.Sprintf("expected %s, got %s", jsonTypeName(te.Type.Kind().String()), te.Value))
		raw = pruned
	}
	return errs
}

// withoutField removes the first field at path (encoding/json's form,
// without list indexes) from a JSON object, and returns the object and the
// field's path with indexes (spec.ports[1].port).
func withoutField(raw []byte, path []string) ([]byte, string, bool) {
	var doc any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&doc) != nil {
		return nil, "", false
	}
	var remove func(n any, segs []string) (string, bool)
	remove = func(n any, segs []string) (string, bool) {
		switch n := n.(type) {
		case map[string]any:
			c, ok := n[segs[0]]
			if !ok {
				// encoding/json names the Go type of an embedded struct
				// (the Gateway API's BackendRef embeds
				// BackendObjectReference), which JSON does not have.
				if len(segs) > 1 {
					return remove(n, segs[1:])
				}
				return "", false
			}
			if len(segs) == 1 {
				delete(n, segs[0])
				return segs[0], true
			}
			rest, ok := remove(c, segs[1:])
			if !ok {
				return "", false
			}
			if strings.HasPrefix(rest, "[") {
				return segs[0] + rest, true
			}
			return segs[0] + "." + rest, true
		case []any:
			for i, el := range n {
				if rest, ok := remove(el, segs); ok {
					if strings.HasPrefix(rest, "[") {
						return fmt.Sprintf("[%d]%s", i, rest), true
					}
					return fmt.Sprintf("[%d].%s", i, rest), true
				}
			}
		}
		return "", false
	}
	p, ok := remove(doc, path)
	if !ok {
		return nil, "", false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, "", false
	}
	return out, p, true
}

// jsonTypeName says a Go kind the way a YAML author thinks of it.
func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "string":
		return "a string"
	case kind == "slice", kind == "array":
		return "a list"
	case kind == "struct", kind == "map":
		return "a mapping"
	}
	return kind
}

// nodeErrorAt points at the line of the node JSONOf could not convert.
func nodeErrorAt(o Origin, err error) (Origin, string) {
	var ne *NodeError
	if errors.As(err, &ne) {
		if ne.Line > 0 {
			o.Line = ne.Line
		}
		return o, ne.Message
	}
	return o, err.Error()
}

func groupOf(apiVersion string) string {
	g, _ := splitAPIVersion(apiVersion)
	return g
}

func keyPtr(r *Resource) *Key {
	k := r.Key()
	return &k
}

func at(r *Resource, path string) Origin {
	o := r.Origin
	o.Line = r.Line(path)
	return o
}

func nodeAt(n *yaml.Node, key string) *yaml.Node {
	v, _ := child(n, key)
	return v
}

// findKeyLine returns the line of the first mapping key named name below n,
// so that a schema error points at the offending field.
func findKeyLine(n *yaml.Node, name string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name || snakeToCamel(n.Content[i].Value) == name || snakeToCamel(name) == n.Content[i].Value {
				return n.Content[i].Line
			}
		}
	}
	for _, c := range n.Content {
		if l := findKeyLine(c, name); l > 0 {
			return l
		}
	}
	return 0
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

var protoErrorRE = sync.OnceValue(func() *protoErrorPatterns {
	return &protoErrorPatterns{
		prefix:       regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`),
		unknownField: regexp.MustCompile(`unknown field "([^"]+)"`),
		namedField:   regexp.MustCompile(`field ([A-Za-z_][A-Za-z0-9_.]*)`),
	}
})

type protoErrorPatterns struct{ prefix, unknownField, namedField *regexp.Regexp }

// cleanProtoError drops protojson's offsets into the re-encoded JSON (they
// mean nothing to the user) and returns the field it complains about.
func cleanProtoError(err error) (msg, field string) {
	re := protoErrorRE()
	msg = re.prefix.ReplaceAllString(err.Error(), "")
	msg = strings.ReplaceAll(msg, "\u00a0", " ")
	if m := re.unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown field %q in spec; check its spelling and indentation against the API reference", m[1]), m[1]
	}
	if m := re.namedField.FindStringSubmatch(msg); m != nil {
		f := m[1]
		if i := strings.LastIndex(f, "."); i >= 0 {
			f = f[i+1:]
		}
		return msg, f
	}
	return msg, ""
}

func cleanJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// DefaultNamespace sets ns on namespaced objects that have none, as kubectl
// apply -n would.
func DefaultNamespace(rs []*Resource, ns string) {
	for _, r := range rs {
		info, ok := InfoFor(r.Kind)
		if !ok || !info.Namespaced || r.Namespace != "" {
			continue
		}
		r.Namespace = ns
		if m := objectMeta(r.Spec); m != nil {
			m.Namespace = ns
		}
	}
}

func objectMeta(spec any) *metav1.ObjectMeta {
	if o, ok := spec.(metav1.ObjectMetaAccessor); ok {
		if m, ok := o.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m
		}
	}
	return nil
}

// DefaultNamespaceErrors does for the objects named by parse errors what
// DefaultNamespace does for resources, so that both are reported alike.
func DefaultNamespaceErrors(errs []*ParseError, ns string) {
	for _, e := range errs {
		if e.Object == nil || e.Object.Namespace != "" {
			continue
		}
		if info, ok := InfoFor(e.Object.Kind); ok && info.Namespaced {
			e.Object.Namespace = ns
		}
	}
}
