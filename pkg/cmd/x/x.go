// Package x is `meshctl x`, the experimental commands: their flags and
// output may still change between releases.
package x

import (
	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmd/kubeinject"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

// NewCmdX builds `meshctl x` and its subcommands.
func NewCmdX(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "x",
		Aliases: []string{"experimental"},
		Short:   "Experimental commands that may change",
		Args:    cobra.ArbitraryArgs,
		RunE:    cmdutil.RunGroup,
	}
	cmd.AddCommand(NewCmdUninject(f))
	return cmd
}

// UninjectOptions are the inputs of `meshctl x uninject`.
type UninjectOptions struct {
	IO        *iostreams.IOStreams
	Files     []string
	Recursive bool
	Output    string
}

// NewCmdUninject builds `meshctl x uninject`.
func NewCmdUninject(f *cmdutil.Factory) *cobra.Command {
	o := &UninjectOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "uninject -f FILE",
		Short: "Remove the mesh sidecar that kube-inject added",
		Long: `uninject reverses kube-inject: it removes the containers, volumes, labels and
annotations listed in each workload's sidecar.meshctl.io/status annotation
and restores the app's probes and prometheus annotations, giving back the
workload as it was before injection. Workloads without the annotation and
other documents are copied unchanged.`,
		Example: `  meshctl x uninject -f bookinfo-injected.yaml > bookinfo.yaml
  kubectl get deploy reviews-v1 -o yaml | meshctl x uninject -f - | kubectl apply -f -`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Files) == 0 {
				return cmdutil.UsageErrorf("no input: pass -f FILE, -f DIR or -f - for standard input")
			}
			return kubeinject.RunFiles(o.IO, o.Files, o.Recursive, o.Output, inject.Options{Mode: inject.ModeUninject})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Files, "filename", "f", nil, "Input file, directory or - for standard input (repeatable)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "Read directories given with -f recursively")
	fl.StringVarP(&o.Output, "output", "o", "", "Write the result to this file instead of standard output")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}
