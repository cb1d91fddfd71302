package profiles

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// setOp is one --set path=value, checked against the spec's type.
type setOp struct {
	arg   string   // as given, for errors
	path  []string // map keys; list indexes are separate "[N]" elements
	raw   string
	value any
}

func parseSets(args []string) ([]setOp, error) {
	var ops []setOp
	for _, a := range args {
		p, v, ok := strings.Cut(a, "=")
		if !ok || p == "" {
			return nil, fmt.Errorf("--set %s: expected path=value, e.g. --set components.server.replicas=2", a)
		}
		path, err := splitPath(p)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", a, err)
		}
		if path[0] != "spec" && path[0] != "apiVersion" && path[0] != "kind" {
			// The spec is the only part worth setting; let users omit "spec.".
			path = append([]string{"spec"}, path...)
		}
		val, err := checkPath(path, v)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", a, err)
		}
		ops = append(ops, setOp{arg: a, path: path, raw: v, value: val})
	}
	return ops, nil
}

// splitPath splits a.b[0].c into keys; "\." keeps a dot inside a key
// (annotation names such as prometheus\.io/scrape).
func splitPath(p string) ([]string, error) {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && p[i+1] == '.':
			cur.WriteByte('.')
			i++
		case c == '.':
			flush()
		case c == '[':
			flush()
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in path %q", p)
			}
			idx := p[i+1 : i+end]
			if _, err := strconv.Atoi(idx); err != nil {
				return nil, fmt.Errorf("list index %q in path %q is not a number", idx, p)
			}
			out = append(out, "["+idx+"]")
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return out, nil
}

// checkPath walks the spec's type along path and converts the value to the
// type found at its end.
func checkPath(path []string, raw string) (any, error) {
	t := reflect.TypeFor[MeshInstall]()
	at := ""
	for _, k := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		isIndex := strings.HasPrefix(k, "[")
		switch {
		case t.Kind() == reflect.Interface:
			// Free-form values: anything below is accepted.
			return parseScalar(raw, t, "")
		case t.Kind() == reflect.Struct && !isIndex:
			fields := jsonFields(t)
			ft, ok := fields[k]
			if !ok {
				return nil, unknownField("", strings.TrimPrefix(join(at, k), "spec."), k, fieldNames(t))
			}
			t = ft
			at = join(at, k)
		case t.Kind() == reflect.Map && !isIndex:
			t = t.Elem()
			at = join(at, k)
		case t.Kind() == reflect.Slice && isIndex:
			t = t.Elem()
			at += k
		case isIndex:
			return nil, fmt.Errorf("%s is not a list", strings.TrimPrefix(at, "spec."))
		default:
			return nil, fmt.Errorf("%s is a %s and has no field %q", strings.TrimPrefix(at, "spec."), kindName(t), k)
		}
	}
	v, err := parseScalar(raw, t, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(at, "spec."), err)
	}
	return v, nil
}

// apply writes the value into the merged document, creating maps on the way
// and requiring list items to exist (an index past the end is a mistake).
func (s setOp) apply(doc map[string]any) error {
	var cur any = doc
	for i, k := range s.path {
		last := i == len(s.path)-1
		if strings.HasPrefix(k, "[") {
			idx, _ := strconv.Atoi(k[1 : len(k)-1])
			l, _ := cur.([]any)
			if idx < 0 || idx >= len(l) {
				return fmt.Errorf("--set %s: index %d is out of range: the list has %d item(s)", s.arg, idx, len(l))
			}
			if last {
				l[idx] = s.value
				return nil
			}
			if l[idx] == nil {
				l[idx] = map[string]any{}
			}
			cur = l[idx]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("--set %s: %s is not a mapping", s.arg, strings.Join(s.path[:i], "."))
		}
		if last {
			m[k] = s.value
			return nil
		}
		next, ok := m[k]
		if !ok || next == nil {
			if strings.HasPrefix(s.path[i+1], "[") {
				return fmt.Errorf("--set %s: %s has no items", s.arg, strings.Join(s.path[1:i+1], "."))
			}
			next = map[string]any{}
			m[k] = next
		}
		cur = next
	}
	return nil
}
