package configdiff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fields maps a field path ("trafficPolicy.tls.mode") to its value as shown
// to the user. Lists of objects are keyed by a stable identity (the name, or
// the port) rather than by index, so that inserting one port or server does
// not make every following element look changed.
type fields map[string]value

type value struct {
	v string
	// raw is the path with list indexes ("servers[1].hosts"), which is what
	// config.Resource.Line understands.
	raw string
}

// flatten turns a protobuf message into fields, using the field names users
// write in YAML (protojson's lowerCamelCase).
func flatten(m proto.Message) fields {
	out := fields{}
	// Most routes carry nothing but their match and destinations; skip the
	// JSON round trip for what is left empty.
	if m == nil || proto.Size(m) == 0 {
		return out
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		out["(unprintable)"] = value{v: err.Error()}
		return out
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		out["(unprintable)"] = value{v: err.Error()}
		return out
	}
	walk("", "", v, out)
	return out
}

func walk(prefix, raw string, v any, out fields) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			if prefix != "" {
				out[prefix] = value{"{}", raw}
			}
			return
		}
		for k, x := range t {
			walk(join(prefix, k), join(raw, k), x, out)
		}
	case []any:
		if allScalars(t) {
			parts := make([]string, len(t))
			for i, x := range t {
				parts[i] = scalar(x)
			}
			out[prefix] = value{"[" + strings.Join(parts, ", ") + "]", raw}
			return
		}
		seen := map[string]int{}
		for i, x := range t {
			id := identity(x, i)
			seen[id]++
			if seen[id] > 1 {
				id = fmt.Sprintf("%s#%d", id, seen[id])
			}
			walk(prefix+"["+id+"]", fmt.Sprintf("%s[%d]", raw, i), x, out)
		}
	default:
		out[prefix] = value{scalar(t), raw}
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func allScalars(l []any) bool {
	for _, x := range l {
		switch x.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// identity names one element of a list of objects: its name, else its port
// number, else its position.
func identity(x any, i int) string {
	m, ok := x.(map[string]any)
	if !ok {
		return strconv.Itoa(i)
	}
	if n, ok := m["name"].(string); ok && n != "" {
		return n
	}
	if p, ok := m["port"].(map[string]any); ok {
		if n, ok := p["number"]; ok {
			return "port=" + scalar(n)
		}
	}
	if n, ok := m["number"]; ok {
		return "port=" + scalar(n)
	}
	return strconv.Itoa(i)
}

func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	return fmt.Sprint(v)
}

// without returns f minus the fields under any of the given top-level names.
func (f fields) without(names ...string) fields {
	out := fields{}
	for k, v := range f {
		drop := false
		for _, n := range names {
			if k == n || strings.HasPrefix(k, n+".") || strings.HasPrefix(k, n+"[") {
				drop = true
				break
			}
		}
		if !drop {
			out[k] = v
		}
	}
	return out
}

// pairs renders fields as sorted "path=value" terms.
func (f fields) pairs() []string {
	keys := f.keys()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + f[k].v
	}
	return out
}

func (f fields) keys() []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fieldChange is one differing field (or list element) between two
// flattened values.
type fieldChange struct {
	op            Op
	path          string
	before, after string
	// raw is the indexed path on the side that has the field: NEW, or OLD
	// for a removal.
	raw string
}

// diffFields compares two flattened values field by field, in path order. A
// list element that only one side has is one change, not one per field.
func diffFields(old, cur fields) []fieldChange {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []fieldChange
	grouped := map[string]int{} // element path → index in out
	for _, k := range sorted {
		b, inOld := old[k]
		a, inNew := cur[k]
		switch {
		case inOld && inNew && a.v != b.v:
			out = append(out, fieldChange{Changed, k, b.v, a.v, a.raw})
		case inOld != inNew:
			op, other, v := Added, old, a
			if inOld {
				op, other, v = Removed, cur, b
			}
			el, rawEl, rest := element(k, v.raw, other)
			if el == "" {
				fc := fieldChange{op: op, path: k, raw: v.raw}
				if op == Added {
					fc.after = v.v
				} else {
					fc.before = v.v
				}
				out = append(out, fc)
				continue
			}
			term := rest + "=" + v.v
			if i, ok := grouped[el]; ok {
				if op == Added {
					out[i].after += ", " + term
				} else {
					out[i].before += ", " + term
				}
				continue
			}
			grouped[el] = len(out)
			fc := fieldChange{op: op, path: el, raw: rawEl}
			if op == Added {
				fc.after = term
			} else {
				fc.before = term
			}
			out = append(out, fc)
		}
	}
	return out
}

// element finds the outermost list element on the path of k that the other
// side lacks entirely, and returns its path, its indexed path and the rest of
// k below it; "" when every element on the path exists on both sides.
func element(k, raw string, other fields) (el, rawEl, rest string) {
	depth := 0
	for i := 0; i < len(k); i++ {
		if k[i] != ']' {
			continue
		}
		depth++
		p := k[:i+1]
		if !hasPrefix(other, p) {
			return p, rawPrefix(raw, depth), strings.TrimPrefix(k[i+1:], ".")
		}
	}
	return "", "", ""
}

func hasPrefix(f fields, p string) bool {
	for k := range f {
		if k == p || strings.HasPrefix(k, p+".") || strings.HasPrefix(k, p+"[") {
			return true
		}
	}
	return false
}

// rawPrefix cuts an indexed path after its n-th "]".
func rawPrefix(raw string, n int) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] == ']' {
			n--
			if n == 0 {
				return raw[:i+1]
			}
		}
	}
	return raw
}

// text renders a field change: "tls.mode: DISABLE → ISTIO_MUTUAL" for a
// change, "tls.mode: ISTIO_MUTUAL" for an added or removed field.
func (c fieldChange) text() string {
	switch c.op {
	case Added:
		return c.path + ": " + c.after
	case Removed:
		return c.path + ": " + c.before
	}
	return c.path + ": " + c.before + " → " + c.after
}
