package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	meshconfig "github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/configdiff"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
)

// DiffOptions are the inputs of `meshctl config diff`.
type DiffOptions struct {
	IO *iostreams.IOStreams

	Old, New      string
	Cluster       bool
	Recursive     bool
	AllNamespaces bool
	Output        string

	// Namespace is given to objects in files that name none, as kubectl
	// apply -n would; it is also the namespace read from the cluster.
	Namespace string
	// Custom lists the mesh API's and the Gateway API's kinds.
	Custom func() (meshconfig.CustomResources, error)
}

// NewCmdDiff builds `meshctl config diff`.
func NewCmdDiff(f *cmdutil.Factory) *cobra.Command {
	o := &DiffOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | --cluster NEW",
		Short: "Show how routing changes between two mesh configurations",
		Long: `Compare two mesh configurations by what they do to traffic, not by their text.

For each host, config diff shows how the traffic shares of its routes move
("reviews: v1 90% → 50%, v3 10% → 50%"), which routes appear or disappear
("+ end-user=jason → v2"), routes that move ahead of others, changes to
gateways, timeouts, retries and other route settings, DestinationRule subsets
added or removed, and traffic policy changes (TLS mode, load balancer,
connection pool…). Gateway API HTTPRoutes and GRPCRoutes join the host they
route (a Service parent's host, or a Gateway's hostnames), their backendRefs
read as destinations with shares. Gateways (Istio's and the Gateway API's),
ServiceEntries, Sidecars, ReferenceGrants and security policies are compared
field by field. Renaming a VirtualService, reordering YAML or
splitting files changes nothing and shows nothing.

OLD and NEW are files or directories of YAML or JSON (- for standard input).
With --cluster, OLD is the live cluster and NEW is the cluster with the files
applied on top, so the output answers "what would applying these change?";
objects the files do not mention are left as they are in the cluster.

Each change ends with the file and line where it is written (in NEW, or in
OLD for removals).

Exit status, as diff(1) and kubectl diff (in every output format):
  0  no differences
  1  differences
  2  the comparison could not be made (unreadable file, cluster unreachable)
  64 wrong command line
  65 a document could not be parsed (the error names its file and line)`,
		Example: `  # What does the canary step change?
  meshctl config diff routes/reviews-90-10.yaml routes/reviews-50-50.yaml

  # Compare two directories of config, recursively
  meshctl config diff -R release-1.4/ release-1.5/

  # What would applying these files change in the cluster?
  meshctl config diff --cluster -n bookinfo routes/

  # Gate a pipeline on "no routing change", or post the change as JSON
  meshctl config diff -o json old/ new/ | jq '.sections[].changes[].text'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.Cluster {
				return cmdutil.ExactArgs(1)(cmd, args)
			}
			return cmdutil.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Cluster, "cluster", false, "Compare the live cluster (OLD) with the cluster plus the given files (NEW)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "Read directories recursively")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "With --cluster, read every namespace rather than those of the files")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: text)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete takes the arguments and the namespace.
func (o *DiffOptions) Complete(f *cmdutil.Factory, args []string) error {
	if o.Cluster {
		o.New = args[0]
	} else {
		o.Old, o.New = args[0], args[1]
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitTrouble, err)
	}
	o.Namespace = ns
	if o.Custom == nil {
		o.Custom = func() (meshconfig.CustomResources, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			return meshconfig.NewCustomResources(cfg)
		}
	}
	return nil
}

// Validate checks the flags.
func (o *DiffOptions) Validate() error {
	if o.Output != "" {
		if err := output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML); err != nil {
			return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
		}
	}
	if o.AllNamespaces && !o.Cluster {
		return cmdutil.UsageErrorf("--all-namespaces only applies with --cluster")
	}
	if o.Old == "-" && o.New == "-" {
		return cmdutil.UsageErrorf("OLD and NEW cannot both be standard input")
	}
	return nil
}

// Run loads both sides, compares them and exits like diff(1).
func (o *DiffOptions) Run(ctx context.Context) error {
	old, cur, err := o.load(ctx)
	if err != nil {
		return err
	}
	report := configdiff.Diff(old, cur)
	if o.Output != "" {
		if err := output.PrintData(o.IO.Out, o.Output, report); err != nil {
			return cmdutil.WithExitCode(cmdutil.ExitTrouble, err)
		}
	} else {
		o.printText(report)
	}
	if report.Differences {
		return cmdutil.SilentExit(1)
	}
	return nil
}

func (o *DiffOptions) load(ctx context.Context) (old, cur *meshconfig.Store, err error) {
	newRes, err := o.readFiles("NEW", o.New)
	if err != nil {
		return nil, nil, err
	}
	if !o.Cluster {
		oldRes, err := o.readFiles("OLD", o.Old)
		if err != nil {
			return nil, nil, err
		}
		return meshconfig.NewStoreFrom(oldRes), meshconfig.NewStoreFrom(newRes), nil
	}
	client, err := o.Custom()
	if err != nil {
		return nil, nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, err)
	}
	src := &meshconfig.ClusterSource{Custom: client}
	kinds := configdiff.InputKinds()
	var live []*meshconfig.Resource
	for _, ns := range o.clusterNamespaces(newRes) {
		rs, err := src.Load(ctx, kinds, ns)
		if err != nil {
			return nil, nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%w\n  check that the cluster is reachable and that you may list mesh resources", err))
		}
		live = append(live, rs...)
	}
	return meshconfig.NewStoreFrom(live), meshconfig.NewStoreFrom(live, newRes), nil
}

// clusterNamespaces is "" (all) with -A, else the namespaces the files write
// to: objects elsewhere cannot change.
func (o *DiffOptions) clusterNamespaces(rs []*meshconfig.Resource) []string {
	if o.AllNamespaces {
		return []string{""}
	}
	set := map[string]bool{o.Namespace: true}
	for _, r := range rs {
		if r.Namespace != "" {
			set[r.Namespace] = true
		}
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func (o *DiffOptions) readFiles(side, path string) ([]*meshconfig.Resource, error) {
	if path != "-" {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%s %s: no such file or directory; check the path", side, path))
			}
			return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%s %s: %w", side, path, err))
		}
	}
	rs, perrs, err := meshconfig.LoadFiles([]string{path}, o.Recursive, o.IO.In)
	if err != nil {
		return nil, cmdutil.WithExitCode(cmdutil.ExitTrouble, fmt.Errorf("%s: %w", side, err))
	}
	if len(perrs) > 0 {
		// A diff that silently skipped a broken document would report the
		// routes in it as removed; refuse instead.
		msgs := make([]string, len(perrs))
		for i, e := range perrs {
			msgs[i] = "  " + e.Error()
		}
		return nil, cmdutil.WithExitCode(cmdutil.ExitDataErr, fmt.Errorf("cannot compare: %d document(s) of %s could not be parsed; fix them and run again:\n%s",
			len(perrs), side, strings.Join(msgs, "\n")))
	}
	meshconfig.DefaultNamespace(rs, o.Namespace)
	return rs, nil
}

func (o *DiffOptions) printText(r *configdiff.Report) {
	p := output.New(o.IO)
	if !r.Differences {
		p.Info("No differences in routing or mesh policy.")
		return
	}
	w := o.IO.Out
	for i, s := range r.Sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, p.Bold(heading(s)))
		for _, c := range s.Changes {
			sym := c.Op.Symbol()
			switch c.Op {
			case configdiff.Added:
				sym = p.Green(sym)
			case configdiff.Removed:
				sym = p.Red(sym)
			default:
				sym = p.Yellow(sym)
			}
			line := "  " + sym + " " + c.Text
			if c.At != "" {
				line += "  (" + c.At + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

// heading is "host reviews (VirtualService default/reviews, DestinationRule
// default/reviews)" or "Gateway default/bookinfo-gateway".
func heading(s configdiff.Section) string {
	status := ""
	if s.Status != "" {
		// A whole host or object that one side lacks reads like a line of
		// diff(1): "- host details" or "+ Gateway default/bookinfo-gateway".
		status = s.Status.Symbol() + " "
	}
	if s.Host == "" {
		return status + s.Title()
	}
	names := make([]string, len(s.Objects))
	for i, ob := range s.Objects {
		names[i] = ob.String()
	}
	h := status + "host " + s.Host
	if s.FQDN != s.Host {
		h += " (" + s.FQDN + ")"
	}
	return h + ": " + strings.Join(names, ", ")
}
