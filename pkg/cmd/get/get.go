// Package get is the `meshctl get` command: mesh resources of the cluster
// as a table, or as YAML or JSON.
package get

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
)

// shortNames are the abbreviations of the mesh CRDs (the ones kubectl
// accepts once the CRDs are installed).
var shortNames = map[string]config.Kind{
	"vs": config.KindVirtualService,
	"dr": config.KindDestinationRule,
	"gw": config.KindGateway,
	"se": config.KindServiceEntry,
	"we": config.KindWorkloadEntry,
	"pa": config.KindPeerAuthentication,
	"ap": config.KindAuthorizationPolicy,
	"ra": config.KindRequestAuthentication,
}

// Options are the inputs of `meshctl get`.
type Options struct {
	IO *iostreams.IOStreams

	Kind          config.Kind
	Names         []string
	Namespace     string
	AllNamespaces bool
	Output        string

	Custom  func() (config.CustomResources, error)
	Dynamic func() (dynamic.Interface, error)
	Now     func() time.Time
}

// NewCmdGet builds `meshctl get`.
func NewCmdGet(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "get TYPE [NAME...]",
		Short: "List mesh resources of the cluster",
		Long: `List mesh resources (networking.istio.io and security.istio.io) of the cluster
as a table, or print them as YAML or JSON.

Types (singular names and kind names such as VirtualService work too):
  ` + strings.ReplaceAll(typeList(), ", ", "\n  "),
		Example: `  # Routes in the current namespace, as istioctl get virtualservices showed them
  meshctl get virtualservices

  # Destination rules of every namespace, with load balancer and exportTo
  meshctl get dr -A -o wide

  # One route, as YAML
  meshctl get vs reviews -n bookinfo -o yaml`,
		Args:              cmdutil.MinimumNArgs(1),
		ValidArgsFunction: completeTypes,
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
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List the resources of every namespace")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: wide, yaml or json (default: table)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func typeList() string {
	var parts []string
	short := map[config.Kind]string{}
	for s, k := range shortNames {
		short[k] = s
	}
	for _, k := range config.MeshKinds() {
		info, _ := config.InfoFor(k)
		if s := short[k]; s != "" {
			parts = append(parts, info.Resource+" ("+s+")")
		} else {
			parts = append(parts, info.Resource)
		}
	}
	return strings.Join(parts, ", ")
}

