// Package analyze is the `meshctl analyze` command: files, the cluster or
// both through the analyzers of pkg/analyze, with exit codes CI can gate on.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/analyze"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/version"
)

// Output formats besides text.
const formatSARIF = "sarif"

// Options are the inputs of `meshctl analyze`.
type Options struct {
	IO *iostreams.IOStreams

	Files            []string
	Recursive        bool
	UseKube          bool
	useKubeExplicit  bool
	AllNamespaces    bool
	Output           string
	FailureThreshold string
	OutputThreshold  string
	Suppress         []string
	Analyzers        []string
	ListAnalyzers    bool
	Timeout          time.Duration
	// Profile is the install whose objects stand in for the cluster when
	// there is none.
	Profile string

	// Filled by Complete.
	Namespace         string
	namespaceExplicit bool
	MeshNamespace     string
	RESTConfig        func() (*rest.Config, error)

	failure, outputLevel analyze.Level
	suppressions         []analyze.Suppression
	selected             []*analyze.Analyzer
}

// NewCmdAnalyze builds `meshctl analyze`.
func NewCmdAnalyze(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, UseKube: true}
	cmd := &cobra.Command{
		Use:   "analyze [FILE|DIR|-]...",
		Short: "Find mistakes in mesh configuration, in files and in the cluster",
		Long: `Analyze mesh configuration (VirtualService, DestinationRule, Gateway, ServiceEntry,
Sidecar, PeerAuthentication, AuthorizationPolicy, …) together with the Services,
workloads and namespaces it refers to, and report what the API server accepts
but what will not work: hosts, subsets and gateways that do not exist, weights
that do not add up, routes that can never match, mTLS conflicts, and more
(--list-analyzers).

Sources: the files, directories (-R for subdirectories) and "-" (stdin) given,
and the cluster when one is reachable (--use-kube, on by default). With both,
objects from files replace cluster objects with the same kind, namespace and
name: "what happens if I apply these?". Only the kinds the analyzers need are
read from the cluster, in the namespace analyzed and the mesh namespace.

Each finding names the object and where it comes from (file:line or cluster):

  Error [MSH0101] (VirtualService default/reviews routes.yaml:12) Referenced host not found: "reviews2"

Without a cluster, the objects of the install profile (--profile, default
"default": the mesh namespace, its ingress gateway, its ConfigMaps) and the
built-in namespaces count as present; a conclusion that needs a kind the
files do not hold at all is not drawn, and "selects no workload" is only
Info. A host that nothing defines is always reported.

Silence a finding with --suppress "CODE=Kind namespace/name" (globs allowed) or
with the annotation meshctl.io/analyze-suppress: "CODE[,CODE…]" on the object.

Exit codes, the same for every output format:
  0   no finding at or above --failure-threshold
  79  findings at or above --failure-threshold
  65  some input could not be parsed (reported as MSH0001; the rest is analyzed)
  64  wrong command line`,
		Example: `  # The current namespace of the cluster
  meshctl analyze

  # Route files in CI, without a cluster; fail on warnings too
  meshctl analyze --use-kube=false --failure-threshold Warning -R deploy/mesh/

  # What would happen if these files were applied to the cluster?
  meshctl analyze -n bookinfo routes.yaml

  # Every namespace, as SARIF for GitHub code scanning
  meshctl analyze -A -o sarif > analyze.sarif

  # Ignore a known finding
  meshctl analyze --suppress "MSH0205=Gateway mesh-system/*"`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.useKubeExplicit = cmd.Flags().Changed("use-kube")
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
	fl.StringSliceVarP(&o.Files, "filename", "f", nil, "Files or directories to analyze, \"-\" for stdin (also accepted as arguments)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "Read directories recursively")
	fl.BoolVar(&o.UseKube, "use-kube", true, "Read the cluster too (default on when a cluster is reachable)")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Analyze every namespace")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format: text (default), json, yaml or sarif")
	fl.StringVar(&o.FailureThreshold, "failure-threshold", "Error", "Lowest level that makes the exit code 79: Error, Warning or Info")
	fl.StringVar(&o.OutputThreshold, "output-threshold", "Info", "Lowest level reported: Error, Warning or Info")
	fl.StringArrayVar(&o.Suppress, "suppress", nil, "Suppress findings: \"CODE=Kind namespace/name\", globs allowed, istioctl's IST codes too; repeatable")
	fl.StringSliceVar(&o.Analyzers, "analyzers", nil, "Run only these analyzers (codes or names, globs allowed)")
	fl.BoolVar(&o.ListAnalyzers, "list-analyzers", false, "List the analyzers and exit")
	fl.DurationVar(&o.Timeout, "timeout", 30*time.Second, "Time limit for reading the cluster")
	fl.StringVar(&o.Profile, "profile", "default", "Without a cluster, the install profile whose objects (mesh namespace, gateways, ConfigMaps) count as present; \"empty\" for none")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return profiles.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	levels := cobra.FixedCompletions([]string{"Error", "Warning", "Info"}, cobra.ShellCompDirectiveNoFileComp)
	_ = cmd.RegisterFlagCompletionFunc("failure-threshold", levels)
	_ = cmd.RegisterFlagCompletionFunc("output-threshold", levels)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json", "yaml", formatSARIF}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// Complete pulls the namespace and clients from the factory.
func (o *Options) Complete(f *cmdutil.Factory, args []string) error {
	o.Files = append(o.Files, args...)
	ns, explicit, err := f.Namespace()
	if err != nil {
		return err
	}
	o.Namespace, o.namespaceExplicit = ns, explicit
	o.MeshNamespace = f.MeshNamespace
	o.RESTConfig = f.RESTConfig
	return nil
}

// Validate checks flags without I/O.
func (o *Options) Validate() error {
	var err error
	if o.failure, err = analyze.ParseLevel(o.FailureThreshold); err != nil {
		return cmdutil.UsageErrorf("--failure-threshold: %v", err)
	}
	if o.outputLevel, err = analyze.ParseLevel(o.OutputThreshold); err != nil {
		return cmdutil.UsageErrorf("--output-threshold: %v", err)
	}
	switch o.Output {
	case "", "text", output.FormatJSON, output.FormatYAML, formatSARIF:
	default:
		return cmdutil.UsageErrorf("unsupported output format %q: use text, json, yaml or sarif", o.Output)
	}
	o.suppressions = nil
	for _, s := range o.Suppress {
		sup, err := analyze.ParseSuppression(s)
		if err != nil {
			return cmdutil.UsageErrorf("--suppress: %v", err)
		}
		o.suppressions = append(o.suppressions, sup)
	}
	if o.selected, err = analyze.Select(o.Analyzers); err != nil {
		return cmdutil.UsageErrorf("--analyzers: %v", err)
	}
	stdin := 0
	for _, f := range o.Files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return cmdutil.UsageErrorf("standard input (-) can be given only once")
	}
	if o.namespaceExplicit && o.AllNamespaces {
		return cmdutil.UsageErrorf("-n and -A cannot be used together")
	}
	if !o.UseKube && len(o.Files) == 0 && !o.ListAnalyzers {
		return cmdutil.UsageErrorf("nothing to analyze: give files or directories, or let meshctl read the cluster (--use-kube)")
	}
	return nil
}

