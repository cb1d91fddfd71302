package config

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reads about 8 MB/s here: half of analyzing 1,000 services went to
// its scanner. fastYAML builds the same node tree as yaml.v3 (kinds, tags,
// styles, values, lines and columns) for the plain YAML that generated and
// hand-written config mostly is: block mappings and sequences indented with
// spaces, one-line flow collections, one-line plain and quoted scalars
// without escapes. At anything else (comments, anchors, aliases, tags,
// block and multi-line scalars, tabs, CR, non-ASCII text, odd indentation,
// anything yaml.v3 would refuse) it gives up, and the document goes to
// yaml.v3, which then also reports the errors. FuzzFastYAML checks that
// whatever it accepts, yaml.v3 reads into an equal tree.

// maxFastNesting bounds the recursion; deeper documents go to yaml.v3.
const maxFastNesting = 200

type fastParser struct {
	src []byte
	// text is src as one string: scalar values are slices of it, one
	// allocation per document instead of one per scalar.
	text  string
	lines []fastLine
	i     int // the current line
	depth int
	// slab hands out nodes a block at a time, and stack collects the
	// children of collections being parsed, so that each Content is
	// allocated once, at its final size.
	slab  []yaml.Node
	stack []*yaml.Node
}

func (p *fastParser) node(kind yaml.Kind, style yaml.Style, tag, value string, line, column int) *yaml.Node {
	if len(p.slab) == 0 {
		p.slab = make([]yaml.Node, 64)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	n.Kind, n.Style, n.Tag, n.Value, n.Line, n.Column = kind, style, tag, value, line, column
	return n
}

// children moves the nodes pushed on the stack since mark into n.
func (p *fastParser) children(n *yaml.Node, mark int) {
	if len(p.stack) > mark {
		n.Content = append([]*yaml.Node(nil), p.stack[mark:]...)
	}
	p.stack = p.stack[:mark]
}

type fastLine struct {
	start, end int // bytes of the line, without its line break
	indent     int // leading spaces
	no         int // line number in the stream
}

// fastYAML parses one document (no "---" lines) whose first line is line
// first of the stream. It returns nil, true for a document of blank lines
// and false when it cannot be sure to read the text as yaml.v3 does.
func fastYAML(text []byte, first int) (*yaml.Node, bool) {
	for _, c := range text {
		// Tabs, CR, other control characters (DEL too) and non-ASCII text (which may
		// hold YAML's other line breaks) change columns, lines or meaning;
		// comments are not kept. Other indicators (anchors, aliases, tags,
		// block scalars…) are refused where a node starts.
		if c >= 0x7f || c < 0x20 && c != '\n' || c == '#' {
			return nil, false
		}
	}
	p := &fastParser{src: text, text: string(text)}
	for start, no := 0, first; start <= len(text); no++ {
		end := bytes.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		l := fastLine{start: start, end: end, no: no}
		for l.start+l.indent < end && text[l.start+l.indent] == ' ' {
			l.indent++
		}
		if l.start+l.indent < end { // blank lines are skipped
			if l.indent == 0 && end-start >= 3 && (string(text[start:start+3]) == "..." || string(text[start:start+3]) == "---") {
				return nil, false // document markers
			}
			p.lines = append(p.lines, l)
		}
		start = end + 1
	}
	if len(p.lines) == 0 {
		return nil, true
	}
	l := p.lines[0]
	n, ok := p.block(l.start+l.indent, l.indent)
	if !ok || p.i != len(p.lines) {
		return nil, false
	}
	return n, true
}

// pos returns the line and column of byte offset off on the current line.
func (p *fastParser) pos(off int) (int, int) {
	l := p.lines[p.i]
	return l.no, off - l.start + 1
}

// block parses the node that starts at offset off of the current line, in
// a block whose indentation is col (the column of off for a mapping or a
// sequence; a scalar or flow node must end on the line).
func (p *fastParser) block(off, col int) (*yaml.Node, bool) {
	if p.depth++; p.depth > maxFastNesting {
		return nil, false
	}
	defer func() { p.depth-- }()
	l := p.lines[p.i]
	rest := p.src[off:l.end]
	switch {
	case isSeqEntry(rest):
		return p.sequence(col)
	case keyEnd(rest) > 0:
		return p.mapping(off, col)
	}
	n, end, ok := p.inline(off, l.end, false)
	if !ok || !blank(p.src[end:l.end]) {
		return nil, false
	}
	p.i++
	return n, true
}

// isSeqEntry reports whether a line (from its first non-space) is "- …"
// or a lone "-".
func isSeqEntry(rest []byte) bool {
	return len(rest) > 0 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}

// keyEnd returns the length of the plain key that starts rest ("name: x",
// "name:"), or 0 when rest does not start with a simple key.
func keyEnd(rest []byte) int {
	if len(rest) == 0 || !plainKeyStart(rest[0]) {
		return 0
	}
	for i := 1; i < len(rest) && i < 1024; i++ {
		switch rest[i] {
		case ':':
			if i+1 == len(rest) || rest[i+1] == ' ' {
				if rest[i-1] == ' ' {
					return 0
				}
				return i
			}
		case '"', '\'', '{', '}', '[', ']', ',':
			// Legal in a block key, but rare and close to flow syntax.
			return 0
		}
	}
	return 0
}

func plainKeyStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/' || c == '$'
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' {
			return false
		}
	}
	return true
}

