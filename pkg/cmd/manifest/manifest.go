// Package manifest is the `meshctl manifest` command: generate and diff.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// NewCmdManifest builds `meshctl manifest`.
func NewCmdManifest(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Render the install's Kubernetes manifests, or compare two renders",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdGenerate(f), NewCmdDiff(f))
	return cmd
}

// GenerateOptions are the inputs of `meshctl manifest generate`.
type GenerateOptions struct {
	IO        *iostreams.IOStreams
	Factory   *cmdutil.Factory
	Spec      installcmd.SpecFlags
	OutputDir string

	cmd *cobra.Command
}

// NewCmdGenerate builds `meshctl manifest generate`.
func NewCmdGenerate(f *cmdutil.Factory) *cobra.Command {
	o := &GenerateOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Print the manifests an install would apply",
		Long: `Print the objects install applies for a spec, as one YAML stream, sorted and
byte-identical across runs; with -o DIR, write one file per component instead
(each replaced atomically, symlinks replaced rather than followed; files an
earlier run wrote for components no longer rendered are removed, other files
are left alone). -f - reads the spec from standard input.
No cluster is needed. The mesh namespace itself is not included: install
creates it when missing.`,
		Example: `  meshctl manifest generate --profile demo > demo.yaml
  meshctl manifest generate -f mesh.yaml --set components.server.replicas=2
  meshctl manifest generate --profile demo -o ./manifests/
  echo 'spec: {meshConfig: {mtls: {mode: STRICT}}}' | meshctl manifest generate -f -`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd = cmd
			return o.Run()
		},
	}
	o.Spec.AddFlags(cmd)
	cmd.Flags().StringVarP(&o.OutputDir, "output", "o", "", "Write one <component>.yaml per component into this directory")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

// Run renders.
func (o *GenerateOptions) Run() error {
	mi, err := o.Spec.Resolve(o.Factory, o.cmd)
	if err != nil {
		return err
	}
	if o.OutputDir == "" {
		w := bufio.NewWriterSize(o.IO.Out, 64<<10)
		if err := install.WriteRenderedYAML(w, mi); err != nil {
			return err
		}
		return w.Flush()
	}
	res, err := install.WriteRenderedDir(o.OutputDir, mi)
	if err != nil {
		return err
	}
	for _, k := range res.Kept {
		fmt.Fprintf(o.IO.ErrOut, "Kept %s: an earlier run wrote it, but it is no longer a regular file\n", filepath.Join(o.OutputDir, k))
	}
	msg := fmt.Sprintf("Wrote %d components to %s", len(res.Written), o.OutputDir)
	if len(res.Removed) > 0 {
		msg += fmt.Sprintf(" and removed %d no longer rendered (%s)", len(res.Removed), strings.Join(res.Removed, ", "))
	}
	output.New(o.IO).Success("%s", msg)
	return nil
}

// DiffOptions are the inputs of `meshctl manifest diff`.
type DiffOptions struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	A, B    string
	Output  string
}

// NewCmdDiff builds `meshctl manifest diff`.
func NewCmdDiff(f *cmdutil.Factory) *cobra.Command {
	o := &DiffOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two renders object by object",
		Long: `Compare two sets of manifests object by object (by kind, namespace and name)
and field by field. A and B are each a rendered manifest file (from manifest
generate or any YAML stream), a directory written by manifest generate -o, a
MeshInstall file (rendered first), or the name of a built-in profile. Exits 0 when they are the same and 1 when they differ,
like diff(1).`,
		Example: `  meshctl manifest diff default demo
  meshctl manifest generate > before.yaml; meshctl manifest diff before.yaml mesh.yaml`,
		Args: cmdutil.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return profiles.Names(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.A, o.B = args[0], args[1]
			if o.Output != "" {
				if err := output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML); err != nil {
					return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
				}
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: text)")
	return cmd
}

