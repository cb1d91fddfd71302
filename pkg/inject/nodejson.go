package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var jsonUnmarshal = json.Unmarshal

// marshalJSON is json.Marshal without HTML escaping, so that "<" and "&" in
// commands and annotations are written as themselves.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// nodeJSON converts a YAML node to JSON, keeping key order and resolving
// scalars as YAML 1.2 does. It is the cheap path from the document's node
// tree to Kubernetes types.
func nodeJSON(buf []byte, n *yaml.Node, depth int) ([]byte, error) {
	budget := maxNodes
	return nodeJSONBudget(buf, n, depth, &budget)
}

// maxNodes bounds the nodes visited for one object, aliases expanded, so
// that an alias bomb ("billion laughs") is an error instead of a hang.
const maxNodes = 1 << 20

func nodeJSONBudget(buf []byte, n *yaml.Node, depth int, budget *int) ([]byte, error) {
	if depth > 100 {
		return nil, fmt.Errorf("line %d: nesting is too deep", n.Line)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("line %d: too many nodes once aliases are expanded", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(buf, "null"...), nil
		}
		return nodeJSONBudget(buf, n.Content[0], depth+1, budget)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return nodeJSONBudget(buf, n.Alias, depth+1, budget)
	case yaml.MappingNode:
		buf = append(buf, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a string", k.Line)
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: merge keys (<<) are not supported in workloads; expand them", k.Line)
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, k.Value)
			buf = append(buf, ':')
			var err error
			if buf, err = nodeJSONBudget(buf, n.Content[i+1], depth+1, budget); err != nil {
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
			var err error
			if buf, err = nodeJSONBudget(buf, c, depth+1, budget); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return append(buf, "null"...), nil
		case "!!bool":
			if strings.EqualFold(n.Value, "true") {
				return append(buf, "true"...), nil
			}
			return append(buf, "false"...), nil
		case "!!int":
			if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return strconv.AppendInt(buf, v, 10), nil
			}
		case "!!float":
			if v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
				return strconv.AppendFloat(buf, v, 'g', -1, 64), nil
			}
		}
		return appendJSONString(buf, n.Value), nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