// Run loads, analyzes, prints and returns the exit code as an error.
func (o *Options) Run(ctx context.Context) error {
	p := output.New(o.IO)
	if o.ListAnalyzers {
		return o.listAnalyzers()
	}

	// Without a cluster the install profile stands in for it: it is read
	// while the files are, on another core.
	type installed struct {
		rs  []*config.Resource
		err error
	}
	var profile chan installed
	if !o.UseKube {
		profile = make(chan installed, 1)
		go func() {
			rs, err := installedObjects(o.Profile, o.MeshNamespace)
			profile <- installed{rs, err}
		}()
	}
	files, parseErrs, err := config.LoadFiles(o.Files, o.Recursive, o.IO.In)
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
	}
	config.DefaultNamespace(files, o.Namespace)
	config.DefaultNamespaceErrors(parseErrs, o.Namespace)

	var cluster []*config.Resource
	usedCluster := false
	if o.UseKube {
		cluster, err = o.loadCluster(ctx)
		switch {
		case err == nil:
			usedCluster = true
		case errors.Is(err, context.Canceled):
			return err
		case o.useKubeExplicit:
			return err
		case len(o.Files) == 0:
			return fmt.Errorf("nothing to analyze: no files were given and %w", err)
		default:
			p.Warning("No cluster reachable (%v); analyzing files only. Pass --use-kube=false to skip the cluster.", firstLine(err))
		}
	}

	if !usedCluster {
		if profile != nil {
			p := <-profile
			cluster, err = p.rs, p.err
		} else {
			cluster, err = installedObjects(o.Profile, o.MeshNamespace)
		}
		if err != nil {
			return err
		}
	}
	store := config.NewStoreFrom(cluster, files)
	scope := "namespace: " + o.Namespace
	filterNS := o.Namespace
	switch {
	case o.AllNamespaces:
		scope, filterNS = "all namespaces", ""
	case !usedCluster && !o.namespaceExplicit:
		// Files name their own namespaces; report them all.
		filterNS = ""
	}
	res := analyze.Analyze(store, parseErrs, analyze.Options{
		Analyzers:       o.selected,
		Namespace:       filterNS,
		RootNamespace:   o.MeshNamespace,
		Cluster:         usedCluster,
		Suppressions:    o.suppressions,
		OutputThreshold: o.outputLevel,
	})

	code := cmdutil.ExitOK
	if max, ok := res.Max(); ok && max >= o.failure {
		code = cmdutil.ExitFindings
	}
	if res.SyntaxErrors > 0 {
		code = cmdutil.ExitDataErr
	}
	report := analyze.Report{Scope: strings.TrimPrefix(scope, "namespace: "), Findings: res.Findings, Summary: analyze.Summarize(res.Findings), ExitCode: code}

	switch o.Output {
	case output.FormatJSON:
		err = analyze.WriteJSON(o.IO.Out, report)
	case output.FormatYAML:
		err = analyze.WriteYAML(o.IO.Out, report)
	case formatSARIF:
		err = analyze.WriteSARIF(o.IO.Out, report, version.Get().Version)
	default:
		err = o.writeText(p, report, scope)
	}
	if err != nil {
		return err
	}
	if code != cmdutil.ExitOK {
		return cmdutil.SilentExit(code)
	}
	return nil
}

