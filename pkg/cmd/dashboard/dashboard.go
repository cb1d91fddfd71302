// Package dashboard is `meshctl dashboard`: port-forward to a mesh web UI
// and open it in the browser.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/dashboard"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// defaultPort stands for "the component's usual port, or a free one if it
// is busy"; 0 is taken by "any free port".
const defaultPort = -1

// Options are the inputs of every `meshctl dashboard` subcommand.
type Options struct {
	IO *iostreams.IOStreams

	Port     int
	Address  string
	Browser  bool
	Selector string
	Revision string

	// OpenBrowser opens url in the user's browser; nil means there is no
	// desktop to open it on. Tests replace it so that nothing is opened.
	OpenBrowser func(url string) error

	KubeClient func() (kubernetes.Interface, error)
	RESTConfig func() (*rest.Config, error)
	// Namespace is -n (or the kubeconfig context's) and whether it was
	// given; MeshNamespace is read when the command runs, after flags.
	Namespace     func() (string, bool, error)
	MeshNamespace func() string

	// target is set from the subcommand and its arguments.
	target dashboard.Target
	// forward replaces the port-forward in tests; nil means the real one.
	forward dashboard.ForwardFunc
}

// NewCmdDashboard builds `meshctl dashboard` and its subcommands.
func NewCmdDashboard(f *cmdutil.Factory) *cobra.Command {
	return newCmdDashboard(newOptions(f))
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{
		IO:            f.IOStreams,
		Port:          defaultPort,
		Address:       "localhost",
		Browser:       true,
		OpenBrowser:   SystemBrowser(runtime.GOOS, os.Getenv),
		KubeClient:    func() (kubernetes.Interface, error) { return f.KubeClient() },
		RESTConfig:    func() (*rest.Config, error) { return f.RESTConfig() },
		Namespace:     f.Namespace,
		MeshNamespace: func() string { return f.MeshNamespace },
	}
}

func newCmdDashboard(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dashboard",
		Aliases: []string{"dash", "d"},
		Short:   "Open a mesh web UI: Grafana, Jaeger, Kiali, Prometheus, Zipkin, Envoy admin, ControlZ",
		Long: `Port-forward to a ready pod of a mesh web UI, print its URL and open it in the
browser, then keep the tunnel up until Ctrl-C. If the pod restarts or the
connection drops, meshctl reconnects to a ready pod on the same URL and says so.

The addons (grafana, jaeger, kiali, prometheus, zipkin) and the control plane
(server, controlz) are looked for in --mesh-namespace; envoy uses -n.

The local port is the component's usual one (3000 for Grafana, ...) or, if
that is busy, a free one; --port chooses it (0 for any free port). The browser
is opened only on a desktop (DISPLAY or WAYLAND_DISPLAY on Linux; macOS);
--browser=false never opens it. The URL is the only line on standard output.

Exit status: 0 after Ctrl-C; 1 when the component is not installed, has no
ready pod, the cluster cannot be reached or access is forbidden; 64 for a
wrong command line.`,
		Example: `  # Open Grafana from the demo install
  meshctl dashboard grafana

  # Print the URL of Prometheus on a free port without opening a browser
  meshctl dashboard prometheus --port 0 --browser=false

  # Envoy admin of one pod, or of the first ready pod matching a selector
  meshctl dashboard envoy productpage-v1-7d9b8c5f4-x2x9z -n shop
  meshctl dashboard envoy -l app=productpage -n shop

  # The control plane's debug pages and ControlZ, of one revision
  meshctl dashboard server --revision canary
  meshctl dashboard controlz`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdutil.UsageErrorf("name a dashboard: one of %s, envoy, controlz, server", strings.Join(dashboard.Addons(), ", "))
		},
	}
	pf := cmd.PersistentFlags()
	pf.IntVar(&o.Port, "port", o.Port, "Local port; 0 picks a free one (default: the component's usual port, or a free one if it is busy)")
	pf.StringVar(&o.Address, "address", o.Address, "Local address to listen on (localhost listens on 127.0.0.1 and ::1)")
	pf.BoolVar(&o.Browser, "browser", o.Browser, "Open the URL in the browser when on a desktop")
	pf.StringVarP(&o.Selector, "selector", "l", "", "Label selector of the pod, instead of the component's labels")
	// The sentinel is an implementation detail; the usage text says what
	// the default means.
	pf.Lookup("port").DefValue = "0"
	_ = cmd.RegisterFlagCompletionFunc("address", cobra.FixedCompletions([]string{"localhost", "127.0.0.1", "0.0.0.0"}, cobra.ShellCompDirectiveNoFileComp))

	for _, name := range dashboard.Addons() {
		cmd.AddCommand(newCmdAddon(o, name))
	}
	cmd.AddCommand(newCmdEnvoy(o), newCmdControlZ(o), newCmdServer(o))
	return cmd
}

