package inject

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/config"
)

// Mode is what Process does to every workload.
type Mode int

const (
	ModeInject Mode = iota
	ModeUninject
)

// Options of Process.
type Options struct {
	Mode   Mode
	Config Config
	// Source names the input in errors ("bookinfo.yaml", "-").
	Source string
	// Report, when set, is called once per resource in document order.
	Report func(Record)
	// Workers is how many documents are injected at once; 0 means one per CPU.
	Workers int
}

// Record is what happened to one resource of the input.
type Record struct {
	Kind      string
	Name      string
	Namespace string
	Action    Action
	Reason    string
}

func (r Record) String() string {
	s := fmt.Sprintf("%s %q %s", strings.ToLower(r.Kind), r.Name, r.Action)
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

// InputError is bad input: invalid YAML or a malformed workload, located by
// source and line.
type InputError struct {
	Source string
	Line   int
	Err    error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// templatePaths says where each workload kind keeps its pod template; an
// empty path means the object is the pod itself.
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// IsWorkloadKind reports whether kind has a pod template meshctl injects.
func IsWorkloadKind(kind string) bool { _, ok := templatePaths[kind]; return ok }

// Process reads a stream of YAML documents from r and writes it to w with
// every workload injected (or uninjected). Documents are handled one at a
// time, so memory stays bounded by the largest document; documents without a
// workload are copied byte-for-byte, and in workloads only the added parts
// are new text.
func Process(r io.Reader, w io.Writer, opts Options) error {
	if opts.Source == "" {
		opts.Source = "<input>"
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := newPipeline(w, opts, workers)
	br := bufio.NewReaderSize(r, 64*1024)
	var chunk []byte
	chunkLine, line := 1, 0
	for {
		l, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it whole.
			full := append([]byte(nil), l...)
			for errors.Is(err, bufio.ErrBufferFull) {
				l, err = br.ReadSlice('\n')
				full = append(full, l...)
			}
			l = full
		}
		if len(l) > 0 {
			line++
			if isDocStart(l) && len(chunk) > 0 && !onlyDirectives(chunk) {
				if !p.submit(chunk, chunkLine) {
					break
				}
				chunk, chunkLine = nil, line
			}
			chunk = append(chunk, l...)
			if isDocEnd(l) {
				if !p.submit(chunk, chunkLine) {
					break
				}
				chunk, chunkLine = nil, line+1
			}
		}
		if err == io.EOF {
			if len(chunk) > 0 {
				p.submit(chunk, chunkLine)
			}
			break
		}
		if err != nil {
			p.fail(&InputError{Source: opts.Source, Err: err})
			break
		}
	}
	return p.wait()
}

// pipeline injects documents on several cores and writes them in input
// order. At most a few documents per worker are in flight, so memory stays
// bounded however long the input is.
type pipeline struct {
	work  chan *job
	order chan *job
	stop  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	err   error
}

type job struct {
	chunk []byte
	line  int
	out   []byte
	recs  []Record
	err   error
	ready chan struct{}
}

func newPipeline(w io.Writer, opts Options, workers int) *pipeline {
	p := &pipeline{
		work:  make(chan *job, workers),
		order: make(chan *job, 4*workers),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ed := &textEditor{emit: emitter{cache: &renderCache{}}}
			var buf []byte
			for j := range p.work {
				o := opts
				o.Report = func(r Record) { j.recs = append(j.recs, r) }
				out, err := processDoc(buf[:0], j.chunk, j.line, o, ed)
				if err == nil {
					j.out = append([]byte(nil), out...)
					buf = out
				}
				j.err = err
				close(j.ready)
			}
		}()
	}
	go func() {
		defer close(p.done)
		for j := range p.order {
			<-j.ready
			if p.err != nil {
				continue // drain after a failure
			}
			if j.err != nil {
				p.fail(j.err)
				continue
			}
			if opts.Report != nil {
				for _, r := range j.recs {
					opts.Report(r)
				}
			}
			if _, err := w.Write(j.out); err != nil {
				p.fail(err)
			}
		}
	}()
	return p
}

// submit queues a document; false means processing has stopped on an error.
func (p *pipeline) submit(chunk []byte, line int) bool {
	j := &job{chunk: chunk, line: line, ready: make(chan struct{})}
	select {
	case p.order <- j:
	case <-p.stop:
		return false
	}
	p.work <- j
	return true
}

func (p *pipeline) fail(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.stop)
	})
}

func (p *pipeline) wait() error {
	close(p.work)
	p.wg.Wait()
	close(p.order)
	<-p.done
	return p.err
}

func isDocStart(l []byte) bool {
	return bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r')
}

