package inject

import (
	"bytes"
	"errors"
	"strings"
)

// This file renders compact JSON (as encoding/json writes it) as block YAML.
// Generic YAML encoders cost seconds for megabytes of sidecars; the added
// parts of a pod are already JSON from their Kubernetes types, and copying
// them into YAML syntax is a single pass.

var errBadJSON = errors.New("inject: malformed JSON")

// jsonEnd returns the index just past the JSON value starting at b[i].
func jsonEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errBadJSON
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := jsonEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		return j, nil
	}
}

type jsonPair struct {
	key string
	val []byte
}

// jsonObject splits a compact JSON object into its pairs, in order.
func jsonObject(b []byte) ([]jsonPair, error) {
	if len(b) < 2 || b[0] != '{' {
		return nil, errBadJSON
	}
	var out []jsonPair
	i := 1
	for i < len(b) && b[i] != '}' {
		kend, err := jsonEnd(b, i)
		if err != nil {
			return nil, err
		}
		key, err := jsonUnquote(b[i:kend])
		if err != nil {
			return nil, err
		}
		if kend >= len(b) || b[kend] != ':' {
			return nil, errBadJSON
		}
		vend, err := jsonEnd(b, kend+1)
		if err != nil {
			return nil, err
		}
		out = append(out, jsonPair{key, b[kend+1 : vend]})
		i = vend
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	return out, nil
}

// jsonArray splits a compact JSON array into its elements.
func jsonArray(b []byte) ([][]byte, error) {
	if len(b) < 2 || b[0] != '[' {
		return nil, errBadJSON
	}
	var out [][]byte
	i := 1
	for i < len(b) && b[i] != ']' {
		end, err := jsonEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b[i:end])
		i = end
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	return out, nil
}

func jsonUnquote(q []byte) (string, error) {
	if len(q) < 2 || q[0] != '"' {
		return "", errBadJSON
	}
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	if err := jsonUnmarshal(q, &s); err != nil {
		return "", err
	}
	return s, nil
}

func isObject(b []byte) bool { return len(b) > 2 && b[0] == '{' }
func isArray(b []byte) bool  { return len(b) > 2 && b[0] == '[' }

// emitter writes block YAML in the layout of the document it splices into.
type emitter struct {
	unit      int // spaces per mapping level
	seqOffset int // 0 for "key:\n- item" (kubectl's style), unit for indented
	// cache holds rendered items: most of a sidecar (mesh-init, the
	// volumes) is the same in every workload of an input.
	cache *renderCache
}

type renderCache struct {
	m   map[string][]byte
	key []byte
}

const maxCached = 4096

// cached writes what render writes for val at indent, remembering it.
func (e emitter) cached(buf *bytes.Buffer, kind byte, indent int, val []byte, render func() error) error {
	// Small values are cheaper to render than to look up; the largest are
	// per-workload (the proxy container with its env) and would only churn
	// the cache, while their parts are cached one level down.
	if e.cache == nil || len(val) < 48 || len(val) > 2048 {
		return render()
	}
	c := e.cache
	c.key = append(c.key[:0], kind, byte(indent), byte(e.unit), byte(e.seqOffset))
	c.key = append(c.key, val...)
	if r, ok := c.m[string(c.key)]; ok {
		buf.Write(r)
		return nil
	}
	k := string(c.key)
	start := buf.Len()
	if err := render(); err != nil {
		return err
	}
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string][]byte{}
	}
	c.m[k] = append([]byte(nil), buf.Bytes()[start:]...)
	return nil
}

const manySpaces = "                                                                "

func spaces(buf *bytes.Buffer, n int) {
	for n > len(manySpaces) {
		buf.WriteString(manySpaces)
		n -= len(manySpaces)
	}
	buf.WriteString(manySpaces[:n])
}

// pair writes "key: value" at indent; the first line's indent is written
// only when indentFirst (a pair following "- " has it already).
func (e emitter) pair(buf *bytes.Buffer, indent int, key string, val []byte, indentFirst bool) error {
	if indentFirst {
		spaces(buf, indent)
	}
	writeString(buf, key)
	buf.WriteByte(':')
	return e.afterColon(buf, indent, val)
}

