// Package profile is the `meshctl profile` command: list, dump and diff the
// built-in install profiles.
package profile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"

	"github.com/spf13/cobra"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	manifestcmd "github.com/meshctl/meshctl/pkg/cmd/manifest"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/profiles"
)

// NewCmdProfile builds `meshctl profile`.
func NewCmdProfile(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "List, show and compare the built-in install profiles",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdList(f), newCmdDump(f), newCmdDiff(f))
	return cmd
}

func profileCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return profiles.Names(), cobra.ShellCompDirectiveNoFileComp
}

// ListOptions are the inputs of `meshctl profile list`.
type ListOptions struct {
	IO     *iostreams.IOStreams
	Output string
}

func newCmdList(f *cmdutil.Factory) *cobra.Command {
	o := &ListOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the built-in profiles",
		Example: "  meshctl profile list",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output != "" {
				if err := output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML); err != nil {
					return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
				}
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a table)")
	return cmd
}

type profileInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Run lists.
func (o *ListOptions) Run() error {
	var infos []profileInfo
	for _, n := range profiles.Names() {
		src, err := profiles.ProfileSource(n)
		if err != nil {
			return err
		}
		infos = append(infos, profileInfo{Name: n, Description: description(src)})
	}
	if o.Output != "" {
		return output.PrintData(o.IO.Out, o.Output, infos)
	}
	rows := make([][]string, len(infos))
	for i, p := range infos {
		rows[i] = []string{p.Name, p.Description}
	}
	return output.New(o.IO).Table([]string{"PROFILE", "DESCRIPTION"}, rows)
}

// description is the first sentence of the profile file's leading comment.
func description(src []byte) string {
	var text []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "#")
		if !ok {
			break
		}
		text = append(text, strings.TrimSpace(line))
	}
	s := strings.Join(text, " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	_, after, found := strings.Cut(s, ": ")
	if found {
		s = strings.ToUpper(after[:1]) + after[1:]
	}
	return s
}

// DumpOptions are the inputs of `meshctl profile dump`.
type DumpOptions struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	Spec    installcmd.SpecFlags
	Output  string
	cmd     *cobra.Command
}

func newCmdDump(f *cmdutil.Factory) *cobra.Command {
	o := &DumpOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "dump [PROFILE]",
		Short: "Print a profile as a full MeshInstall spec, with overlays applied",
		Long: `Print the resolved MeshInstall spec of a profile: every field with its value,
after -f files and --set overrides. The output is a valid -f file.`,
		Example: `  meshctl profile dump demo
  meshctl profile dump default --set meshConfig.outboundTrafficPolicy=REGISTRY_ONLY > mesh.yaml`,
		Args:              cmdutil.MaximumNArgs(1),
		ValidArgsFunction: profileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd = cmd
			if len(args) == 1 {
				if o.Spec.Profile != "" && o.Spec.Profile != args[0] {
					return cmdutil.UsageErrorf("profile %q given both as argument and --profile %q: give one", args[0], o.Spec.Profile)
				}
				o.Spec.Profile = args[0]
			}
			if o.Output == "" {
				o.Output = output.FormatYAML
			}
			if err := output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML); err != nil {
				return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
			}
			return o.Run()
		},
	}
	o.Spec.AddFlags(cmd)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "Output format: yaml or json")
	return cmd
}

// Run dumps.
func (o *DumpOptions) Run() error {
	mi, err := o.Spec.Resolve(o.Factory, o.cmd)
	if err != nil {
		return err
	}
	return output.PrintData(o.IO.Out, o.Output, mi)
}

// DiffOptions are the inputs of `meshctl profile diff`.
type DiffOptions struct {
	IO   *iostreams.IOStreams
	A, B string
}

func newCmdDiff(f *cmdutil.Factory) *cobra.Command {
	o := &DiffOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "diff PROFILE_A PROFILE_B",
		Short: "Show the fields two profiles set differently",
		Long: `Compare the resolved specs of two profiles field by field. Exits 0 when they
are the same and 1 when they differ, like diff(1). To compare what they
install, use meshctl manifest diff.`,
		Example:           "  meshctl profile diff default demo",
		Args:              cmdutil.ExactArgs(2),
		ValidArgsFunction: profileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.A, o.B = args[0], args[1]
			return o.Run()
		},
	}
	return cmd
}

// Run compares.
func (o *DiffOptions) Run() error {
	a, err := asMap(o.A)
	if err != nil {
		return err
	}
	b, err := asMap(o.B)
	if err != nil {
		return err
	}
	fields := install.DiffFields(a, b)
	var shown []install.FieldDiff
	for _, f := range fields {
		if f.Path != "spec.profile" {
			shown = append(shown, f)
		}
	}
	p := output.New(o.IO)
	if len(shown) == 0 {
		p.Success("Profiles %s and %s are the same", o.A, o.B)
		return nil
	}
	manifestcmd.PrintFields(o.IO.Out, p, shown, "")
	return cmdutil.SilentExit(cmdutil.ExitFailure)
}

func asMap(profile string) (map[string]any, error) {
	mi, err := profiles.Profile(profile)
	if err != nil {
		return nil, cmdutil.WithExitCode(cmdutil.ExitUsage, err)
	}
	b, err := json.Marshal(mi)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
