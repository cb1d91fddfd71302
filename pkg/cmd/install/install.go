// Package install is the `meshctl install` command.
package install

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
)

// Options are the inputs of `meshctl install`.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory

	Spec           SpecFlags
	Yes            bool
	DryRun         bool
	Timeout        time.Duration
	ForceConflicts bool
	SkipPrecheck   bool

	cmd *cobra.Command
}

// NewCmdInstall builds `meshctl install`.
func NewCmdInstall(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade the mesh on the cluster",
		Long: `Install the mesh: the mesh CRDs, the control plane, gateways and addons that
the profile and overlays select. Objects are applied with server-side apply
(field manager "meshctl") in dependency order, and each component is waited
for until it is ready.

Running install again with the same spec changes nothing and says so; with a
smaller spec it removes exactly the objects this install created that are no
longer rendered (recorded with their UIDs in the ConfigMap
meshctl-install[-<revision>]). An interrupted install converges when re-run.

An existing object that this install did not create is not taken over: the
install stops and names it, unless --force-conflicts. Installs and uninstalls
in one mesh namespace run one at a time (Lease meshctl-install-lock): a second
one fails at once and says who holds the lock and since when.

Overlays apply in order: --profile < -f files < --set.`,
		Example: `  # Everything, for trying the mesh out
  meshctl install --profile demo -y

  # Show what would change, change nothing
  meshctl install --profile minimal --dry-run

  # A canary control plane next to the default one
  meshctl install --revision canary --set profile=minimal -y

  # Your own overlay, plus one override
  meshctl install -f mesh.yaml --set meshConfig.trustDomain=example.org -y`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd = cmd
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Spec.AddFlags(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Show what would change; change nothing")
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long to wait for the components to become ready")
	fl.BoolVar(&o.ForceConflicts, "force-conflicts", false, "Take over fields that another tool or person changed, and objects this install did not create")
	fl.BoolVar(&o.SkipPrecheck, "skip-precheck", false, "Do not check the cluster before installing")
	_ = cmdutil.MarkCommandLineOnly(cmd, "yes", "force-conflicts")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Timeout <= 0 {
		return cmdutil.UsageErrorf("--timeout must be positive, got %s", o.Timeout)
	}
	if !o.Yes && !o.DryRun && !o.IO.CanPrompt() {
		// Say so before contacting the cluster, not after the prechecks.
		return errNoPrompt
	}
	return nil
}

// Run installs.
func (o *Options) Run(ctx context.Context) error {
	p := output.New(o.IO)
	mi, err := o.Spec.Resolve(o.Factory, o.cmd)
	if err != nil {
		return err
	}
	m, err := install.Render(mi)
	if err != nil {
		return err
	}
	c, err := Clients(o.Factory)
	if err != nil {
		return err
	}
	s := &mi.Spec
	if !o.SkipPrecheck {
		if err := RunPrecheck(ctx, p, c, m, false); err != nil {
			return err
		}
	}
	if !o.Yes && !o.DryRun {
		ok, err := Confirm(o.IO, fmt.Sprintf("This will install the %s profile (revision %s) into namespace %s. Proceed?", s.Profile, s.RevisionName(), s.MeshNamespace))
		if err != nil {
			return err
		}
		if !ok {
			return cmdutil.WithExitCode(cmdutil.ExitFailure, errors.New("cancelled: nothing was installed"))
		}
	}

	spin := newSpinner(o.IO)
	res, err := install.Apply(ctx, c, m, install.ApplyOptions{
		DryRun:         o.DryRun,
		ForceConflicts: o.ForceConflicts,
		Timeout:        o.Timeout,
		Progress: func(e install.Event) {
			title := install.ComponentTitle(e.Component)
			if !e.Done {
				spin.start("Installing " + strings.ToLower(title[:1]) + title[1:])
				return
			}
			spin.stop()
			switch {
			case o.DryRun && e.Created:
				p.Success("%s would be installed", title)
			case o.DryRun && e.Changed:
				p.Success("%s would be updated", title)
			case o.DryRun:
				p.Success("%s unchanged", title)
			case e.Changed:
				p.Success("%s installed", title)
			default:
				p.Success("%s unchanged", title)
			}
		},
	})
	spin.stop()
	if err != nil {
		var nr *install.NotReadyError
		if errors.As(err, &nr) {
			p.Failure("Installation is not ready")
		}
		return err
	}
	if !o.DryRun {
		// One line per removed component; the objects are in the inventory
		// and in --dry-run output. A component still installed names what
		// it lost (the mesh-wide PeerAuthentication of a mode now PERMISSIVE).
		pruned, refs := []string{}, map[string][]string{}
		for _, r := range res.Objects {
			if r.Action == install.ActionPruned {
				if len(refs[r.Component]) == 0 {
					pruned = append(pruned, r.Component)
				}
				refs[r.Component] = append(refs[r.Component], r.Ref)
			}
		}
		for _, c := range pruned {
			if m.Component(c) != nil {
				p.Success("%s: pruned %s (no longer in the spec)", install.ComponentTitle(c), strings.Join(refs[c], ", "))
				continue
			}
			p.Success("%s removed (no longer in the spec: %d objects)", install.ComponentTitle(c), len(refs[c]))
		}
	}
	for _, r := range res.Objects {
		if r.Action == install.ActionKept && r.Reason != "" && !strings.HasPrefix(r.Ref, "CustomResourceDefinition/") {
			p.Warning("Not pruned: %s: %s", r.Ref, r.Reason)
		}
	}
	summary := fmt.Sprintf("%d created, %d configured, %d unchanged, %d pruned",
		res.Count(install.ActionCreated), res.Count(install.ActionConfigured), res.Count(install.ActionUnchanged), res.Count(install.ActionPruned))
	switch {
	case o.DryRun:
		for _, r := range res.Objects {
			if r.Action != install.ActionUnchanged {
				fmt.Fprintf(o.IO.Out, "  %s %s\n", r.Ref, actionWouldBe(r.Action))
			}
		}
		p.Success("Dry run: nothing was changed (%s)", strings.NewReplacer("created", "to create", "configured", "to configure", "pruned", "to prune").Replace(summary))
	case !res.Changed():
		p.Success("Installation is already up to date: nothing changed (%d objects unchanged)", res.Count(install.ActionUnchanged))
	default:
		p.Success("Installation complete (%s)", summary)
	}
	return nil
}

func actionWouldBe(a install.Action) string {
	switch a {
	case install.ActionCreated:
		return "would be created"
	case install.ActionConfigured:
		return "would be configured"
	case install.ActionPruned:
		return "would be pruned"
	}
	return string(a)
}

// RunPrecheck prints the failed checks (all of them when verbose) and
// returns a silent exit error when one blocks the install.
func RunPrecheck(ctx context.Context, p *output.Printer, c install.Clients, m *install.Manifest, verbose bool) error {
	failed := false
	for _, ch := range install.Precheck(ctx, c, m) {
		switch {
		case ch.OK:
			if verbose {
				p.Success("%s: %s", ch.Name, ch.Message)
			}
		case ch.Warning:
			p.Warning("%s: %s", ch.Name, ch.Message)
		default:
			failed = true
			p.Failure("%s: %s", ch.Name, ch.Message)
		}
	}
	if failed {
		return cmdutil.SilentExit(cmdutil.ExitFailure)
	}
	return nil
}

var errNoPrompt = cmdutil.UsageErrorf("refusing to proceed without confirmation: standard input is not a terminal; pass -y to proceed")

// Confirm asks a yes/no question on the terminal. Without one it fails and
// says to pass -y, so that a CI job never hangs on a prompt.
func Confirm(io *iostreams.IOStreams, question string) (bool, error) {
	if !io.CanPrompt() {
		return false, errNoPrompt
	}
	fmt.Fprintf(io.Out, "%s [y/N] ", question)
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
