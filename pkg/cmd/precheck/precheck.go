// Package precheck is the `meshctl precheck` command.
package precheck

import (
	"context"

	"github.com/spf13/cobra"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
)

// Options are the inputs of `meshctl precheck`.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	Spec    installcmd.SpecFlags
	cmd     *cobra.Command
}

// NewCmdPrecheck builds `meshctl precheck`.
func NewCmdPrecheck(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "precheck",
		Short: "Check that the cluster can take an install",
		Long: `Run the checks install runs first: the cluster is reachable and its version
supported, you may create everything the install renders (SelfSubjectAccessReview),
and no other mesh owns the CRDs. Exits 1 when a check fails.`,
		Example: `  meshctl precheck
  meshctl precheck --profile demo --mesh-namespace mesh-test`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd = cmd
			return o.Run(cmd.Context())
		},
	}
	o.Spec.AddFlags(cmd)
	return cmd
}

// Run runs the checks.
func (o *Options) Run(ctx context.Context) error {
	mi, err := o.Spec.Resolve(o.Factory, o.cmd)
	if err != nil {
		return err
	}
	m, err := install.Render(mi)
	if err != nil {
		return err
	}
	c, err := installcmd.Clients(o.Factory)
	if err != nil {
		return err
	}
	p := output.New(o.IO)
	if err := installcmd.RunPrecheck(ctx, p, c, m, true); err != nil {
		return err
	}
	p.Success("Install prechecks passed")
	return nil
}
