// Package analyze checks mesh configuration for mistakes that the API
// server accepts but that break or silently change routing and security.
//
// Analyzers are read-only functions over a config.Store; each has a stable
// code (MSH0101), a level, and a doc line. Analyze runs the selected
// analyzers, turns parse errors into findings, applies suppressions and
// returns the findings sorted stably. Formatting (text, json, yaml, SARIF)
// is in format.go; exit codes are the command's business.
package analyze

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/meshctl/meshctl/internal/parallel"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/validation"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Level of a finding.
type Level int

const (
	Info Level = iota
	Warning
	Error
)

func (l Level) String() string {
	switch l {
	case Error:
		return "Error"
	case Warning:
		return "Warning"
	}
	return "Info"
}

// ParseLevel reads "Error", "warning", "INFO"…
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "error":
		return Error, nil
	case "warning", "warn":
		return Warning, nil
	case "info":
		return Info, nil
	}
	return Info, fmt.Errorf("unknown level %q: use Error, Warning or Info", s)
}

// MarshalText makes levels read as words in json and yaml.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level back, so that a report read from -o json or
// -o yaml has the levels it was written with.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Analyzer is one check.
type Analyzer struct {
	Code  string
	Name  string
	Level Level
	// Doc is the one line shown by --list-analyzers.
	Doc string
	// Inputs are the kinds the analyzer reads; only these are listed from
	// the cluster.
	Inputs []config.Kind
	Run    func(c *Context)
}

