// Package version is the `meshctl version` command.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/version"
)

// Options are the inputs of `meshctl version`.
type Options struct {
	IO     *iostreams.IOStreams
	Output string
}

// NewCmdVersion builds `meshctl version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of meshctl",
		Example: `  meshctl version
  meshctl version -o short
  meshctl version -o json | jq -r .version`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: short, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"short", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the output format.
func (o *Options) Validate() error {
	if o.Output == "" || o.Output == "short" {
		return nil
	}
	return cmdutil.WithExitCode(cmdutil.ExitUsage, output.ValidateFormat(o.Output, "short", output.FormatJSON, output.FormatYAML))
}

// Run prints the build information.
func (o *Options) Run() error {
	info := version.Get()
	switch o.Output {
	case "short":
		_, err := fmt.Fprintln(o.IO.Out, info.Version)
		return err
	case output.FormatJSON, output.FormatYAML:
		return output.PrintData(o.IO.Out, o.Output, info)
	}
	_, err := fmt.Fprintf(o.IO.Out, "meshctl version: %s\ngit commit: %s\nbuild date: %s\ngo version: %s\nplatform: %s\n",
		info.Version, orUnknown(info.GitCommit), orUnknown(info.BuildDate), info.GoVersion, info.Platform)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
