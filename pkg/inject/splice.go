package inject

import (
	"bytes"
	"errors"
	"sort"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// This file edits a document's text in place: given the node tree of a pod
// template and its old and new JSON, it inserts, replaces and deletes only
// the parts that differ, so comments, key order, quoting and everything
// injection did not touch stay byte-for-byte as the user wrote them.

// errFallback means the text cannot be edited in place (flow style, odd
// layout); the caller re-renders a bigger part instead.
var errFallback = errors.New("inject: cannot splice here")

// edit replaces src[start:end] with arena[from:to].
type edit struct {
	start, end int
	from, to   int
}

// A textEditor is reused for every document a worker handles, so that its
// buffers are allocated once rather than per document.
type textEditor struct {
	src        []byte
	lineStarts []int // offset of the first byte of each line
	edits      []edit
	arena      []byte // the text of all edits
	free       []*bytes.Buffer
	emit       emitter
}

func (t *textEditor) reset(src []byte) {
	t.src = src
	t.lineStarts = append(t.lineStarts[:0], 0)
	for i, c := range src {
		if c == '\n' && i+1 < len(src) {
			t.lineStarts = append(t.lineStarts, i+1)
		}
	}
	t.edits, t.arena = t.edits[:0], t.arena[:0]
	t.emit = emitter{unit: 2, cache: t.emit.cache}
}

// buffer returns an empty scratch buffer; give it back with release.
func (t *textEditor) buffer() *bytes.Buffer {
	if n := len(t.free); n > 0 {
		b := t.free[n-1]
		t.free = t.free[:n-1]
		b.Reset()
		return b
	}
	return &bytes.Buffer{}
}

func (t *textEditor) release(b *bytes.Buffer) { t.free = append(t.free, b) }

// lineStart is the offset of 1-based line.
func (t *textEditor) lineStart(line int) int {
	if line-1 < len(t.lineStarts) {
		return t.lineStarts[line-1]
	}
	return len(t.src)
}

// offset converts a yaml.v3 position (1-based line, column in characters).
func (t *textEditor) offset(line, col int) int {
	p := t.lineStart(line)
	for n := 1; n < col && p < len(t.src); n++ {
		if t.src[p] < utf8.RuneSelf {
			p++
		} else {
			_, size := utf8.DecodeRune(t.src[p:])
			p += size
		}
	}
	return p
}

func (t *textEditor) nodeOffset(n *yaml.Node) int { return t.offset(n.Line, n.Column) }

// backOver moves pos (a line start or the end of the text) back over blank
// lines and over comment lines indented at most indent, so that what is
// inserted lands right after the previous content and before comments that
// introduce what follows. Deeper comment-like lines are left alone: they may
// be the content of a block scalar.
func (t *textEditor) backOver(pos, indent int) int {
	for pos > 0 {
		i := sort.SearchInts(t.lineStarts, pos)
		if i == len(t.lineStarts) || t.lineStarts[i] != pos {
			// pos is the end of a last line without a newline.
			i = len(t.lineStarts)
		}
		if i == 0 {
			return pos
		}
		line := t.src[t.lineStarts[i-1]:pos]
		ind := 0
		for ind < len(line) && line[ind] == ' ' {
			ind++
		}
		rest := bytes.TrimRight(line[ind:], " \t\r\n")
		if len(rest) != 0 && (rest[0] != '#' || ind > indent) {
			if bytes.Equal(rest, []byte("...")) {
				pos = t.lineStarts[i-1]
				continue
			}
			return pos
		}
		pos = t.lineStarts[i-1]
	}
	return pos
}

func (t *textEditor) add(start, end int, text []byte) {
	from := len(t.arena)
	t.arena = append(t.arena, text...)
	t.edits = append(t.edits, edit{start, end, from, len(t.arena)})
}

// insertAt inserts text at a line start (or the end of the text).
func (t *textEditor) insertAt(pos int, text []byte) {
	from := len(t.arena)
	if pos > 0 && t.src[pos-1] != '\n' {
		t.arena = append(t.arena, '\n')
	}
	t.arena = append(t.arena, text...)
	t.edits = append(t.edits, edit{pos, pos, from, len(t.arena)})
}

// apply returns the edited text.
func (t *textEditor) apply(dst []byte) ([]byte, error) {
	sort.SliceStable(t.edits, func(i, j int) bool { return t.edits[i].start < t.edits[j].start })
	prev := 0
	for _, e := range t.edits {
		if e.start < prev {
			return nil, errFallback
		}
		dst = append(dst, t.src[prev:e.start]...)
		dst = append(dst, t.arena[e.from:e.to]...)
		prev = e.end
	}
	return append(dst, t.src[prev:]...), nil
}

func isBlock(n *yaml.Node) bool { return n.Style&yaml.FlowStyle == 0 }

func hasFlowMapValue(m *yaml.Node) bool {
	for i := 1; i < len(m.Content); i += 2 {
		if v := m.Content[i]; v.Kind == yaml.MappingNode && !isBlock(v) {
			return true
		}
	}
	return false
}

func isEmptyFlowMap(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && !isBlock(n) && len(n.Content) == 0
}

// onlySpacesBefore reports whether the line holding pos has only spaces before it.
func (t *textEditor) onlySpacesBefore(pos int) (lineStart int, ok bool) {
	p := pos
	for p > 0 && t.src[p-1] == ' ' {
		p--
	}
	return p, p == 0 || t.src[p-1] == '\n'
}

// diffMap edits mapping m, whose text ends at end, from old to new.
func (t *textEditor) diffMap(m *yaml.Node, old, new []byte, end int) error {
	if m.Kind == yaml.MappingNode && !isBlock(m) {
		return t.diffFlowMap(m, old, new, false)
	}
	if m.Kind != yaml.MappingNode || !isBlock(m) || len(m.Content) == 0 {
		return errFallback
	}
	oldPairs, err := jsonObject(old)
	if err != nil {
		return err
	}
	newPairs, err := jsonObject(new)
	if err != nil {
		return err
	}
	oldVals := make(map[string][]byte, len(oldPairs))
	for _, p := range oldPairs {
		oldVals[p.key] = p.val
	}
	newKeys := make(map[string]bool, len(newPairs))
	for _, p := range newPairs {
		newKeys[p.key] = true
	}
	indent := m.Column - 1
	nodeIndex := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		nodeIndex[m.Content[i].Value] = i
	}
	valueEnd := func(i int) int {
		if i+2 < len(m.Content) {
			next := m.Content[i+2]
			return t.backOver(t.lineStart(next.Line), indent)
		}
		return end
	}
	appended := t.buffer()
	defer t.release(appended)
	for _, p := range newPairs {
		oldVal, inOld := oldVals[p.key]
		if inOld && bytes.Equal(oldVal, p.val) {
			continue
		}
		i, inNode := nodeIndex[p.key]
		if inNode && !inOld && isEmptyFlowMap(m.Content[i+1]) && isObject(p.val) {
			// `labels: {}` is absent from the JSON (omitempty): filled in
			// place, so that uninject can empty it again rather than drop it.
			if err := t.diffFlowMap(m.Content[i+1], []byte("{}"), p.val, false); err == nil {
				continue
			} else if !errors.Is(err, errFallback) {
				return err
			}
		}
		if !inNode {
			if err := t.emit.pair(appended, indent, p.key, p.val, true); err != nil {
				return err
			}
			continue
		}
		if inOld {
			v := m.Content[i+1]
			var err error = errFallback
			switch {
			case isObject(oldVal) && isObject(p.val) && v.Kind == yaml.MappingNode,
				// Empty on one side: metadata that holds only `labels: {}`
				// reads as {}, but its text stays.
				string(oldVal) == "{}" && isObject(p.val) && v.Kind == yaml.MappingNode,
				isObject(oldVal) && string(p.val) == "{}" && v.Kind == yaml.MappingNode && hasFlowMapValue(v):
				err = t.diffMap(v, oldVal, p.val, valueEnd(i))
			case isArray(oldVal) && isArray(p.val) && v.Kind == yaml.SequenceNode:
				err = t.diffSeq(v, oldVal, p.val, valueEnd(i))
			}
			if err == nil {
				continue
			}
			if !errors.Is(err, errFallback) {
				return err
			}
		}
		if string(p.val) == "{}" && inOld {
			// Emptied (uninject of a template that had no metadata):
			// absent and empty mean the same to Kubernetes.
			if start, ok := t.onlySpacesBefore(t.nodeOffset(m.Content[i])); ok {
				t.add(start, valueEnd(i), nil)
				continue
			}
		}
		buf := t.buffer()
		if err := t.emit.pair(buf, indent, p.key, p.val, false); err != nil {
			return err
		}
		t.add(t.nodeOffset(m.Content[i]), valueEnd(i), buf.Bytes())
		t.release(buf)
	}
	for _, p := range oldPairs {
		if newKeys[p.key] {
			continue
		}
		i, inNode := nodeIndex[p.key]
		if !inNode {
			continue
		}
		if v := m.Content[i+1]; v.Kind == yaml.MappingNode && !isBlock(v) && isObject(p.val) {
			// A flow map the user wrote ({} before injection, see above)
			// is emptied, not removed: absent and `{}` are both "no
			// entries", but only one of them is the text that was there.
			if err := t.diffFlowMap(v, p.val, []byte("{}"), false); err == nil {
				continue
			} else if !errors.Is(err, errFallback) {
				return err
			}
		}
		start, ok := t.onlySpacesBefore(t.nodeOffset(m.Content[i]))
		if !ok {
			return errFallback
		}
		// New keys take the place of the first removed one (a probe's
		// tcpSocket becoming httpGet), which also makes the reverse edit
		// give back the original text.
		t.add(start, valueEnd(i), appended.Bytes())
		appended.Reset()
	}
	if appended.Len() > 0 {
		t.insertAt(end, appended.Bytes())
	}
	return nil
}