// mapping parses a block mapping whose first key starts at off on the
// current line, its keys at column col (0-based).
func (p *fastParser) mapping(off, col int) (*yaml.Node, bool) {
	line, column := p.pos(off)
	m := p.node(yaml.MappingNode, 0, "!!map", "", line, column)
	mark := len(p.stack)
	for {
		l := p.lines[p.i]
		rest := p.src[off:l.end]
		k := keyEnd(rest)
		if k == 0 {
			return nil, false
		}
		key := p.text[off : off+k]
		if key == "<<" {
			return nil, false
		}
		kl, kc := p.pos(off)
		p.stack = append(p.stack, p.node(yaml.ScalarNode, 0, resolveTag(key), key, kl, kc))
		voff := off + k + 1
		for voff < l.end && p.src[voff] == ' ' {
			voff++
		}
		var v *yaml.Node
		if voff < l.end {
			if isSeqEntry(p.src[voff:l.end]) || keyEnd(p.src[voff:l.end]) > 0 {
				return nil, false // "a: - b" and "a: b: c" are errors
			}
			n, end, ok := p.inline(voff, l.end, false)
			if !ok || !blank(p.src[end:l.end]) {
				return nil, false
			}
			v = n
			p.i++
		} else {
			// The value is the block on the next lines: more indented, or a
			// sequence at the key's own indentation. Anything else would be
			// an empty value, whose position yaml.v3 takes from the next
			// token; leave that to it.
			p.i++
			if p.i == len(p.lines) {
				return nil, false
			}
			nl := p.lines[p.i]
			switch {
			case nl.indent > col:
				n, ok := p.block(nl.start+nl.indent, nl.indent)
				if !ok {
					return nil, false
				}
				v = n
			case nl.indent == col && isSeqEntry(p.src[nl.start+nl.indent:nl.end]):
				n, ok := p.sequence(col)
				if !ok {
					return nil, false
				}
				v = n
			default:
				return nil, false
			}
		}
		p.stack = append(p.stack, v)
		if p.i == len(p.lines) {
			p.children(m, mark)
			return m, true
		}
		nl := p.lines[p.i]
		switch {
		case nl.indent == col:
			off = nl.start + nl.indent
			if isSeqEntry(p.src[off:nl.end]) {
				p.children(m, mark)
				return m, true // the parent's sequence goes on (or it is an error yaml.v3 reports)
			}
		case nl.indent < col:
			p.children(m, mark)
			return m, true
		default:
			return nil, false // a continuation line: multi-line scalar or an error
		}
	}
}

// sequence parses a block sequence whose dashes are at column col of the
// current and following lines.
func (p *fastParser) sequence(col int) (*yaml.Node, bool) {
	l := p.lines[p.i]
	line, column := p.pos(l.start + col)
	s := p.node(yaml.SequenceNode, 0, "!!seq", "", line, column)
	mark := len(p.stack)
	for {
		l = p.lines[p.i]
		if l.indent != col || !isSeqEntry(p.src[l.start+col:l.end]) {
			return nil, false
		}
		off := l.start + col + 1
		for off < l.end && p.src[off] == ' ' {
			off++
		}
		if off == l.end {
			return nil, false // "-" alone: the item is on the next lines
		}
		n, ok := p.block(off, off-l.start)
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, n)
		if p.i == len(p.lines) {
			p.children(s, mark)
			return s, true
		}
		nl := p.lines[p.i]
		if nl.indent < col || nl.indent == col && !isSeqEntry(p.src[nl.start+col:nl.end]) {
			p.children(s, mark)
			return s, true
		}
		if nl.indent > col {
			return nil, false
		}
	}
}