// Run compares.
func (o *DiffOptions) Run(ctx context.Context) error {
	a, err := load(o.A)
	if err != nil {
		return err
	}
	b, err := load(o.B)
	if err != nil {
		return err
	}
	diffs := install.DiffManifests(a, b)
	if o.Output != "" {
		if diffs == nil {
			diffs = []install.ObjectDiff{}
		}
		if err := output.PrintData(o.IO.Out, o.Output, diffs); err != nil {
			return err
		}
	} else {
		PrintDiffs(o.IO.Out, output.New(o.IO), diffs)
	}
	if len(diffs) > 0 {
		return cmdutil.SilentExit(cmdutil.ExitFailure)
	}
	if o.Output == "" {
		output.New(o.IO).Success("%s and %s render the same %d objects", o.A, o.B, len(a))
	}
	return nil
}

// PrintDiffs writes object diffs as text: + added, - removed, ~ changed
// with one line per field.
func PrintDiffs(w io.Writer, p *output.Printer, diffs []install.ObjectDiff) {
	for _, d := range diffs {
		switch d.Change {
		case "added":
			fmt.Fprintf(w, "%s %s\n", p.Green("+"), d.Ref)
		case "removed":
			fmt.Fprintf(w, "%s %s\n", p.Red("-"), d.Ref)
		default:
			fmt.Fprintf(w, "%s %s\n", p.Yellow("~"), d.Ref)
			PrintFields(w, p, d.Fields, "    ")
		}
	}
}

// PrintFields writes field differences, one per line.
func PrintFields(w io.Writer, p *output.Printer, fields []install.FieldDiff, indent string) {
	for _, f := range fields {
		switch {
		case !f.InA:
			fmt.Fprintf(w, "%s%s %s: %s\n", indent, p.Green("+"), f.Path, oneLine(f.B))
		case !f.InB:
			fmt.Fprintf(w, "%s%s %s: %s\n", indent, p.Red("-"), f.Path, oneLine(f.A))
		default:
			fmt.Fprintf(w, "%s%s %s: %s → %s\n", indent, p.Yellow("~"), f.Path, oneLine(f.A), oneLine(f.B))
		}
	}
}

func oneLine(s string) string {
	if len(s) > 120 || strings.Contains(s, "\n") {
		first, _, _ := strings.Cut(s, "\n")
		if len(first) > 80 {
			first = first[:80]
		}
		return fmt.Sprintf("%q… (%d bytes)", first, len(s))
	}
	return s
}

// load reads one side of a diff: a manifest file, a directory of them, a
// MeshInstall file or a profile name.
func load(arg string) ([]*unstructured.Unstructured, error) {
	if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
		return loadDir(arg)
	}
	b, err := os.ReadFile(arg)
	if errors.Is(err, fs.ErrNotExist) && slices.Contains(profiles.Names(), arg) {
		return render(profiles.ResolveOptions{Profile: arg})
	}
	if err != nil {
		// As diff(1): a side that cannot be read means no comparison.
		return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%w (give a manifest file, a MeshInstall file or a profile: %s)", err, strings.Join(profiles.Names(), ", ")))
	}
	if bytes.Contains(b, []byte("kind: "+profiles.Kind)) {
		return render(profiles.ResolveOptions{Files: []string{arg}})
	}
	objs, err := install.ParseObjects(arg, bytes.NewReader(b))
	if err != nil {
		return nil, cmdutil.WithExitCode(cmdutil.ExitDataErr, err)
	}
	return objs, nil
}

func render(o profiles.ResolveOptions) ([]*unstructured.Unstructured, error) {
	mi, err := profiles.Resolve(o)
	if err != nil {
		return nil, cmdutil.WithExitCode(installcmd.SpecExitCode(err), err)
	}
	m, err := install.Render(mi)
	if err != nil {
		return nil, err
	}
	return m.Objects(), nil
}

// loadDir reads the manifest files of a directory (as manifest generate -o
// writes it), in name order.
func loadDir(dir string) ([]*unstructured.Unstructured, error) {
	files, err := config.ExpandPaths([]string{dir}, false)
	if err != nil {
		return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, err)
	}
	if len(files) == 0 {
		return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%s has no .yaml, .yml or .json files", dir))
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, err)
		}
		objs, err := install.ParseObjects(f, bytes.NewReader(b))
		if err != nil {
			return nil, cmdutil.WithExitCode(cmdutil.ExitDataErr, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}
