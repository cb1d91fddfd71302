// Package validate is the `meshctl validate` command: files checked against
// the schemas and semantic rules of pkg/validation, offline.
package validate

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/validation"
)

// Options are the inputs of `meshctl validate`.
type Options struct {
	IO *iostreams.IOStreams

	Files     []string
	Recursive bool
	Output    string
	Namespace string
}

// Problem is one reported issue, for -o json|yaml.
type Problem struct {
	Severity validation.Severity `json:"severity"`
	Origin   config.Origin       `json:"origin"`
	Object   *config.Key         `json:"object,omitempty"`
	Field    string              `json:"field,omitempty"`
	Message  string              `json:"message"`
}

// Report is what -o json|yaml prints.
type Report struct {
	Objects  int       `json:"objects"`
	Problems []Problem `json:"problems"`
	Errors   int       `json:"errors"`
	ExitCode int       `json:"exitCode"`
}

// NewCmdValidate builds `meshctl validate`.
func NewCmdValidate(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR|- [-R]",
		Short: "Check mesh configuration files against the API schemas and rules",
		Long: `Check files against the schemas of the mesh API (unknown fields, wrong types,
unserved versions) and its semantic rules (hosts, ports, weights, regular
expressions, TLS settings, …): the same rules the validation webhook of
meshctl server applies. Every problem names its file and line. No cluster is
needed; use meshctl analyze to check how objects fit together.

Exit codes: 0 valid (warnings allowed), 65 invalid or unparseable input,
64 wrong command line.`,
		Example: `  meshctl validate -f routes.yaml
  meshctl validate -R -f deploy/mesh/
  kustomize build overlays/prod | meshctl validate -f -`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = append(o.Files, args...)
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			o.Namespace = ns
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringSliceVarP(&o.Files, "filename", "f", nil, "Files or directories to validate, \"-\" for stdin")
	cmd.Flags().BoolVarP(&o.Recursive, "recursive", "R", false, "Read directories recursively")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: text (default), json or yaml")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks flags.
func (o *Options) Validate() error {
	if len(o.Files) == 0 {
		return cmdutil.UsageErrorf("no input: give files or directories with -f (or - for stdin)")
	}
	switch o.Output {
	case "", "text", output.FormatJSON, output.FormatYAML:
	default:
		return cmdutil.UsageErrorf("unsupported output format %q: use text, json or yaml", o.Output)
	}
	return nil
}

// Run validates and prints.
func (o *Options) Run(_ context.Context) error {
	rs, parseErrs, err := config.LoadFiles(o.Files, o.Recursive, o.IO.In)
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
	}
	config.DefaultNamespace(rs, o.Namespace)
	config.DefaultNamespaceErrors(parseErrs, o.Namespace)
	r := Check(rs, parseErrs)
	if r.Errors > 0 {
		r.ExitCode = cmdutil.ExitDataErr
	}
	switch o.Output {
	case output.FormatJSON, output.FormatYAML:
		if r.Problems == nil {
			r.Problems = []Problem{}
		}
		if err := output.PrintData(o.IO.Out, o.Output, r); err != nil {
			return err
		}
	default:
		o.printText(r)
	}
	if r.ExitCode != 0 {
		return cmdutil.SilentExit(r.ExitCode)
	}
	return nil
}

// Check runs the rules over parsed objects and collects every problem,
// sorted by file and line.
func Check(rs []*config.Resource, parseErrs []*config.ParseError) Report {
	var r Report
	for _, e := range parseErrs {
		r.Problems = append(r.Problems, Problem{Severity: validation.SeverityError, Origin: e.Origin, Object: e.Object, Field: e.Field, Message: e.Message})
	}
	for _, res := range rs {
		if !res.Known() {
			continue
		}
		r.Objects++
		key := res.Key()
		for _, is := range append(validation.Validate(res), validation.Deprecations(res)...) {
			r.Problems = append(r.Problems, Problem{Severity: is.Severity, Origin: res.OriginAt(is.Field), Object: &key, Field: is.Field, Message: is.Message})
		}
	}
	for _, p := range r.Problems {
		if p.Severity == validation.SeverityError {
			r.Errors++
		}
	}
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i].Origin, r.Problems[j].Origin
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Line < b.Line
	})
	return r
}

func (o *Options) printText(r Report) {
	p := output.New(o.IO)
	for _, pr := range r.Problems {
		sev := p.Red(string(pr.Severity))
		if pr.Severity == validation.SeverityWarning {
			sev = p.Yellow(string(pr.Severity))
		}
		obj := ""
		if pr.Object != nil {
			obj = pr.Object.String() + ": "
		}
		msg := pr.Message
		if pr.Field != "" {
			msg = pr.Field + ": " + msg
		}
		fmt.Fprintf(o.IO.Out, "%s %s: %s%s\n", sev, pr.Origin, obj, msg)
	}
	switch {
	case r.Errors > 0:
		p.Failure("Validation failed: %d error(s); fix them and validate again", r.Errors)
	case r.Objects == 0:
		p.Warning("no mesh or Kubernetes objects that meshctl validates were found in the input")
	default:
		p.Success("Validation succeeded: %d object(s) checked", r.Objects)
	}
}
