// Package output is the one printer of meshctl: ✔/✘/! status lines in the
// style users know from istioctl, tables, and -o yaml|json for data. Color is
// decided by the IOStreams (off for NO_COLOR and for non-terminals).
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fatih/color"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/iostreams"
)

// Symbols of the status lines.
const (
	SymbolSuccess = "✔"
	SymbolFailure = "✘"
	SymbolWarning = "!"
)

// Printer writes human-oriented output for one command invocation.
type Printer struct {
	streams *iostreams.IOStreams
	green   *color.Color
	red     *color.Color
	yellow  *color.Color
	bold    *color.Color
}

// New returns a printer for streams.
func New(streams *iostreams.IOStreams) *Printer {
	p := &Printer{
		streams: streams,
		green:   color.New(color.FgGreen),
		red:     color.New(color.FgRed),
		yellow:  color.New(color.FgYellow),
		bold:    color.New(color.Bold),
	}
	for _, c := range []*color.Color{p.green, p.red, p.yellow, p.bold} {
		// fatih/color decides globally from os.Stdout; the streams know better
		// (a test buffer, a pipe, NO_COLOR), so set every color explicitly.
		if streams.ColorEnabled() {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return p
}

// The streams rule of every command: standard output carries only the
// command's data (generated YAML, -o json|yaml|sarif reports, tables,
// findings, problems, diffs), so that it can be piped or redirected as it
// is; standard error carries everything about the run: progress, summaries,
// warnings and errors. The status lines below are never data, so they all go
// to standard error.

// Success prints "✔ message" to standard error.
func (p *Printer) Success(format string, args ...any) {
	fmt.Fprintf(p.streams.ErrOut, "%s %s\n", p.green.Sprint(SymbolSuccess), fmt.Sprintf(format, args...))
}

// Failure prints "✘ message" to standard error.
func (p *Printer) Failure(format string, args ...any) {
	fmt.Fprintf(p.streams.ErrOut, "%s %s\n", p.red.Sprint(SymbolFailure), fmt.Sprintf(format, args...))
}

// Warning prints "! message" to standard error.
func (p *Printer) Warning(format string, args ...any) {
	fmt.Fprintf(p.streams.ErrOut, "%s %s\n", p.yellow.Sprint(SymbolWarning), fmt.Sprintf(format, args...))
}

// Info prints a plain line to standard error (progress and reports that are
// not the command's data).
func (p *Printer) Info(format string, args ...any) {
	fmt.Fprintf(p.streams.ErrOut, format+"\n", args...)
}

// Colorize helpers for callers that compose their own lines.
func (p *Printer) Red(s string) string    { return p.red.Sprint(s) }
func (p *Printer) Yellow(s string) string { return p.yellow.Sprint(s) }
func (p *Printer) Green(s string) string  { return p.green.Sprint(s) }
func (p *Printer) Bold(s string) string   { return p.bold.Sprint(s) }

// Table prints rows under headers in the plain, borderless style of kubectl
// get, so that the output stays greppable and awk-friendly.
func (p *Printer) Table(headers []string, rows [][]string) error {
	return WriteTable(p.streams.Out, headers, rows)
}

// WriteTable writes a kubectl-style table to w: left-aligned columns three
// blanks apart, no borders, no trailing blanks. It is text/tabwriter, as in
// kubectl's own printers (a table library costs every meshctl process
// hundreds of KB of allocations at start-up).
func WriteTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	writeRow := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				_, _ = io.WriteString(tw, "\t")
			}
			// A tab or newline inside a cell would break the columns.
			_, _ = io.WriteString(tw, cellReplacer.Replace(c))
		}
		_, _ = io.WriteString(tw, "\n")
	}
	writeRow(headers)
	for _, r := range rows {
		writeRow(r)
	}
	return tw.Flush()
}

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ")

// Formats accepted by -o for data.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// ValidateFormat checks an -o value against the formats a command supports.
func ValidateFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("unsupported output format %q: use one of %s", format, strings.Join(allowed, ", "))
}

// PrintData writes v as yaml or json. Kubernetes objects go through
// cli-runtime's printers so they look exactly as kubectl prints them.
func PrintData(w io.Writer, format string, v any) error {
	if obj, ok := v.(runtime.Object); ok {
		switch format {
		case FormatYAML:
			return (&printers.YAMLPrinter{}).PrintObj(obj, w)
		case FormatJSON:
			return (&printers.JSONPrinter{}).PrintObj(obj, w)
		}
	}
	switch format {
	case FormatJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported output format %q", format)
}