func newCmdAddon(o *Options, name string) *cobra.Command {
	addon := install.Addons[name]
	return &cobra.Command{
		Use:   name,
		Short: fmt.Sprintf("Open the %s UI (pod port %d)", name, addon.Port),
		Example: fmt.Sprintf(`  meshctl dashboard %[1]s
  meshctl dashboard %[1]s --mesh-namespace observability --port 0 --browser=false`, name),
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(sel labels.Selector) (dashboard.Target, error) {
				return dashboard.AddonTarget(name, o.MeshNamespace(), sel)
			})
		},
	}
}

func newCmdEnvoy(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "envoy [POD | -l SELECTOR]",
		Short: fmt.Sprintf("Open the Envoy admin page of a sidecar (pod port %d)", vocab.ProxyAdminPort),
		Example: `  meshctl dashboard envoy productpage-v1-7d9b8c5f4-x2x9z -n shop
  meshctl dashboard envoy -l app=productpage -n shop`,
		Args: cmdutil.MaximumNArgs(1),
		ValidArgsFunction: o.completePods(func() (string, labels.Selector) {
			ns, _, _ := o.Namespace()
			return ns, labels.Everything()
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(sel labels.Selector) (dashboard.Target, error) {
				pod, err := onePod(args, sel, true)
				if err != nil {
					return dashboard.Target{}, err
				}
				ns, _, err := o.Namespace()
				if err != nil {
					return dashboard.Target{}, err
				}
				return dashboard.ProxyAdminTarget(ns, pod, sel), nil
			})
		},
	}
}

func newCmdControlZ(o *Options) *cobra.Command {
	return newCmdServerPage(o, "controlz",
		fmt.Sprintf("Open the ControlZ page of the control plane (pod port %d)", vocab.ServerControlZPort),
		`  meshctl dashboard controlz
  meshctl dashboard controlz meshctl-server-6c9d7f8b9-abcde`,
		vocab.ServerControlZPort, "/")
}

func newCmdServer(o *Options) *cobra.Command {
	return newCmdServerPage(o, "server",
		fmt.Sprintf("Open the control plane's debug pages (pod port %d: /debug, /metrics)", vocab.ServerMonitoringPort),
		`  meshctl dashboard server
  meshctl dashboard server --revision canary`,
		vocab.ServerMonitoringPort, "/debug")
}

// newCmdServerPage builds a command that opens one web page of a control-plane pod.
func newCmdServerPage(o *Options, name, short, example string, port int, path string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     name + " [POD]",
		Short:   short,
		Example: example,
		Args:    cmdutil.MaximumNArgs(1),
		ValidArgsFunction: o.completePods(func() (string, labels.Selector) {
			return o.controlPlaneNamespace(), dashboard.ServerSelector(o.Revision)
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(sel labels.Selector) (dashboard.Target, error) {
				pod, err := onePod(args, sel, false)
				if err != nil {
					return dashboard.Target{}, err
				}
				return dashboard.ServerTarget(name, o.controlPlaneNamespace(), pod, sel, o.Revision, port, path), nil
			})
		},
	}
	cmd.Flags().StringVar(&o.Revision, "revision", "", "Control-plane revision (default: any)")
	return cmd
}

// onePod returns the POD argument, checking it is not combined with -l.
func onePod(args []string, sel labels.Selector, required bool) (string, error) {
	hasSel := sel != nil && !sel.Empty()
	switch {
	case len(args) == 1 && hasSel:
		return "", cmdutil.UsageErrorf("give a pod name or -l, not both")
	case len(args) == 0 && !hasSel && required:
		return "", cmdutil.UsageErrorf("name a pod, or select one with -l (for example -l app=productpage)")
	case len(args) == 1:
		return args[0], nil
	}
	return "", nil
}

