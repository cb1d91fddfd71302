package config

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// JSONOf converts a YAML node to JSON as Kubernetes reads YAML (YAML 1.2
// scalars, keys as strings). Documents without merge keys, deep nesting or
// heavy aliasing take a direct path that allocates little; the others go
// through yaml.v3's own decoder, which also rejects alias bombs.
func JSONOf(n *yaml.Node) ([]byte, error) {
	if n == nil {
		return []byte("null"), nil
	}
	budget := maxJSONNodes
	if b, err := appendNodeJSON(make([]byte, 0, 256), n, 0, &budget); err == nil {
		return b, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// maxJSONNodes bounds the direct path (aliases expanded); past it the
// decoder's alias checks decide.
const maxJSONNodes = 1 << 16

var errSlowPath = errors.New("needs the full decoder")

func appendNodeJSON(buf []byte, n *yaml.Node, depth int, budget *int) ([]byte, error) {
	if *budget--; *budget < 0 || depth > 64 {
		return nil, errSlowPath
	}
	var err error
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(buf, "null"...), nil
		}
		return appendNodeJSON(buf, n.Content[0], depth+1, budget)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errSlowPath
		}
		return appendNodeJSON(buf, n.Alias, depth+1, budget)
	case yaml.MappingNode:
		buf = append(buf, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, errSlowPath
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, k.Value)
			buf = append(buf, ':')
			if buf, err = appendNodeJSON(buf, n.Content[i+1], depth+1, budget); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, c := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendNodeJSON(buf, c, depth+1, budget); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return append(buf, "null"...), nil
		case "!!bool":
			return strconv.AppendBool(buf, strings.EqualFold(n.Value, "true")), nil
		case "!!int":
			if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return strconv.AppendInt(buf, v, 10), nil
			}
			return nil, errSlowPath
		case "!!float":
			v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, errSlowPath
			}
			return strconv.AppendFloat(buf, v, 'g', -1, 64), nil
		case "!!str", "!!timestamp", "!!binary":
			return appendJSONString(buf, n.Value), nil
		}
	}
	return nil, errSlowPath
}

func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
