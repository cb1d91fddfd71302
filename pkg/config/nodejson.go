package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// NodeError is a YAML node that has no JSON form, with the line it is on.
type NodeError struct {
	Line    int
	Message string
}

func (e *NodeError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// NodeErrorLine returns the line of the node an error of JSONOf is about,
// or 0.
func NodeErrorLine(err error) int {
	var ne *NodeError
	if errors.As(err, &ne) {
		return ne.Line
	}
	return 0
}

// JSONOf converts a YAML node to JSON as Kubernetes reads YAML (YAML 1.2
// scalars, keys as strings, merge keys and aliases expanded, scalars with
// tags of their own read as strings). It makes one pass over the tree, so
// its cost is linear in the size of the document: yaml.v3's decoder checks
// each mapping key against every other (quadratic: 80,000 keys took two
// minutes), so it is not used here at all.
func JSONOf(n *yaml.Node) ([]byte, error) {
	if n == nil {
		return []byte("null"), nil
	}
	c := converter{aliasBudget: maxAliasedNodes}
	return c.node(make([]byte, 0, 256), n, 0)
}

// maxAliasedNodes bounds the nodes reached through aliases, which is what an
// alias bomb (a few lines that expand to billions of nodes) multiplies;
// nodes written out in the text are bounded by its size already.
const maxAliasedNodes = 1 << 20

// maxDepth is far above any real manifest and keeps a hostile one from
// exhausting the stack.
const maxDepth = 1000

type converter struct {
	aliasBudget int
	inAlias     int
}

func (c *converter) node(buf []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, &NodeError{Line: n.Line, Message: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if c.inAlias > 0 {
		if c.aliasBudget--; c.aliasBudget < 0 {
			return nil, &NodeError{Line: n.Line, Message: fmt.Sprintf("aliases expand to more than %d nodes", maxAliasedNodes)}
		}
	}
	var err error
	switch n.Kind {
	case 0: // the zero Node, as yaml.Unmarshal leaves it for empty input
		return append(buf, "null"...), nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(buf, "null"...), nil
		}
		return c.node(buf, n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &NodeError{Line: n.Line, Message: "alias to an unknown anchor"}
		}
		c.inAlias++
		buf, err = c.node(buf, n.Alias, depth+1)
		c.inAlias--
		return buf, err
	case yaml.MappingNode:
		if hasMergeKey(n) {
			return c.mergedMapping(buf, n, depth)
		}
		buf = append(buf, '{')
		var keys keySet
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, err := keyString(n.Content[i])
			if err != nil {
				return nil, err
			}
			if err := keys.add(key, n.Content[i]); err != nil {
				return nil, err
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, key)
			buf = append(buf, ':')
			if buf, err = c.node(buf, n.Content[i+1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, e := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = c.node(buf, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		return appendScalar(buf, n)
	}
	return nil, &NodeError{Line: n.Line, Message: "unknown YAML node"}
}

// keySet finds a key written twice in one mapping. yaml.v3's decoder and
// the API server refuse such a document; converting it as "the last one
// wins" would let kube-inject edit the first occurrence while the object
// means the second. Most mappings are small: a map only past a few keys.
type keySet struct {
	few  []string
	many map[string]bool
}

func (s *keySet) add(key string, k *yaml.Node) error {
	if s.many != nil {
		if s.many[key] {
			return duplicateKey(key, k)
		}
		s.many[key] = true
		return nil
	}
	if slices.Contains(s.few, key) {
		return duplicateKey(key, k)
	}
	s.few = append(s.few, key)
	if len(s.few) > 16 {
		s.many = make(map[string]bool, 2*len(s.few))
		for _, f := range s.few {
			s.many[f] = true
		}
	}
	return nil
}

func duplicateKey(key string, k *yaml.Node) error {
	return &NodeError{Line: k.Line, Message: fmt.Sprintf("key %q is written twice in one mapping; keep one (only one value can count)", key)}
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

func hasMergeKey(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			return true
		}
	}
	return false
}

type mapEntry struct {
	key     string
	value   *yaml.Node
	aliased bool // reached through an alias: counts against the budget
}

// mergedMapping writes a mapping with merge keys ("<<: *base") as YAML 1.1
// and yaml.v3 define them: keys written in the mapping win over merged ones,
// and among merged mappings the earlier one wins.
func (c *converter) mergedMapping(buf []byte, n *yaml.Node, depth int) ([]byte, error) {
	var entries []mapEntry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !isMergeKey(k) {
			key, err := keyString(k)
			if err != nil {
				return nil, err
			}
			if seen[key] {
				return nil, duplicateKey(key, k)
			}
			seen[key] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMergeKey(k) {
			key, _ := keyString(k)
			entries = append(entries, mapEntry{key: key, value: v})
			continue
		}
		sources := []*yaml.Node{v}
		if resolveAlias(v).Kind == yaml.SequenceNode {
			sources = resolveAlias(v).Content
		}
		for _, s := range sources {
			merged, err := c.mergeSource(s, c.inAlias > 0, depth+1)
			if err != nil {
				return nil, err
			}
			for _, e := range merged {
				if !seen[e.key] {
					seen[e.key] = true
					entries = append(entries, e)
				}
			}
		}
	}
	buf = append(buf, '{')
	var err error
	for i, e := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, e.key)
		buf = append(buf, ':')
		if e.aliased {
			c.inAlias++
		}
		buf, err = c.node(buf, e.value, depth+1)
		if e.aliased {
			c.inAlias--
		}
		if err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// mergeSource lists the entries a merge key brings in, its own merge keys
// resolved.
func (c *converter) mergeSource(s *yaml.Node, aliased bool, depth int) ([]mapEntry, error) {
	if depth > maxDepth {
		return nil, &NodeError{Line: s.Line, Message: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	m := resolveAlias(s)
	if m.Kind != yaml.MappingNode {
		return nil, &NodeError{Line: s.Line, Message: "a merge key (<<) takes a mapping or a list of mappings"}
	}
	aliased = aliased || s.Kind == yaml.AliasNode
	if aliased {
		if c.aliasBudget -= len(m.Content); c.aliasBudget < 0 {
			return nil, &NodeError{Line: s.Line, Message: fmt.Sprintf("aliases expand to more than %d nodes", maxAliasedNodes)}
		}
	}
	var out []mapEntry
	seen := map[string]bool{}
	var inherited []mapEntry
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			var sources []*yaml.Node
			if resolveAlias(v).Kind == yaml.SequenceNode {
				sources = resolveAlias(v).Content
			} else {
				sources = []*yaml.Node{v}
			}
			for _, src := range sources {
				es, err := c.mergeSource(src, aliased, depth+1)
				if err != nil {
					return nil, err
				}
				inherited = append(inherited, es...)
			}
			continue
		}
		key, err := keyString(k)
		if err != nil {
			return nil, err
		}
		seen[key] = true
		out = append(out, mapEntry{key: key, value: v, aliased: aliased})
	}
	for _, e := range inherited {
		if !seen[e.key] {
			seen[e.key] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// keyString is a mapping key as Kubernetes' YAML reader spells it: numbers
// and booleans in their canonical form ("0x10" is "16"), strings as written.
// A key that is itself a mapping or a list has no JSON form.
func keyString(k *yaml.Node) (string, error) {
	k = resolveAlias(k)
	if k.Kind != yaml.ScalarNode {
		return "", &NodeError{Line: k.Line, Message: "a mapping key must be a string, number or boolean, not a mapping or a list"}
	}
	switch k.ShortTag() {
	case "!!int":
		if v, err := parseInt(k.Value); err == nil {
			return strconv.FormatInt(v, 10), nil
		}
		if v, err := strconv.ParseUint(strings.ReplaceAll(k.Value, "_", ""), 0, 64); err == nil {
			return strconv.FormatUint(v, 10), nil
		}
	case "!!float":
		if v, err := parseFloat(k.Value); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return strconv.FormatFloat(v, 'g', -1, 64), nil
		}
	case "!!bool":
		return strconv.FormatBool(strings.EqualFold(k.Value, "true")), nil
	}
	return k.Value, nil
}

func parseInt(s string) (int64, error) {
	return strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
}

func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
}

func appendScalar(buf []byte, n *yaml.Node) ([]byte, error) {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return append(buf, "null"...), nil
	case "!!bool":
		return strconv.AppendBool(buf, strings.EqualFold(n.Value, "true")), nil
	case "!!int":
		if v, err := parseInt(n.Value); err == nil {
			return strconv.AppendInt(buf, v, 10), nil
		}
		if v, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return strconv.AppendUint(buf, v, 10), nil
		}
		return nil, &NodeError{Line: n.Line, Message: fmt.Sprintf("%q is tagged !!int but is not an integer", n.Value)}
	case "!!float":
		v, err := parseFloat(n.Value)
		if err != nil {
			if f, ok := specialFloat(n.Value); ok {
				v, err = f, nil
			}
		}
		if err != nil {
			return nil, &NodeError{Line: n.Line, Message: fmt.Sprintf("%q is tagged !!float but is not a number", n.Value)}
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, &NodeError{Line: n.Line, Message: fmt.Sprintf("%s has no JSON form: write a finite number, or quote it", n.Value)}
		}
		return strconv.AppendFloat(buf, v, 'g', -1, 64), nil
	default:
		// !!str, !!timestamp (kept as written, as kubectl does), !!binary
		// and tags of the user's own ("!Ref x"), which Kubernetes reads as
		// the plain string.
		return appendJSONString(buf, n.Value), nil
	}
}

func specialFloat(s string) (float64, bool) {
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		return math.Inf(1), true
	case "-.inf":
		return math.Inf(-1), true
	case ".nan":
		return math.NaN(), true
	}
	return 0, false
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