// onlyDirectives reports whether chunk is directives (%YAML, %TAG) that
// belong to the document its "---" starts, with comments and blank lines.
func onlyDirectives(chunk []byte) bool {
	directive := false
	for len(chunk) > 0 {
		l := chunk
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			l, chunk = chunk[:i], chunk[i+1:]
		} else {
			chunk = nil
		}
		l = bytes.TrimSpace(l)
		switch {
		case len(l) == 0 || l[0] == '#':
		case l[0] == '%':
			directive = true
		default:
			return false
		}
	}
	return directive
}

func isDocEnd(l []byte) bool {
	return bytes.HasPrefix(l, []byte("...")) && len(bytes.TrimRight(l[3:], " \t\r\n")) == 0
}

// Compiled on first use, not at package initialisation, which every meshctl
// command pays.
var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:yaml: )?line (\d+): `) })

// yamlError locates a yaml.v3 error of the document chunk in the whole input.
func yamlError(source string, firstLine int, chunk []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		// Type errors carry 1-based lines of the chunk.
		msg := te.Errors[0]
		line := firstLine
		if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = firstLine+n-1, msg[len(m[0]):]
		}
		return &InputError{Source: source, Line: line, Err: errors.New("invalid YAML: " + msg)}
	}
	msg := err.Error()
	line := firstLine
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		// Syntax errors name the line where the enclosing block began (and
		// count from 0); the line that breaks it is the first whose prefix
		// of the document fails the same way.
		n, _ := strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		line = firstLine + n
		if l, ok := firstFailingLine(chunk, msg); ok {
			line = firstLine + l - 1
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &InputError{Source: source, Line: line, Err: errors.New("invalid YAML: " + msg)}
}

func firstFailingLine(chunk []byte, msg string) (int, bool) {
	lines := bytes.SplitAfter(chunk, []byte{'\n'})
	if len(lines) > 2000 {
		return 0, false
	}
	end := 0
	for i, l := range lines {
		end += len(l)
		var n yaml.Node
		err := yaml.Unmarshal(chunk[:end], &n)
		if err == nil {
			continue
		}
		if m := yamlLineRE().FindStringSubmatch(err.Error()); m != nil && err.Error()[len(m[0]):] == msg {
			return i + 1, true
		}
	}
	return 0, false
}

// workload is one pod template found in a document.
type workload struct {
	id       Workload
	line     int
	item     int        // index in the List's items, or -1
	tmplNode *yaml.Node // the pod template (or the pod)
	end      int        // where the template's text ends
	old, new []byte     // template JSON before and after
}

func processDoc(dst, chunk []byte, firstLine int, opts Options, t *textEditor) ([]byte, error) {
	if n := len(chunk); n > 0 && chunk[n-1] != '\n' {
		// The end of an input without a final newline. Edited as if it had
		// one, and written without it again, text added at the end starts on
		// a line of its own and uninject gives back the last byte too.
		out, err := processDoc(dst, append(chunk[:n:n], '\n'), firstLine, opts, t)
		if err == nil && len(out) > len(dst) && out[len(out)-1] == '\n' {
			out = out[:len(out)-1]
		}
		return out, err
	}
	// A decoder, not yaml.Unmarshal: Unmarshal stops after the first node and
	// would pass text after it (`"" 00`) through as if it were valid YAML.
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(yaml12As11(chunk)))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, yamlError(opts.Source, firstLine, chunk, err)
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); err != io.EOF {
		if err == nil {
			err = errors.New("more than one document where one was expected")
		}
		return nil, yamlError(opts.Source, firstLine, chunk, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return append(dst, chunk...), nil
	}
	t.reset(chunk)
	root := doc.Content[0]
	// Every document written must read back as an object: the edits go
	// where keys are written, and a key written twice (the object then means
	// its last value) or anything else the API server could not read makes
	// that place ambiguous. Such a document is refused whole, not passed on.
	if _, err := config.JSONOf(root); err != nil {
		line := root.Line
		var ne *config.NodeError
		if errors.As(err, &ne) && ne.Line > 0 {
			line, err = ne.Line, errors.New(ne.Message)
		}
		_, meta, _ := mapGet(root, "metadata")
		if kind, name := scalar(root, "kind"), scalar(meta, "name"); kind != "" && name != "" {
			err = fmt.Errorf("%s: %w", Workload{Kind: kind, Name: name, Namespace: scalar(meta, "namespace")}, err)
		}
		return nil, &InputError{Source: opts.Source, Line: firstLine + line - 1, Err: err}
	}
	var wls []*workload
	if err := collect(t, root, t.backOver(len(chunk), root.Column-1), firstLine, opts, &wls, -1); err != nil {
		return nil, err
	}
	if len(wls) == 0 {
		return append(dst, chunk...), nil
	}
	detectLayout(t, root)
	var out []byte
	var err error
	for _, wl := range wls {
		if err = t.diffMap(wl.tmplNode, wl.old, wl.new, wl.end); err != nil {
			break
		}
	}
	if err == nil {
		out, err = t.apply(dst)
	}
	if err == nil && verifyDoc(root, out[len(dst):], wls) != nil {
		// The text edit produced something that does not read back as
		// the injector's result: write the document anew instead.
		err = errFallback
	}
	if err != nil && !errors.Is(err, errFallback) {
		return nil, &InputError{Source: opts.Source, Line: firstLine + wls[0].line - 1, Err: fmt.Errorf("%s: %v", wls[0].id, err)}
	}
	if err == nil {
		return out, nil
	}
	out, err = rerender(dst, &doc, wls, opts, firstLine)
	if err != nil {
		return nil, err
	}
	if err := verifyDoc(root, out[len(dst):], wls); err != nil {
		return nil, &InputError{Source: opts.Source, Line: firstLine + wls[0].line - 1,
			Err: fmt.Errorf("%s: meshctl could not write this document correctly (%v); nothing was written, please report this input", wls[0].id, err)}
	}
	return out, nil
}

// rerender writes the whole document anew, for layouts the text editor
// does not handle (JSON input, flow style): correct, but comments inside the
// document and its original formatting are not kept.
func rerender(dst []byte, doc *yaml.Node, wls []*workload, opts Options, firstLine int) ([]byte, error) {
	for _, wl := range wls {
		var n yaml.Node
		if err := yaml.Unmarshal(wl.new, &n); err != nil {
			return nil, err
		}
		if wl.id.Kind != "Pod" {
			*wl.tmplNode = *n.Content[0]
			continue
		}
		// A Pod is its own template: only its metadata and spec are
		// replaced; apiVersion, kind and status stay.
		tmpl := n.Content[0]
		for i := 0; i+1 < len(tmpl.Content); i += 2 {
			if _, v, _ := mapGet(wl.tmplNode, tmpl.Content[i].Value); v != nil {
				*v = *tmpl.Content[i+1]
			} else {
				wl.tmplNode.Content = append(wl.tmplNode.Content, tmpl.Content[i], tmpl.Content[i+1])
			}
		}
	}
	clearFlow(doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, &InputError{Source: opts.Source, Line: firstLine, Err: err}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("---")) && firstLine > 1 {
		dst = append(dst, "---\n"...)
	}
	return append(dst, buf.Bytes()...), nil
}

// yaml12As11 lets yaml.v3, which refuses "%YAML 1.2", parse documents that
// declare it: for what Kubernetes manifests contain the two read the same.
// The directive is rewritten in a copy of equal length, so positions in the
// node tree still point into the original text.
func yaml12As11(chunk []byte) []byte {
	i := bytes.Index(chunk, []byte("%YAML 1.2"))
	if i < 0 || (i > 0 && chunk[i-1] != '\n') {
		return chunk
	}
	c := append([]byte(nil), chunk...)
	c[i+8] = '1'
	return c
}

// clearFlow lets the encoder choose block style and quoting, so that JSON
// input comes out as ordinary YAML.
func clearFlow(n *yaml.Node) {
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Style = 0
	}
	for _, c := range n.Content {
		clearFlow(c)
	}
}

func mapGet(m *yaml.Node, key string) (k, v *yaml.Node, next *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if i+2 < len(m.Content) {
				next = m.Content[i+2]
			}
			return m.Content[i], m.Content[i+1], next
		}
	}
	return nil, nil, nil
}

func scalar(m *yaml.Node, key string) string {
	_, v, _ := mapGet(m, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

// collect finds the workloads of object obj, whose text ends at end, runs
// the injector on each and records them in wls. item is obj's index in the
// document's List, or -1 for the document itself.
func collect(t *textEditor, obj *yaml.Node, end, firstLine int, opts Options, wls *[]*workload, item int) error {
	kind := scalar(obj, "kind")
	_, meta, _ := mapGet(obj, "metadata")
	name, ns := scalar(meta, "name"), scalar(meta, "namespace")
	report := func(a Action, reason string) {
		if opts.Report != nil && kind != "" {
			opts.Report(Record{Kind: kind, Name: name, Namespace: ns, Action: a, Reason: reason})
		}
	}
	if kind == "List" || (strings.HasSuffix(kind, "List") && scalar(obj, "apiVersion") == "v1") {
		_, items, next := mapGet(obj, "items")
		if items == nil || items.Kind != yaml.SequenceNode || item >= 0 {
			return nil
		}
		// kubectl prints a List's kind and metadata after its items: the
		// last item ends where the next key begins, not where the List does.
		itemsEnd := end
		if next != nil {
			itemsEnd = t.backOver(t.lineStart(next.Line), obj.Column-1)
		}
		for i, it := range items.Content {
			if it.Kind != yaml.MappingNode {
				continue
			}
			itemEnd := itemsEnd
			if i+1 < len(items.Content) {
				next := items.Content[i+1]
				itemEnd = t.backOver(t.lineStart(next.Line), items.Column-1)
			}
			if err := collect(t, it, itemEnd, firstLine, opts, wls, i); err != nil {
				return err
			}
		}
		return nil
	}
	path, ok := templatePaths[kind]
	if !ok {
		report(ActionSkipped, "")
		return nil
	}
	id := Workload{Kind: kind, Name: name, Namespace: ns}
	bad := func(line int, format string, args ...any) error {
		return &InputError{Source: opts.Source, Line: firstLine + line - 1, Err: fmt.Errorf("%s: %s", id, fmt.Sprintf(format, args...))}
	}
	node, nodeEnd, at := obj, end, obj.Line
	for i, key := range path {
		k, v, next := mapGet(node, key)
		if v == nil || v.Kind != yaml.MappingNode {
			if k != nil {
				at = k.Line
			}
			return bad(at, "%s is missing or not a mapping", strings.Join(path[:i+1], "."))
		}
		if next != nil {
			nodeEnd = t.backOver(t.lineStart(next.Line), node.Column-1)
		}
		at = k.Line
		node = v
	}
	raw, err := config.JSONOf(node)
	if err != nil {
		var ne *config.NodeError
		if errors.As(err, &ne) && ne.Line > 0 {
			return bad(ne.Line, "%s", ne.Message)
		}
		return bad(node.Line, "%v", err)
	}
	var tmpl corev1.PodTemplateSpec
	if err := jsonUnmarshal(raw, &tmpl); err != nil {
		return bad(node.Line, "malformed pod template: %v", err)
	}
	if kind == "Pod" && tmpl.Name == "" {
		tmpl.Name = name
	}
	var newTmpl *corev1.PodTemplateSpec
	switch opts.Mode {
	case ModeUninject:
		out, changed, err := Uninject(id, &tmpl)
		if err != nil {
			return bad(node.Line, "%v", err)
		}
		if !changed {
			report(ActionSkipped, "not injected")
			return nil
		}
		newTmpl = out
		report(ActionUninjected, "")
	default:
		res, err := Inject(id, &tmpl, opts.Config)
		if err != nil {
			// Inject's errors already name the workload.
			return &InputError{Source: opts.Source, Line: firstLine + node.Line - 1, Err: err}
		}
		if res.Action != ActionInjected {
			report(res.Action, res.Reason)
			return nil
		}
		newTmpl = res.Template
		report(ActionInjected, "")
	}
	oldJSON, err := marshalJSON(&tmpl)
	if err != nil {
		return err
	}
	newJSON, err := marshalJSON(newTmpl)
	if err != nil {
		return err
	}
	*wls = append(*wls, &workload{id: id, line: node.Line, item: item, tmplNode: node, end: nodeEnd, old: oldJSON, new: newJSON})
	return nil
}

// detectLayout makes inserted text look like the document around it: the
// indent of nested mappings and whether lists are indented under their key.
func detectLayout(t *textEditor, root *yaml.Node) {
	unit, seq := 0, -1
	var walk func(m *yaml.Node, depth int)
	walk = func(m *yaml.Node, depth int) {
		if depth > 8 || (unit > 0 && seq >= 0) {
			return
		}
		switch m.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := m.Content[i], m.Content[i+1]
				if !isBlock(v) || v.Line == k.Line {
					continue
				}
				switch v.Kind {
				case yaml.MappingNode:
					if unit == 0 && v.Column > k.Column {
						unit = v.Column - k.Column
					}
				case yaml.SequenceNode:
					if seq < 0 {
						seq = v.Column - k.Column
					}
				}
				walk(v, depth+1)
			}
		case yaml.SequenceNode:
			for _, c := range m.Content {
				walk(c, depth+1)
			}
		}
	}
	walk(root, 0)
	if unit <= 0 {
		unit = 2
	}
	if seq < 0 {
		seq = 0
	}
	t.emit.unit, t.emit.seqOffset = unit, seq
}
