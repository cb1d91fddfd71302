package inject

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

// diffFlowMap edits a flow mapping ({app: web, tier: front}) in place, for
// the scalar entries injection adds, changes or removes (labels and
// annotations written in flow style): added entries go before the closing
// brace, removed ones are cut with the separator before them, so that
// uninject gives back exactly the text that was there. Anything else
// (nested values, entries spread oddly over lines) falls back.
//
// A map whose keys are double-quoted is JSON, and what is added to it is
// written as JSON too, so that a JSON document stays JSON.
func (t *textEditor) diffFlowMap(m *yaml.Node, old, new []byte, asJSON bool) error {
	if len(m.Content) > 0 && m.Content[0].Style == yaml.DoubleQuotedStyle {
		asJSON = true
	}
	value := func(v []byte) []byte {
		if asJSON {
			return v
		}
		return flowValue(v)
	}
	oldPairs, err := jsonObject(old)
	if err != nil {
		return err
	}
	newPairs, err := jsonObject(new)
	if err != nil {
		return err
	}
	if len(oldPairs) != len(m.Content)/2 {
		return errFallback
	}
	// Where each entry's key starts and its value ends.
	n := len(m.Content) / 2
	keyStart := make([]int, n)
	valStart := make([]int, n)
	valEnd := make([]int, n)
	index := make(map[string]int, n)
	for i := 0; i < n; i++ {
		k, v := m.Content[2*i], m.Content[2*i+1]
		if k.Kind != yaml.ScalarNode || k.Anchor != "" || v.Anchor != "" {
			return errFallback
		}
		if _, ok := t.scalarEnd(k); !ok {
			return errFallback
		}
		end, ok := t.flowEnd(v)
		if !ok {
			return errFallback
		}
		keyStart[i], valStart[i], valEnd[i] = t.nodeOffset(k), t.nodeOffset(v), end
		index[k.Value] = i
	}
	open := t.nodeOffset(m)
	if open >= len(t.src) || t.src[open] != '{' {
		return errFallback
	}
	oldVals := make(map[string][]byte, len(oldPairs))
	for _, p := range oldPairs {
		oldVals[p.key] = p.val
	}
	newKeys := make(map[string]bool, len(newPairs))
	var added []byte
	for _, p := range newPairs {
		newKeys[p.key] = true
		if ov, ok := oldVals[p.key]; ok && bytes.Equal(ov, p.val) {
			continue
		}
		if i, ok := index[p.key]; ok {
			v := m.Content[2*i+1]
			if ov := oldVals[p.key]; isObjectOrEmpty(ov) && isObjectOrEmpty(p.val) && v.Kind == yaml.MappingNode {
				if err := t.diffFlowMap(v, ov, p.val, asJSON); err != nil {
					return err
				}
				continue
			}
			t.add(valStart[i], valEnd[i], value(p.val))
			continue
		}
		val := value(p.val)
		if n > 0 || len(added) > 0 {
			added = append(added, ", "...)
		}
		key := value(appendJSONString(nil, p.key))
		added = append(added, key...)
		added = append(added, ": "...)
		added = append(added, val...)
	}
	kept := 0
	for i := 0; i < n; i++ {
		if newKeys[m.Content[2*i].Value] {
			kept++
		}
	}
	if n > 0 && kept == 0 {
		// Every entry goes (uninject of `labels: {}`): one cut, as the
		// per-entry cuts below would overlap.
		if len(added) > 0 && bytes.HasPrefix(added, []byte(", ")) {
			added = added[2:]
		}
		t.add(keyStart[0], valEnd[n-1], added)
		return nil
	}
	for i := 0; i < n; i++ {
		if newKeys[m.Content[2*i].Value] {
			continue
		}
		switch {
		case i > 0:
			t.add(valEnd[i-1], valEnd[i], nil)
		case n > 1:
			t.add(keyStart[0], keyStart[1], nil)
		default:
			t.add(keyStart[0], valEnd[0], nil)
		}
	}
	if len(added) > 0 {
		at := open + 1
		if n > 0 {
			at = valEnd[n-1]
		}
		t.add(at, at, added)
	}
	return nil
}

