// Package root builds the meshctl command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	agentcmd "github.com/meshctl/meshctl/pkg/cmd/agent"
	analyzecmd "github.com/meshctl/meshctl/pkg/cmd/analyze"
	"github.com/meshctl/meshctl/pkg/cmd/completion"
	configcmd "github.com/meshctl/meshctl/pkg/cmd/config"
	dashboardcmd "github.com/meshctl/meshctl/pkg/cmd/dashboard"
	getcmd "github.com/meshctl/meshctl/pkg/cmd/get"
	installcmd "github.com/meshctl/meshctl/pkg/cmd/install"
	"github.com/meshctl/meshctl/pkg/cmd/kubeinject"
	manifestcmd "github.com/meshctl/meshctl/pkg/cmd/manifest"
	precheckcmd "github.com/meshctl/meshctl/pkg/cmd/precheck"
	profilecmd "github.com/meshctl/meshctl/pkg/cmd/profile"
	proxycmd "github.com/meshctl/meshctl/pkg/cmd/proxy"
	proxyinitcmd "github.com/meshctl/meshctl/pkg/cmd/proxyinit"
	servercmd "github.com/meshctl/meshctl/pkg/cmd/server"
	uninstallcmd "github.com/meshctl/meshctl/pkg/cmd/uninstall"
	validatecmd "github.com/meshctl/meshctl/pkg/cmd/validate"
	verifyinstallcmd "github.com/meshctl/meshctl/pkg/cmd/verifyinstall"
	versioncmd "github.com/meshctl/meshctl/pkg/cmd/version"
	"github.com/meshctl/meshctl/pkg/cmd/x"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

// Command groups, so that --help reads like a manual.
const (
	GroupInstall  = "install"
	GroupConfig   = "config"
	GroupWorkload = "workload"
	GroupDebug    = "debug"
)

// NewCmdRoot builds the whole command tree around one factory.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "meshctl",
		Short: "Install and operate a service mesh on Kubernetes",
		Long: `meshctl installs and operates a service mesh that speaks the Istio traffic API
(networking.istio.io, security.istio.io): install the mesh, inject sidecars,
check routing config in CI, and open the dashboards.

Flags can also be set in a config file ($XDG_CONFIG_HOME/meshctl/config.yaml,
or --config) and in MESHCTL_* environment variables (MESHCTL_MESH_NAMESPACE for
--mesh-namespace). A flag on the command line wins over the environment, which
wins over the file. --yes, --purge and --force-conflicts count only on the
command line. Keys in the file are flag names, at the top level or under
the name of a command:

  mesh-namespace: mesh-system
  analyze:
    failure-threshold: Warning`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			paceGC(cmd.Annotations[cmdutil.AnnotationLongRunning] != "")
			return applyConfig(cmd, configFile)
		},
	}
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
	})

	pf := cmd.PersistentFlags()
	f.ConfigFlags.AddFlags(pf)
	pf.StringVar(&f.MeshNamespace, "mesh-namespace", f.MeshNamespace, "Namespace of the mesh control plane and addons")
	pf.StringVar(&configFile, "config", "", "meshctl config file (default $XDG_CONFIG_HOME/meshctl/config.yaml)")
	_ = cmd.RegisterFlagCompletionFunc("mesh-namespace", cobra.NoFileCompletions)

	cmd.AddGroup(
		&cobra.Group{ID: GroupInstall, Title: "Install and upgrade:"},
		&cobra.Group{ID: GroupConfig, Title: "Check and explain mesh configuration:"},
		&cobra.Group{ID: GroupWorkload, Title: "Workloads:"},
		&cobra.Group{ID: GroupDebug, Title: "Observe and debug:"},
	)
	kubeInject := kubeinject.NewCmdKubeInject(f)
	kubeInject.GroupID = GroupWorkload
	dashboard := dashboardcmd.NewCmdDashboard(f)
	dashboard.GroupID = GroupDebug
	for _, c := range []*cobra.Command{
		installcmd.NewCmdInstall(f), uninstallcmd.NewCmdUninstall(f), manifestcmd.NewCmdManifest(f),
		profilecmd.NewCmdProfile(f), verifyinstallcmd.NewCmdVerifyInstall(f), precheckcmd.NewCmdPrecheck(f),
	} {
		c.GroupID = GroupInstall
		cmd.AddCommand(c)
	}
	for _, c := range []*cobra.Command{configcmd.NewCmdConfig(f), getcmd.NewCmdGet(f),
		analyzecmd.NewCmdAnalyze(f), validatecmd.NewCmdValidate(f)} {
		c.GroupID = GroupConfig
		cmd.AddCommand(c)
	}
	for _, c := range []*cobra.Command{proxycmd.NewCmdProxyStatus(f), proxycmd.NewCmdProxyConfig(f)} {
		c.GroupID = GroupDebug
		cmd.AddCommand(c)
	}
	cmd.AddCommand(
		servercmd.NewCmdServer(f),
		dashboard,
		versioncmd.NewCmdVersion(f),
		completion.NewCmdCompletion(f),
		kubeInject,
		x.NewCmdX(f),
		// What runs inside every injected pod.
		proxyinitcmd.NewCmdProxyInit(f),
		agentcmd.NewCmdAgent(f),
	)
	markGroups(cmd)
	return cmd
}