// inline parses a scalar or a flow collection that starts at off and ends
// on the same line (before end), and returns the offset after it. In flow
// context plain scalars also end at , [ ] { } and ?, as in yaml.v3.
func (p *fastParser) inline(off, end int, flow bool) (*yaml.Node, int, bool) {
	line, column := p.pos(off)
	switch c := p.src[off]; c {
	case '{', '[':
		return p.flowCollection(off, end)
	case '"', '\'':
		close := bytes.IndexByte(p.src[off+1:end], c)
		if close < 0 {
			return nil, 0, false
		}
		close += off + 1
		if c == '"' && bytes.IndexByte(p.src[off+1:close], '\\') >= 0 {
			return nil, 0, false // escapes
		}
		if c == '\'' && close+1 < end && p.src[close+1] == '\'' {
			return nil, 0, false // '' escapes a quote
		}
		style := yaml.DoubleQuotedStyle
		if c == '\'' {
			style = yaml.SingleQuotedStyle
		}
		return p.node(yaml.ScalarNode, style, "!!str", p.text[off+1:close], line, column), close + 1, true
	}
	if !plainValueStart(p.src[off:end]) {
		return nil, 0, false
	}
	i := off
	for ; i < end; i++ {
		c := p.src[i]
		if c == ':' && (i+1 == end || p.src[i+1] == ' ' || flow) {
			if !flow {
				return nil, 0, false
			}
			break
		}
		if flow && (c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '"' || c == '\'' || c == '?') {
			break
		}
	}
	j := i
	for j > off && p.src[j-1] == ' ' {
		j--
	}
	v := p.text[off:j]
	if v == "<<" {
		return nil, 0, false
	}
	return p.node(yaml.ScalarNode, 0, resolveTag(v), v, line, column), i, true
}

func plainValueStart(rest []byte) bool {
	c := rest[0]
	if plainKeyStart(c) || c == '(' || c == '=' || c == '+' || c == '~' || c == ';' || c == '^' || c == '<' {
		return true
	}
	// "-1" and "-x" are scalars; "- " and "--" start other things or look
	// like them.
	return c == '-' && len(rest) > 1 && rest[1] != ' ' && rest[1] != '-'
}

// flowCollection parses {…} or […] that closes on the same line.
func (p *fastParser) flowCollection(off, end int) (*yaml.Node, int, bool) {
	if p.depth++; p.depth > maxFastNesting {
		return nil, 0, false
	}
	defer func() { p.depth-- }()
	line, column := p.pos(off)
	mapping := p.src[off] == '{'
	n := p.node(yaml.SequenceNode, yaml.FlowStyle, "!!seq", "", line, column)
	closer := byte(']')
	if mapping {
		n.Kind, n.Tag, closer = yaml.MappingNode, "!!map", '}'
	}
	i := skipSpaces(p.src, off+1, end)
	if i < end && p.src[i] == closer {
		return n, i + 1, true
	}
	mark := len(p.stack)
	for {
		if i >= end {
			return nil, 0, false
		}
		if mapping {
			k, j, ok := p.inline(i, end, true)
			if !ok || k.Kind != yaml.ScalarNode || k.Style != 0 || j >= end || p.src[j] != ':' || j+1 >= end || p.src[j+1] != ' ' {
				return nil, 0, false
			}
			p.stack = append(p.stack, k)
			i = skipSpaces(p.src, j+1, end)
			if i >= end || p.src[i] == ',' || p.src[i] == '}' {
				return nil, 0, false // an empty value
			}
		}
		v, j, ok := p.inline(i, end, true)
		if !ok {
			return nil, 0, false
		}
		if !mapping && v.Kind == yaml.ScalarNode && j < end && p.src[j] == ':' {
			return nil, 0, false // a single-pair mapping inside a sequence
		}
		p.stack = append(p.stack, v)
		i = skipSpaces(p.src, j, end)
		if i >= end {
			return nil, 0, false
		}
		switch p.src[i] {
		case closer:
			p.children(n, mark)
			return n, i + 1, true
		case ',':
			i = skipSpaces(p.src, i+1, end)
			if i < end && (p.src[i] == closer || p.src[i] == ',') {
				return nil, 0, false // a trailing or doubled comma
			}
		default:
			return nil, 0, false
		}
	}
}

func skipSpaces(b []byte, i, end int) int {
	for i < end && b[i] == ' ' {
		i++
	}
	return i
}

// resolveTag is the tag yaml.v3 gives a plain scalar. yaml.v3 reads
// a scalar that starts with a letter as a string unless the letter is one
// of those that begin true, false, null, .inf…; those and all others are
// asked of yaml.v3 itself.
func resolveTag(v string) string {
	if v != "" {
		switch c := v[0]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			switch c {
			case 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O':
			default:
				return "!!str"
			}
		}
	}
	return (&yaml.Node{Kind: yaml.ScalarNode, Value: v}).ShortTag()
}