// Finding is one problem found.
type Finding struct {
	Code     string        `json:"code"`
	Level    Level         `json:"level"`
	Analyzer string        `json:"analyzer"`
	Object   config.Key    `json:"object,omitzero"`
	Origin   config.Origin `json:"origin"`
	Message  string        `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
}

// String is the text-format line without color.
func (f Finding) String() string {
	return fmt.Sprintf("%s [%s] (%s) %s", f.Level, f.Code, f.ObjectRef(), f.Message)
}

// ObjectRef is "VirtualService default/reviews routes.yaml:12".
func (f Finding) ObjectRef() string {
	ref := string(f.Object.Kind)
	if f.Object.Name != "" {
		ref += " "
		if f.Object.Namespace != "" {
			ref += f.Object.Namespace + "/"
		}
		ref += f.Object.Name
	}
	if ref == "" {
		return f.Origin.String()
	}
	return ref + " " + f.Origin.String()
}

// Suppression silences a code for objects whose "Kind namespace/name"
// matches a glob (* is any text, slashes included; ? one character), as in
// --suppress "MSH0101=VirtualService default/*".
type Suppression struct {
	Code   string
	Object string
	// codes are the MSH codes an IST code stands for (see IstioCodes).
	codes []string
}

// ParseSuppression reads CODE=Kind namespace/name.
func ParseSuppression(s string) (Suppression, error) {
	code, obj, ok := strings.Cut(s, "=")
	code, obj = strings.TrimSpace(code), strings.TrimSpace(obj)
	if !ok || code == "" || obj == "" {
		return Suppression{}, fmt.Errorf("invalid suppression %q: use CODE=Kind namespace/name, globs allowed (MSH0101=VirtualService default/*)", s)
	}
	sup := Suppression{Code: code, Object: obj}
	if isIstioCode(code) {
		codes, ok := istioCodes(code)
		if !ok {
			return Suppression{}, fmt.Errorf("invalid suppression %q: %s is not an istioctl analyze code (IST0101…); see the IST to MSH table in docs/analyze-istio-codes.md", s, code)
		}
		sup.codes = codes // none when meshctl has no such check: harmless
	}
	return sup, nil
}

// codeMatches reports whether a suppression's code (an MSH glob, or an IST
// code or glob standing for MSH codes) covers code.
func codeMatches(pattern string, codes []string, code string) bool {
	if !isIstioCode(pattern) {
		return glob(pattern, code)
	}
	if codes == nil {
		codes, _ = istioCodes(pattern)
	}
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

func (s Suppression) matches(f Finding) bool {
	if !codeMatches(s.Code, s.codes, f.Code) {
		return false
	}
	name := f.Object.Name
	if f.Object.Namespace != "" {
		name = f.Object.Namespace + "/" + f.Object.Name
	}
	// The kind as shown ("Gateway") or qualified by its group
	// ("Gateway.networking.istio.io"), so that a suppression can tell the
	// Istio Gateway from the Gateway API one.
	for _, kind := range []string{string(f.Object.Kind), config.QualifiedKind(f.Object.Kind)} {
		if glob(s.Object, kind+" "+name) {
			return true
		}
	}
	return false
}

// glob matches * against any text (unlike path.Match, across slashes, so
// that "*" alone matches "Kind ns/name").
func glob(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	ok, _ := regexp.MatchString(b.String(), s)
	return ok
}

// Options select what to analyze and what to report.
type Options struct {
	// Analyzers to run; nil means All().
	Analyzers []*Analyzer
	// Namespace limits findings to objects in it (and cluster-scoped ones);
	// "" reports every namespace. Objects of other namespaces are still read
	// as context (gateways, services in other namespaces).
	Namespace string
	// RootNamespace holds mesh-wide policy (PeerAuthentication without
	// selector); default mesh-system.
	RootNamespace string
	// Cluster tells analyzers that the store holds the cluster's objects, so
	// that an absent Secret or Namespace really is absent.
	Cluster      bool
	Suppressions []Suppression
	// OutputThreshold drops findings below it.
	OutputThreshold Level
}

// Result of a run.
type Result struct {
	Findings []Finding `json:"findings"`
	// SyntaxErrors counts input that could not be parsed at all (the
	// command exits with ExitDataErr).
	SyntaxErrors int `json:"-"`
}

// Max returns the highest level among the findings and whether there is any.
func (r Result) Max() (Level, bool) {
	if len(r.Findings) == 0 {
		return Info, false
	}
	m := Info
	for _, f := range r.Findings {
		if f.Level > m {
			m = f.Level
		}
	}
	return m, true
}

// Analyze runs the analyzers over store and reports parse errors as findings.
func Analyze(store *config.Store, parseErrors []*config.ParseError, opts Options) Result {
	if opts.RootNamespace == "" {
		opts.RootNamespace = vocab.DefaultMeshNamespace
	}
	analyzers := opts.Analyzers
	if analyzers == nil {
		analyzers = All()
	}
	var res Result
	var all []Finding
	for _, pe := range parseErrors {
		f := Finding{Origin: pe.Origin, Message: pe.Detail()}
		if pe.Object != nil {
			f.Object = *pe.Object
		}
		if pe.Kind == config.ErrSyntax {
			res.SyntaxErrors++
			f.Code, f.Level, f.Analyzer = codeParse, Error, "ParseError"
			f.Fix = "fix the document; the other documents were still analyzed"
		} else {
			f.Code, f.Level, f.Analyzer = codeSchema, Error, "SchemaValidation"
			f.Fix = "correct the field; the object was left out of the analysis"
		}
		all = append(all, f)
	}
	all = append(all, runAnalyzers(store, opts, analyzers)...)

	for _, f := range all {
		if f.Level < opts.OutputThreshold {
			continue
		}
		if f.Object.Kind != "" && f.Object.Name == "" && f.Code != codeParse && f.Code != codeSchema {
			continue // a nameless object: MSH0002 says so, the rest would be noise about "Kind ns/"
		}
		if opts.Namespace != "" && f.Object.Namespace != "" && f.Object.Namespace != opts.Namespace {
			continue
		}
		if suppressed(store, opts.Suppressions, f) {
			continue
		}
		res.Findings = append(res.Findings, f)
	}
	SortFindings(res.Findings)
	return res
}

func suppressed(store *config.Store, sups []Suppression, f Finding) bool {
	for _, s := range sups {
		if s.matches(f) {
			return true
		}
	}
	if f.Object.Name == "" {
		return false
	}
	r := store.Get(f.Object.Kind, f.Object.Namespace, f.Object.Name)
	if r == nil {
		return false
	}
	for _, key := range []string{vocab.AnnotationAnalyzeSuppress, vocab.IstioAnnotationAnalyzeSuppress} {
		for _, code := range strings.Split(r.Annotations[key], ",") {
			if code = strings.TrimSpace(code); code == "*" || code == f.Code || isIstioCode(code) && codeMatches(code, nil, f.Code) {
				return true
			}
		}
	}
	return false
}

// SortFindings orders findings by level (worst first), then file position
// or object, then code, so that output is stable between runs.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Level != b.Level {
			return a.Level > b.Level
		}
		if a.Origin.Path != b.Origin.Path {
			return a.Origin.Path < b.Origin.Path
		}
		if a.Origin.Line != b.Origin.Line {
			return a.Origin.Line < b.Origin.Line
		}
		if a.Object != b.Object {
			return a.Object.String() < b.Object.String()
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Message < b.Message
	})
}

// runAnalyzers runs the analyzers on every core: they only read the store
// and the views built over it, and the user waits for the slowest path, not
// for the sum. Each analyzer's findings are kept apart and joined in the
// analyzers' order, so that the result is the same as one after the other.
func runAnalyzers(store *config.Store, opts Options, analyzers []*Analyzer) []Finding {
	sh := &shared{}
	found := make([][]Finding, len(analyzers))
	parallel.Each(len(analyzers), 1, func(i int) {
		a := analyzers[i]
		if a.Run == nil {
			return
		}
		c := &Context{Store: store, opts: opts, current: a, shared: sh}
		a.Run(c)
		found[i] = c.findings
	})
	var all []Finding
	for _, f := range found {
		all = append(all, f...)
	}
	return all
}

// Context is what an analyzer sees: the store, helpers over it, and Report.
// Each running analyzer has its own; what they derive from the store is
// built once per run and shared.
type Context struct {
	Store    *config.Store
	opts     Options
	current  *Analyzer
	findings []Finding

	*shared
}

// shared holds the views of the store that analyzers build on first use
// (helpers.go), each once per run whichever analyzer asks first.
type shared struct {
	regOnce sync.Once
	reg     *config.Registry

	wlsOnce sync.Once
	wls     map[string][]workload
	wlsAll  []workload

	// Indexes of selector matching.
	wlsByLabelOnce sync.Once
	wlsByLabel     map[labelPair][]workload
	svcsOnce       sync.Once
	svcsByLabel    map[labelPair][]*config.Resource
	svcOrder       map[*config.Resource]int

	// validation.Validate of every object of validatedKinds: its errors
	// are MSH0002 and its warnings MSH0008.
	issuesOnce sync.Once
	issues     map[*config.Resource][]validation.Issue
}

// Report records a finding of the running analyzer about field of r.
func (c *Context) Report(r *config.Resource, field, fix, format string, args ...any) {
	c.ReportLevel(c.current.Level, r, field, fix, format, args...)
}

// ReportLevel is Report at another level than the analyzer's, for a
// conclusion that is less certain (without a cluster, say).
func (c *Context) ReportLevel(level Level, r *config.Resource, field, fix, format string, args ...any) {
	if r.Origin.Source == config.SourceInstall {
		return // context standing in for the cluster, not the user's config
	}
	c.findings = append(c.findings, Finding{
		Code:     c.current.Code,
		Level:    level,
		Analyzer: c.current.Name,
		Object:   r.Key(),
		Origin:   r.OriginAt(field),
		Message:  fmt.Sprintf(format, args...),
		Fix:      fix,
	})
}

// InputKinds returns the kinds the analyzers read, for loading the cluster.
func InputKinds(analyzers []*Analyzer) []config.Kind {
	seen := map[config.Kind]bool{}
	var out []config.Kind
	for _, a := range analyzers {
		for _, k := range a.Inputs {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Select returns the analyzers whose code or name matches one of the globs
// ("MSH01*", "GatewayNotFound"); nil globs select all.
func Select(globs []string) ([]*Analyzer, error) {
	if len(globs) == 0 {
		return All(), nil
	}
	var out []*Analyzer
	for _, a := range All() {
		for _, g := range globs {
			if glob(g, a.Code) || glob(g, a.Name) {
				out = append(out, a)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no analyzer matches %s; see --list-analyzers", strings.Join(globs, ", "))
	}
	return out, nil
}