// markGroups makes every command that only groups subcommands fail on an
// unknown subcommand instead of printing its help and exiting 0.
func markGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && !sub.Runnable() {
			sub.Args = cobra.ArbitraryArgs
			sub.RunE = cmdutil.RunGroup
		}
		markGroups(sub)
	}
}

// shortRunGCPercent is the garbage collector's pacing for commands that
// run once and exit: a render or an injection allocates tens of MB, nearly
// all of it garbage by the time the process ends, and at Go's default
// (100) collecting it costs a fifth of `manifest generate`. Long-running
// roles (cmdutil.AnnotationLongRunning) keep the default.
const shortRunGCPercent = 400

// shortRunFirstCollection is the memory a one-shot command may take before
// its first collection. Go's first one comes at 4 MB × GOGC/100 (16 MB at
// shortRunGCPercent), which analyze of 1,000 services (~45 MB allocated,
// most of it live until the end: the parsed documents) reached mid-parse:
// marking the documents cost ~10% of its instructions and a core's share
// while both parsed, to free little. Past this size the pacing above
// applies.
const shortRunFirstCollection = 64 << 20

// paceGC sets the collector's pacing for the command about to run, unless
// the user chose one with GOGC (or a limit with GOMEMLIMIT). In the meshctl
// binary this also turns the collector back on: internal/initgc keeps it
// off while packages initialise.
func paceGC(longRunning bool) {
	if os.Getenv("GOGC") != "" {
		return
	}
	switch {
	case longRunning:
		debug.SetGCPercent(100)
	case os.Getenv("GOMEMLIMIT") != "":
		debug.SetGCPercent(shortRunGCPercent)
	default:
		// Go has no setting for the size of the first collection: the
		// memory limit triggers it, and the collection hands over to the
		// pacing by running this cleanup of an object nothing references.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(shortRunFirstCollection)
		runtime.AddCleanup(new(firstCollection), func(struct{}) {
			debug.SetGCPercent(shortRunGCPercent)
			debug.SetMemoryLimit(math.MaxInt64)
		}, struct{}{})
	}
}

// firstCollection is big enough not to share a tiny allocation block,
// whose neighbours could keep it, and its cleanup, waiting.
type firstCollection [64]byte

// Execute runs meshctl with args and returns the process exit code. Errors
// are printed once, here, without stack traces.
func Execute(ctx context.Context, streams *iostreams.IOStreams, args []string) int {
	f := cmdutil.NewFactory(streams)
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	err := executeInterruptible(ctx, cmd, args)
	if err == nil {
		return cmdutil.ExitOK
	}
	code := cmdutil.ExitCode(err)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(streams.ErrOut, "Interrupted.")
		return cmdutil.ExitCancelled
	}
	var ee *cmdutil.ExitError
	if errors.As(err, &ee) && ee.Silent {
		return code
	}
	fmt.Fprintf(streams.ErrOut, "Error: %v\n", err)
	// Whatever command hit it, a connection-level failure means the same
	// thing: meshctl is pointed at no cluster, or at the wrong one.
	var urlErr *url.Error
	if errors.As(err, &urlErr) && !strings.Contains(err.Error(), "--kubeconfig") {
		fmt.Fprintln(streams.ErrOut, "  check that the cluster is up, or point meshctl at another one with --kubeconfig, --context or KUBECONFIG")
	}
	if isUsageError(err) {
		code = cmdutil.ExitUsage
		fmt.Fprintf(streams.ErrOut, "Run '%s --help' for usage.\n", commandPath(cmd, args))
	}
	return code
}

