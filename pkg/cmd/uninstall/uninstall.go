// Package uninstall is the `meshctl uninstall` command.
package uninstall

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options are the inputs of `meshctl uninstall`.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory

	Revision string
	Purge    bool
	DryRun   bool
	Yes      bool

	namespace string
}

// NewCmdUninstall builds `meshctl uninstall`.
func NewCmdUninstall(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove an install from the cluster",
		Long: `Remove what an install created, as recorded in its inventory (the ConfigMap
meshctl-install[-<revision>] in the mesh namespace). Other objects in the mesh
namespace, and the namespace itself, are left alone.

The mesh CRDs are kept, because deleting them deletes every VirtualService,
DestinationRule, ... in the cluster: pass --purge (on the command line; the
environment and the config file cannot set it) to remove them too. Even then
they are kept while any other install (any namespace, any revision) remains,
and the confirmation says how many mesh resources would be lost.`,
		Example: `  meshctl uninstall -y
  meshctl uninstall --revision canary -y
  meshctl uninstall --purge --dry-run`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.namespace = f.MeshNamespace
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Revision, "revision", "", "Revision to remove (default: the default revision)")
	fl.BoolVar(&o.Purge, "purge", false, "Also delete the mesh CRDs and with them every mesh resource in the cluster")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Show what would be removed; change nothing")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	_ = cmdutil.MarkCommandLineOnly(cmd, "purge", "yes")
	return cmd
}

// purgeClause ends the confirmation question of --purge: what it deletes,
// counted, or why it keeps the CRDs.
func purgeClause(plan *install.PurgePlan) string {
	if kept := plan.KeptFor(); len(kept) > 0 {
		return fmt.Sprintf(" (the mesh CRDs are kept: still used by the install(s) %s)", strings.Join(kept, ", "))
	}
	n, lost, byKind := plan.Deleted()
	q := fmt.Sprintf(", and delete the %d mesh CRDs and with them %d mesh resources in the cluster", n, lost)
	if byKind != "" {
		q += " (" + byKind + ")"
	}
	return q
}

// Run uninstalls.
func (o *Options) Run(ctx context.Context) error {
	c, err := installcmd.Clients(o.Factory)
	if err != nil {
		return err
	}
	rev := o.Revision
	if rev == "" {
		rev = vocab.DefaultRevision
	}
	if !o.Yes && !o.DryRun {
		q := fmt.Sprintf("This will remove revision %s of the mesh from namespace %s", rev, o.namespace)
		if o.Purge {
			// Counted now, so that the question names what is lost.
			plan, err := install.PlanPurge(ctx, c, o.namespace, rev)
			if err != nil {
				return err
			}
			q += purgeClause(plan)
		}
		ok, err := installcmd.Confirm(o.IO, q+". Proceed?")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("cancelled: nothing was removed")
		}
	}
	res, err := install.Uninstall(ctx, c, o.namespace, rev, install.UninstallOptions{DryRun: o.DryRun, Purge: o.Purge})
	if err != nil {
		return err
	}
	p := output.New(o.IO)
	verb := "Removed"
	if o.DryRun {
		verb = "Would remove"
		for _, r := range res.Objects {
			if r.Action == install.ActionDeleted {
				fmt.Fprintf(o.IO.Out, "  %s would be deleted\n", r.Ref)
			}
		}
	}
	p.Success("%s %d objects of revision %s from namespace %s", verb, res.Count(install.ActionDeleted), rev, o.namespace)
	crds := 0
	for _, r := range res.Objects {
		switch {
		case r.Action != install.ActionKept:
		case strings.HasPrefix(r.Ref, "CustomResourceDefinition/"):
			crds++
		default:
			p.Warning("Kept %s: %s", r.Ref, r.Reason)
		}
	}
	switch {
	case res.Purge != nil && len(res.Purge.KeptFor()) > 0:
		p.Info("Kept the mesh CRDs: still used by the install(s) %s.", strings.Join(res.Purge.KeptFor(), ", "))
	case res.Purge != nil:
		n, lost, byKind := res.Purge.Deleted()
		verb := "Deleted"
		if o.DryRun {
			verb = "Would delete"
		}
		msg := fmt.Sprintf("%s %d mesh CRDs and with them %d mesh resources in the cluster", verb, n, lost)
		if byKind != "" {
			msg += " (" + byKind + ")"
		}
		p.Success("%s", msg)
	case crds > 0:
		p.Info("Kept the %d mesh CRDs, shared by every install; --purge removes them.", crds)
	}
	if o.DryRun {
		p.Success("Dry run: nothing was changed")
	}
	return nil
}
