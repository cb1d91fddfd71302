// Package verifyinstall is the `meshctl verify-install` command.
package verifyinstall

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options are the inputs of `meshctl verify-install`.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	Spec    installcmd.SpecFlags
	Output  string

	cmd *cobra.Command
}

// NewCmdVerifyInstall builds `meshctl verify-install`.
func NewCmdVerifyInstall(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "verify-install",
		Short: "Check that every object of the install exists and is ready",
		Long: `Check every object an install renders: it exists in the cluster, and
Deployments are available and CRDs established. Without --profile, -f or
--set, the spec recorded by the last install of the revision is checked.
Exits 1 when something is missing or not ready.`,
		Example: `  meshctl verify-install
  meshctl verify-install --revision canary
  meshctl verify-install --profile demo -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd = cmd
			if o.Output != "" {
				if err := output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML); err != nil {
					return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
				}
			}
			return o.Run(cmd.Context())
		},
	}
	o.Spec.AddFlags(cmd)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a table)")
	return cmd
}

// Run verifies.
func (o *Options) Run(ctx context.Context) error {
	c, err := installcmd.Clients(o.Factory)
	if err != nil {
		return err
	}
	var mi *profiles.MeshInstall
	if o.Spec.Given() {
		if mi, err = o.Spec.Resolve(o.Factory, o.cmd); err != nil {
			return err
		}
	} else {
		ns := o.Factory.MeshNamespace
		rev := o.Spec.Revision
		if rev == "" {
			rev = vocab.DefaultRevision
		}
		inv, err := install.ReadInventory(ctx, c, ns, rev)
		if err != nil {
			return err
		}
		if !inv.Found || inv.Spec == nil {
			return &install.ErrNotInstalled{Namespace: ns, Revision: rev}
		}
		mi = inv.Spec
	}
	m, err := install.Render(mi)
	if err != nil {
		return err
	}
	statuses, err := install.Verify(ctx, c, m)
	if err != nil {
		return err
	}
	bad := 0
	for _, s := range statuses {
		if !s.Ready {
			bad++
		}
	}
	if o.Output != "" {
		if err := output.PrintData(o.IO.Out, o.Output, statuses); err != nil {
			return err
		}
	} else {
		rows := make([][]string, 0, len(statuses))
		for _, s := range statuses {
			status := "Ready"
			switch {
			case !s.Exists:
				status = "Missing"
			case !s.Ready:
				status = "NotReady"
			}
			rows = append(rows, []string{s.Component, s.Ref, status, s.Reason})
		}
		if err := output.New(o.IO).Table([]string{"COMPONENT", "OBJECT", "STATUS", "REASON"}, rows); err != nil {
			return err
		}
	}
	p := output.New(o.IO)
	if bad > 0 {
		p.Failure("%d of %d objects are missing or not ready", bad, len(statuses))
		return cmdutil.SilentExit(cmdutil.ExitFailure)
	}
	if o.Output == "" {
		p.Success("%s", fmt.Sprintf("All %d objects of the install are present and ready", len(statuses)))
	}
	return nil
}