func (o *Options) writeText(p *output.Printer, r analyze.Report, scope string) error {
	if len(r.Findings) == 0 {
		p.Success("No validation issues found when analyzing %s.", scope)
		return nil
	}
	paint := func(l analyze.Level, s string) string {
		switch l {
		case analyze.Error:
			return p.Red(s)
		case analyze.Warning:
			return p.Yellow(s)
		}
		return s
	}
	if err := analyze.WriteText(o.IO.Out, r.Findings, paint); err != nil {
		return err
	}
	s := r.Summary
	counts := fmt.Sprintf("%s, %s, %d info", plural(s.Errors, "error"), plural(s.Warnings, "warning"), s.Info)
	switch r.ExitCode {
	case cmdutil.ExitFindings:
		fmt.Fprintf(o.IO.ErrOut, "%s Analyzers found issues when analyzing %s (%s).\n", p.Red(output.SymbolFailure), scope, counts)
	case cmdutil.ExitDataErr:
		fmt.Fprintf(o.IO.ErrOut, "%s Some input could not be parsed (MSH0001); the rest was analyzed (%s).\n", p.Red(output.SymbolFailure), counts)
	default:
		fmt.Fprintf(o.IO.ErrOut, "%s Findings below the failure threshold (%s) when analyzing %s (%s).\n", p.Yellow(output.SymbolWarning), o.failure, scope, counts)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// loadCluster reads the kinds the selected analyzers need from the analyzed
// namespace and the mesh namespace (gateways and mesh-wide policy live there),
// or from every namespace with -A. What routing refers to across namespaces
// (Services, ServiceEntries, Gateways, DestinationRules, VirtualServices and
// Namespaces) is read from every namespace; Pods, workloads and Secrets, the
// big lists, only from those two.
func (o *Options) loadCluster(ctx context.Context) ([]*config.Resource, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.Timeout
	// API deprecation warnings (v1 Endpoints…) are about our list calls, not
	// the user's config; they would only clutter the report.
	cfg.WarningHandler = rest.NoWarnings{}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// A cheap probe first, so that an unreachable cluster costs one short
	// timeout rather than one per kind.
	probe := rest.CopyConfig(cfg)
	probe.Timeout = min(o.Timeout, 5*time.Second)
	pk, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, err
	}
	if _, err := pk.Discovery().ServerVersion(); err != nil {
		return nil, cmdutil.NoClusterError(err)
	}
	custom, err := config.NewCustomResources(cfg)
	if err != nil {
		return nil, err
	}
	src := &config.ClusterSource{Kube: kube, Custom: custom}
	kinds := analyze.InputKinds(o.selected)
	var namespaced []config.Kind
	var out []*config.Resource
	for _, k := range kinds {
		info, _ := config.InfoFor(k)
		if !info.Namespaced || crossNamespace[k] && !o.AllNamespaces {
			rs, err := src.Load(ctx, []config.Kind{k}, "")
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
			continue
		}
		namespaced = append(namespaced, k)
	}
	nss := []string{o.Namespace}
	if o.AllNamespaces {
		nss = []string{""}
	} else if o.MeshNamespace != "" && o.MeshNamespace != o.Namespace {
		nss = append(nss, o.MeshNamespace)
	}
	for _, ns := range nss {
		rs, err := src.Load(ctx, namespaced, ns)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// crossNamespace are the kinds that routing names by host or NAMESPACE/NAME
// from other namespaces (a Gateway API route attaches to a Gateway of
// another namespace, which a ReferenceGrant there may allow).
var crossNamespace = map[config.Kind]bool{
	config.KindService: true, config.KindServiceEntry: true, config.KindGateway: true,
	config.KindDestinationRule: true, config.KindVirtualService: true,
	config.KindKubernetesGateway: true, config.KindHTTPRoute: true, config.KindGRPCRoute: true,
	config.KindReferenceGrant: true,
}

func (o *Options) listAnalyzers() error {
	all := o.selected
	if o.Output == output.FormatJSON || o.Output == output.FormatYAML {
		type entry struct {
			Code  string        `json:"code"`
			Name  string        `json:"name"`
			Level analyze.Level `json:"level"`
			Doc   string        `json:"doc"`
		}
		var list []entry
		for _, a := range all {
			list = append(list, entry{a.Code, a.Name, a.Level, a.Doc})
		}
		return output.PrintData(o.IO.Out, o.Output, list)
	}
	rows := make([][]string, 0, len(all))
	for _, a := range all {
		rows = append(rows, []string{a.Code, a.Level.String(), a.Name, a.Doc})
	}
	return output.WriteTable(o.IO.Out, []string{"CODE", "LEVEL", "NAME", "DESCRIPTION"}, rows)
}