// interruptGrace is how long a command has, once ctx is cancelled (Ctrl-C,
// SIGTERM), to return by itself before meshctl stops waiting for it. Loops
// over files, documents and objects check ctx, but one huge document is
// parsed in a single library call that cannot be told to stop: the user
// still gets control back within a second, with exit code 130.
const interruptGrace = 500 * time.Millisecond

// executeInterruptible runs cmd and returns its error, or context.Canceled
// when ctx is cancelled and the command has not returned within
// interruptGrace. Long-running roles (server, agent) are waited for: they
// drain connections on SIGTERM for as long as they are configured to.
func executeInterruptible(ctx context.Context, cmd *cobra.Command, args []string) error {
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	if c, _, err := cmd.Find(args); err == nil && c != nil && c.Annotations[cmdutil.AnnotationLongRunning] != "" {
		return <-done
	}
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		// The command's goroutine is left behind; the process exits now.
		return context.Canceled
	}
}

// isUsageError recognises the command-line errors cobra returns as plain
// errors (unknown commands) as well as those meshctl marks itself.
func isUsageError(err error) bool {
	return cmdutil.ExitCode(err) == cmdutil.ExitUsage ||
		strings.HasPrefix(err.Error(), "unknown command") ||
		strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag") ||
		strings.HasPrefix(err.Error(), "required flag(s)")
}

func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.CommandPath()
	}
	return c.CommandPath()
}

// envKey turns a config key into the suffix of its MESHCTL_* variable.
var envKey = strings.NewReplacer("-", "_", ".", "_")

// applyConfig fills every flag the user did not set from MESHCTL_* variables
// and then from the config file, giving flag > env > file > default.
func applyConfig(cmd *cobra.Command, explicitFile string) error {
	v := viper.New()
	v.SetEnvPrefix("MESHCTL")
	v.SetEnvKeyReplacer(envKey)
	v.AutomaticEnv()

	file := explicitFile
	if file == "" {
		if env := os.Getenv("MESHCTL_CONFIG"); env != "" {
			file = env
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("reading config file %s: %w", file, err))
		}
	} else if dir, err := os.UserConfigDir(); err == nil {
		v.SetConfigFile(filepath.Join(dir, "meshctl", "config.yaml"))
		// The default file is optional; only a broken one is an error.
		if err := v.ReadInConfig(); err != nil && !errors.Is(err, os.ErrNotExist) {
			return cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("reading config file %s: %w", v.ConfigFileUsed(), err))
		}
	}

	var firstErr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || firstErr != nil || fl.Name == "config" || fl.Name == "help" {
			return
		}
		// A command-scoped key ("analyze.failure-threshold") beats a global one.
		for _, key := range []string{cmd.Name() + "." + fl.Name, fl.Name} {
			if !v.IsSet(key) {
				continue
			}
			if cmdutil.IsCommandLineOnly(fl) {
				// Said, not silently dropped: the user meant something by it.
				source := "config file key " + key
				if env := "MESHCTL_" + strings.ToUpper(envKey.Replace(key)); os.Getenv(env) != "" {
					source = env
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: ignoring %s: --%s is accepted only on the command line\n", source, fl.Name)
				return
			}
			val := v.Get(key)
			var s string
			switch t := val.(type) {
			case []any:
				parts := make([]string, len(t))
				for i, p := range t {
					parts[i] = fmt.Sprint(p)
				}
				s = strings.Join(parts, ",")
			default:
				s = fmt.Sprint(t)
			}
			if err := fl.Value.Set(s); err != nil {
				firstErr = cmdutil.WithExitCode(cmdutil.ExitUsage,
					fmt.Errorf("invalid value %q for %s from the environment or config file: %w", s, fl.Name, err))
			}
			return
		}
	})
	return firstErr
}