// flowEnd finds where the text of a value inside a flow collection ends.
func (t *textEditor) flowEnd(n *yaml.Node) (int, bool) {
	if n.Kind == yaml.ScalarNode {
		return t.scalarEnd(n)
	}
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
		return 0, false
	}
	src := t.src
	p := t.nodeOffset(n)
	if p >= len(src) || (src[p] != '{' && src[p] != '[') {
		return 0, false
	}
	depth := 0
	for j := p; j < len(src); j++ {
		switch c := src[j]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, true
			}
		case '"', '\'':
			// Skip the quoted scalar.
			for j++; j < len(src) && src[j] != c; j++ {
				if c == '"' && src[j] == '\\' {
					j++
				}
			}
			// A doubled single quote is an escaped one: the scan goes on
			// with the next quoted part, which is the same scalar.
		case '#':
			if j > p && (src[j-1] == ' ' || src[j-1] == '\t' || src[j-1] == '\n') {
				for j < len(src) && src[j] != '\n' {
					j++
				}
			}
		}
	}
	return 0, false
}

func isObjectOrEmpty(b []byte) bool { return len(b) >= 2 && b[0] == '{' }

// flowValue writes a JSON value so that it reads back the same inside a
// flow collection: scalars as flowScalar does, objects and arrays as the
// JSON they are, which is valid flow YAML.
func flowValue(val []byte) []byte {
	if v, ok := flowScalar(val); ok {
		return v
	}
	return val
}

// scalarEnd finds where the text of a one-line flow scalar ends.
func (t *textEditor) scalarEnd(n *yaml.Node) (int, bool) {
	p := t.nodeOffset(n)
	src := t.src
	if p >= len(src) {
		return 0, false
	}
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		if src[p] != '"' {
			return 0, false
		}
		for j := p + 1; j < len(src) && src[j] != '\n'; j++ {
			switch src[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
	case yaml.SingleQuotedStyle:
		if src[p] != '\'' {
			return 0, false
		}
		for j := p + 1; j < len(src) && src[j] != '\n'; j++ {
			if src[j] == '\'' {
				if j+1 < len(src) && src[j+1] == '\'' {
					j++
					continue
				}
				return j + 1, true
			}
		}
	case 0, yaml.FlowStyle:
		j := p
		for j < len(src) && !plainEnds(src, j, p) {
			j++
		}
		end := j
		for end > p && (src[end-1] == ' ' || src[end-1] == '\t' || src[end-1] == '\r') {
			end--
		}
		if string(src[p:end]) == n.Value {
			return end, true
		}
	}
	return 0, false
}

// plainEnds reports whether a plain flow scalar that starts at p ends
// before src[j].
func plainEnds(src []byte, j, p int) bool {
	switch src[j] {
	case ',', '}', ']', '\n':
		return true
	case '#':
		return j > p && (src[j-1] == ' ' || src[j-1] == '\t')
	case ':':
		return j+1 == len(src) || bytes.IndexByte([]byte(" \t\r\n,}]"), src[j+1]) >= 0
	}
	return false
}

// flowScalar writes a JSON scalar so that it reads back the same inside a
// flow collection.
func flowScalar(val []byte) ([]byte, bool) {
	if len(val) == 0 || val[0] == '{' || val[0] == '[' {
		return nil, false
	}
	if val[0] != '"' {
		return val, true // number, true, false, null
	}
	s, err := jsonUnquote(val)
	if err != nil {
		return nil, false
	}
	switch {
	case plainSafe(s) && !strings.ContainsAny(s, ",[]{}"):
		return []byte(s), true
	case bytes.IndexByte(val, '\\') >= 0 && printable(s):
		// JSON inside (the status annotation) reads best single-quoted.
		return []byte("'" + strings.ReplaceAll(s, "'", "''") + "'"), true
	}
	return val, true
}