func completeTypes(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range config.MeshKinds() {
		info, _ := config.InfoFor(k)
		out = append(out, info.Resource)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// resolveType accepts "virtualservices", "virtualservice", "VirtualService",
// "vs" and "virtualservices.networking.istio.io".
func resolveType(s string) (config.Kind, bool) {
	name := strings.ToLower(s)
	if i := strings.Index(name, "."); i > 0 {
		name = name[:i]
	}
	if k, ok := shortNames[name]; ok {
		return k, true
	}
	if k, ok := config.ResolveKind(name); ok {
		info, _ := config.InfoFor(k)
		return k, info.Mesh
	}
	// The singular of a resource name ("virtualservice").
	if k, ok := config.ResolveKind(name + "s"); ok {
		info, _ := config.InfoFor(k)
		return k, info.Mesh
	}
	if k, ok := config.ResolveKind(strings.TrimSuffix(name, "y") + "ies"); ok {
		info, _ := config.InfoFor(k)
		return k, info.Mesh
	}
	return "", false
}

// Complete resolves the type and takes the namespace and clients from the
// factory.
func (o *Options) Complete(f *cmdutil.Factory, args []string) error {
	kind, ok := resolveType(args[0])
	if !ok {
		return cmdutil.UsageErrorf("unknown resource type %q: meshctl get lists mesh resources, one of %s (use kubectl get for other kinds)", args[0], typeList())
	}
	o.Kind, o.Names = kind, args[1:]
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	o.Namespace = ns
	if o.Custom == nil {
		o.Custom = func() (config.CustomResources, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			return config.NewCustomResources(cfg)
		}
	}
	if o.Dynamic == nil {
		o.Dynamic = f.DynamicClient
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Output != "" && o.Output != "wide" {
		if err := output.ValidateFormat(o.Output, "wide", output.FormatYAML, output.FormatJSON); err != nil {
			return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
		}
	}
	if o.AllNamespaces && len(o.Names) > 0 {
		return cmdutil.UsageErrorf("names cannot be combined with --all-namespaces: a name is only unique within a namespace; use -n NAMESPACE")
	}
	return nil
}

func (o *Options) listNamespace() string {
	if o.AllNamespaces {
		return ""
	}
	return o.Namespace
}

// Run lists the resources and prints them.
func (o *Options) Run(ctx context.Context) error {
	if o.Output == output.FormatYAML || o.Output == output.FormatJSON {
		return o.printObjects(ctx)
	}
	client, err := o.Custom()
	if err != nil {
		return err
	}
	src := &config.ClusterSource{Custom: client}
	rs, err := src.Load(ctx, []config.Kind{o.Kind}, o.listNamespace())
	if err != nil {
		return err
	}
	rs, err = o.pick(rs)
	if err != nil {
		return err
	}
	// The same store analyze and config diff read: sorted by namespace and name.
	rs = config.NewStoreFrom(rs).List(o.Kind, "")
	if len(rs) == 0 {
		return o.noneFound(ctx)
	}
	headers, rows := table(o.Kind, rs, o.Output == "wide", o.Now())
	return output.WriteTable(o.IO.Out, headers, rows)
}

// pick keeps the named objects, in the order named, and fails for a name
// that does not exist.
func (o *Options) pick(rs []*config.Resource) ([]*config.Resource, error) {
	if len(o.Names) == 0 {
		return rs, nil
	}
	byName := map[string]*config.Resource{}
	for _, r := range rs {
		byName[r.Name] = r
	}
	var out []*config.Resource
	var missing []string
	for _, n := range o.Names {
		if r, ok := byName[n]; ok {
			out = append(out, r)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, o.notFound(missing)
	}
	return out, nil
}

func (o *Options) notFound(names []string) error {
	info, _ := config.InfoFor(o.Kind)
	return fmt.Errorf("%s %q not found in namespace %q; list them with: meshctl get %s -n %s",
		info.Resource, strings.Join(names, ","), o.Namespace, info.Resource, o.Namespace)
}

// noneFound says that nothing was found, and why when the reason is that
// the cluster does not serve the kind at all (the mesh CRDs are missing).
func (o *Options) noneFound(ctx context.Context) error {
	info, _ := config.InfoFor(o.Kind)
	if dyn, err := o.Dynamic(); err == nil {
		gvr := schema.GroupVersionResource{Group: info.Group, Version: info.Versions[0], Resource: info.Resource}
		_, err := dyn.Resource(gvr).Namespace(o.listNamespace()).List(ctx, metav1.ListOptions{Limit: 1})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the cluster does not serve %s.%s/%s: the mesh CRDs are not installed; install them with meshctl install",
				info.Resource, info.Group, info.Versions[0])
		}
	}
	if o.AllNamespaces {
		fmt.Fprintln(o.IO.ErrOut, "No resources found.")
		return nil
	}
	fmt.Fprintf(o.IO.ErrOut, "No resources found in %s namespace.\n", o.Namespace)
	return nil
}

// printObjects prints the objects as the API server returns them (status
// included), through cli-runtime's printers like kubectl get -o yaml.
func (o *Options) printObjects(ctx context.Context) error {
	dyn, err := o.Dynamic()
	if err != nil {
		return err
	}
	info, _ := config.InfoFor(o.Kind)
	gvr := schema.GroupVersionResource{Group: info.Group, Version: info.Versions[0], Resource: info.Resource}
	api := dyn.Resource(gvr).Namespace(o.listNamespace())
	var items []unstructured.Unstructured
	if len(o.Names) > 0 {
		var missing []string
		for _, n := range o.Names {
			u, err := api.Get(ctx, n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				missing = append(missing, n)
				continue
			}
			if err != nil {
				return err
			}
			items = append(items, *u)
		}
		if len(missing) > 0 {
			return o.notFound(missing)
		}
	} else {
		opts := metav1.ListOptions{Limit: 500}
		for {
			l, err := api.List(ctx, opts)
			if apierrors.IsNotFound(err) {
				// The CRD is not installed: nothing of the kind exists.
				break
			}
			if err != nil {
				return err
			}
			items = append(items, l.Items...)
			if l.GetContinue() == "" {
				break
			}
			opts.Continue = l.GetContinue()
		}
	}
	for i := range items {
		// kubectl hides managed fields unless asked; they are noise here.
		unstructured.RemoveNestedField(items[i].Object, "metadata", "managedFields")
	}
	if len(o.Names) == 1 {
		return output.PrintData(o.IO.Out, o.Output, &items[0])
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}}}
	list.Items = items
	if list.Items == nil {
		list.Items = []unstructured.Unstructured{}
	}
	return output.PrintData(o.IO.Out, o.Output, list)
}