// completePods completes a POD argument with the names of the pods that
// where() selects; it stays silent when the cluster cannot be asked.
func (o *Options) completePods(where func() (string, labels.Selector)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := o.KubeClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ns, sel := where()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, p := range pods.Items {
			if strings.HasPrefix(p.Name, toComplete) {
				names = append(names, p.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// controlPlaneNamespace is -n when given, else the mesh namespace.
func (o *Options) controlPlaneNamespace() string {
	if ns, explicit, err := o.Namespace(); err == nil && explicit {
		return ns
	}
	return o.MeshNamespace()
}

func (o *Options) run(cmd *cobra.Command, target func(labels.Selector) (dashboard.Target, error)) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var sel labels.Selector
	if o.Selector != "" {
		s, err := labels.Parse(o.Selector)
		if err != nil {
			return cmdutil.UsageErrorf("invalid -l %q: %v", o.Selector, err)
		}
		sel = s
	}
	t, err := target(sel)
	if err != nil {
		var ee *cmdutil.ExitError
		if errors.As(err, &ee) {
			return err
		}
		return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
	}
	o.target = t
	return o.Run(cmd.Context())
}

// Validate checks the flags without touching the cluster.
func (o *Options) Validate() error {
	if o.Port < defaultPort || o.Port > 65535 {
		return cmdutil.UsageErrorf("invalid --port %d: use 1-65535, or 0 for a free port", o.Port)
	}
	if strings.TrimSpace(o.Address) == "" {
		return cmdutil.UsageErrorf("--address must not be empty (for example localhost or 0.0.0.0)")
	}
	return nil
}

// Run forwards to the target chosen by the subcommand until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	p := output.New(o.IO)
	client, err := o.KubeClient()
	if err != nil {
		return err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	port := o.Port
	if port == defaultPort {
		port = dashboard.LocalPortFor(o.Address, o.target.Port, true)
	}
	fw := &dashboard.Forwarder{
		Client:    client,
		Config:    cfg,
		Target:    o.target,
		Address:   o.Address,
		LocalPort: port,
		Forward:   o.forward,
		OnEvent: func(e dashboard.Event) {
			switch e.Type {
			case dashboard.EventReady:
				fmt.Fprintln(o.IO.Out, e.URL)
				p.Info("Forwarding %s from pod %s/%s; press Ctrl-C to stop", o.target.Name, o.target.Namespace, e.Pod)
				if o.Browser && o.OpenBrowser != nil {
					if err := o.OpenBrowser(e.URL); err != nil {
						p.Warning("could not open a browser (%v): open %s yourself", err, e.URL)
					}
				}
			case dashboard.EventLost:
				p.Warning("%v; reconnecting to a ready pod of %s", e.Err, o.target.Name)
			case dashboard.EventReconnected:
				p.Info("%s reconnected to pod %s/%s at %s", p.Green(output.SymbolSuccess), o.target.Namespace, e.Pod, e.URL)
			}
		},
	}
	if err := fw.Run(ctx); err != nil {
		return explain(err)
	}
	p.Info("Stopped forwarding %s.", o.target.Name)
	return nil
}

// explain gives each failure its exit code and, for an unreachable cluster,
// the usual ways to point meshctl at one.
func explain(err error) error {
	var unreachable *dashboard.UnreachableError
	if errors.As(err, &unreachable) {
		return cmdutil.NoClusterError(unreachable.Err)
	}
	return err
}

// SystemBrowser returns the opener for this machine, or nil when there is no
// desktop to show a browser on (an SSH session, a container, CI). It runs
// xdg-open or open rather than linking a library, and does not wait for the
// browser.
func SystemBrowser(goos string, getenv func(string) string) func(url string) error {
	name := browserCommand(goos, getenv)
	if name == "" {
		return nil
	}
	return func(url string) error {
		c := exec.Command(name, url)
		if err := c.Start(); err != nil {
			return err
		}
		go func() { _ = c.Wait() }()
		return nil
	}
}

func browserCommand(goos string, getenv func(string) string) string {
	switch goos {
	case "darwin":
		return "open"
	case "linux", "freebsd", "openbsd", "netbsd":
		if getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != "" {
			return "xdg-open"
		}
	}
	return ""
}