// diffSeq edits a sequence of named objects (containers, volumes) in place:
// new items are inserted where they belong, removed ones deleted, changed
// ones edited field by field.
func (t *textEditor) diffSeq(s *yaml.Node, old, new []byte, end int) error {
	if s.Kind != yaml.SequenceNode || !isBlock(s) || len(s.Content) == 0 {
		return errFallback
	}
	oldItems, err := jsonArray(old)
	if err != nil {
		return err
	}
	newItems, err := jsonArray(new)
	if err != nil {
		return err
	}
	if len(oldItems) != len(s.Content) {
		return errFallback
	}
	oldNames, ok := itemNames(oldItems)
	if !ok {
		return errFallback
	}
	newNames, ok := itemNames(newItems)
	if !ok {
		return errFallback
	}
	oldIndex := make(map[string]int, len(oldNames))
	for i, n := range oldNames {
		oldIndex[n] = i
		if s.Content[i].Kind != yaml.MappingNode {
			return errFallback
		}
	}
	dashIndent := s.Column - 1
	// dashes[i] is the line start of item i's "- ".
	dashes := make([]int, len(s.Content))
	for i, it := range s.Content {
		p := t.nodeOffset(it) - 1
		for p >= 0 && (t.src[p] == ' ' || t.src[p] == '\n' || t.src[p] == '\r') {
			p--
		}
		if p < 0 || t.src[p] != '-' {
			return errFallback
		}
		ls, ok := t.onlySpacesBefore(p)
		if !ok {
			return errFallback
		}
		dashes[i] = ls
	}
	itemEnd := func(i int) int {
		if i+1 < len(s.Content) {
			return t.backOver(dashes[i+1], dashIndent)
		}
		return end
	}
	kept := map[string]bool{}
	last := -1
	pending := t.buffer()
	defer t.release(pending)
	flush := func(pos int) {
		if pending.Len() > 0 {
			t.insertAt(pos, pending.Bytes())
			pending.Reset()
		}
	}
	for j, name := range newNames {
		i, existed := oldIndex[name]
		if !existed {
			if err := t.emit.item(pending, dashIndent, newItems[j]); err != nil {
				return err
			}
			continue
		}
		if i < last {
			return errFallback // reordered
		}
		flush(t.backOver(dashes[i], dashIndent))
		last = i
		kept[name] = true
		if bytes.Equal(oldItems[i], newItems[j]) {
			continue
		}
		if err := t.diffMap(s.Content[i], oldItems[i], newItems[j], itemEnd(i)); err != nil {
			if !errors.Is(err, errFallback) {
				return err
			}
			buf := t.buffer()
			if err := t.emit.item(buf, dashIndent, newItems[j]); err != nil {
				return err
			}
			t.add(dashes[i], itemEnd(i), buf.Bytes())
			t.release(buf)
		}
	}
	flush(end)
	for i, name := range oldNames {
		if !kept[name] {
			t.add(dashes[i], itemEnd(i), nil)
		}
	}
	if len(kept) == 0 && len(newNames) == 0 {
		return errFallback // the key itself must go or become []
	}
	return nil
}

func itemNames(items [][]byte) ([]string, bool) {
	names := make([]string, len(items))
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		pairs, err := jsonObject(it)
		if err != nil {
			return nil, false
		}
		found := false
		for _, p := range pairs {
			if p.key == "name" && len(p.val) > 0 && p.val[0] == '"' {
				n, err := jsonUnquote(p.val)
				if err != nil || seen[n] {
					return nil, false
				}
				names[i], seen[n], found = n, true, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return names, true
}