func (e emitter) afterColon(buf *bytes.Buffer, indent int, val []byte) error {
	if len(val) > 0 && (val[0] == '{' || val[0] == '[') {
		return e.cached(buf, ':', indent, val, func() error { return e.afterColonUncached(buf, indent, val) })
	}
	return e.afterColonUncached(buf, indent, val)
}

func (e emitter) afterColonUncached(buf *bytes.Buffer, indent int, val []byte) error {
	switch {
	case isObject(val):
		pairs, err := jsonObject(val)
		if err != nil {
			return err
		}
		buf.WriteByte('\n')
		for _, p := range pairs {
			if string(p.val) == "null" {
				continue // creationTimestamp: null and the like say nothing
			}
			if err := e.pair(buf, indent+e.unit, p.key, p.val, true); err != nil {
				return err
			}
		}
		return nil
	case isArray(val):
		items, err := jsonArray(val)
		if err != nil {
			return err
		}
		buf.WriteByte('\n')
		for _, it := range items {
			if err := e.item(buf, indent+e.seqOffset, it); err != nil {
				return err
			}
		}
		return nil
	}
	buf.WriteByte(' ')
	if err := writeScalar(buf, val); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

// item writes "- value" with the dash at dashIndent.
func (e emitter) item(buf *bytes.Buffer, dashIndent int, val []byte) error {
	return e.cached(buf, '-', dashIndent, val, func() error { return e.itemUncached(buf, dashIndent, val) })
}

func (e emitter) itemUncached(buf *bytes.Buffer, dashIndent int, val []byte) error {
	spaces(buf, dashIndent)
	buf.WriteString("- ")
	switch {
	case isObject(val):
		pairs, err := jsonObject(val)
		if err != nil {
			return err
		}
		for i, p := range pairs {
			if err := e.pair(buf, dashIndent+2, p.key, p.val, i > 0); err != nil {
				return err
			}
		}
		return nil
	case isArray(val):
		// Lists of lists do not occur in pod specs; flow style is valid YAML.
		buf.Write(val)
		buf.WriteByte('\n')
		return nil
	}
	if err := writeScalar(buf, val); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

func writeScalar(buf *bytes.Buffer, val []byte) error {
	if len(val) == 0 {
		return errBadJSON
	}
	if val[0] != '"' {
		buf.Write(val) // number, true, false, null, {} or []
		return nil
	}
	if bytes.IndexByte(val, '\\') < 0 {
		if plainSafe(string(val[1 : len(val)-1])) {
			buf.Write(val[1 : len(val)-1])
		} else {
			buf.Write(val) // "15020", "true": strings that look like numbers or bools
		}
		return nil
	}
	// Strings of JSON (annotations, env) read best single-quoted, where
	// only ' needs escaping; anything with control characters stays a JSON
	// string, which is a valid YAML double-quoted scalar.
	if s, err := jsonUnquote(val); err == nil && printable(s) {
		buf.WriteByte('\'')
		buf.WriteString(strings.ReplaceAll(s, "'", "''"))
		buf.WriteByte('\'')
		return nil
	}
	buf.Write(val)
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func writeString(buf *bytes.Buffer, s string) {
	if plainSafe(s) {
		buf.WriteString(s)
		return
	}
	buf.Write(appendJSONString(nil, s))
}

// plainSafe reports whether s can be written unquoted and still read back
// as the same string by YAML 1.1 and 1.2 parsers.
func plainSafe(s string) bool {
	if s == "" || s == "<<" || s == "=" {
		return false
	}
	switch s[0] {
	case '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '.', '+', '~':
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		return false
	}
	last := s[len(s)-1]
	if last == ' ' || last == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c == ':' && i+1 < len(s) && s[i+1] == ' ' {
			return false
		}
		if c == '#' && i > 0 && s[i-1] == ' ' {
			return false
		}
	}
	if len(s) <= 5 {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "y", "n", "on", "off", "null":
			return false
		}
	}
	return true
}

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
