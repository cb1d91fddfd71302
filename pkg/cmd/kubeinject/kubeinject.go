// Package kubeinject is the `meshctl kube-inject` command.
package kubeinject

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options are the inputs of `meshctl kube-inject`.
type Options struct {
	IO *iostreams.IOStreams

	Files     []string
	Recursive bool
	Output    string

	InjectConfigFile string
	MeshConfigFile   string
	ValuesFile       string
	Profile          string
	InstallFiles     []string
	Sets             []string
	Revision         string
	NativeSidecars   bool
	nativeSet        bool

	// Clients, from the factory; used only when the config comes from the cluster.
	factory       *cmdutil.Factory
	meshNamespace string
}

// NewCmdKubeInject builds `meshctl kube-inject`.
func NewCmdKubeInject(f *cmdutil.Factory) *cobra.Command {
	o := &Options{IO: f.IOStreams, factory: f}
	cmd := &cobra.Command{
		Use:   "kube-inject -f FILE",
		Short: "Add the mesh sidecar to Kubernetes workloads in YAML files",
		Long: `kube-inject adds the mesh sidecar (the mesh-init init container, the
mesh-proxy container, identity volumes, labels and a status annotation) to
every workload in the input: Pods, Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers, Jobs, CronJobs and Lists of them.

The output keeps the input's documents in order: other documents (Services,
ConfigMaps, ...) are copied byte for byte, and in workloads only the added
parts are new, so comments and formatting survive. What happened to each
resource is reported on standard error, so standard output stays YAML.
Injecting an injected workload changes nothing; 'meshctl x uninject' removes
the sidecar again.

The injection config (images, resources, control-plane address) comes from,
in this order:
  --inject-config-file / --mesh-config-file / --values-file   files
  --profile / --install-file / --set                         an install spec
  --revision, or the installed mesh when a cluster is reachable:
      the ConfigMap "mesh" (or "mesh-REVISION") in --mesh-namespace`,
		Example: `  # Inject the sidecar and apply, using the mesh installed in the cluster
  meshctl kube-inject -f bookinfo.yaml | kubectl apply -f -

  # Offline, as a default install would inject
  meshctl kube-inject -f app.yaml --profile default -o app-injected.yaml

  # Offline, with the config of an installed mesh saved earlier
  kubectl get configmap mesh -n mesh-system -o yaml > mesh-cm.yaml
  meshctl kube-inject -f app.yaml --inject-config-file mesh-cm.yaml

  # A directory tree, as native sidecars (Jobs complete)
  meshctl kube-inject -R -f k8s/ --profile default --native-sidecars`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.nativeSet = cmd.Flags().Changed("native-sidecars")
			o.meshNamespace = f.MeshNamespace
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Files, "filename", "f", nil, "Input file, directory or - for standard input (repeatable)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", false, "Read directories given with -f recursively")
	fl.StringVarP(&o.Output, "output", "o", "", "Write the result to this file instead of standard output (written only if everything succeeds)")
	fl.StringVar(&o.InjectConfigFile, "inject-config-file", "", "Injection config: YAML of the mesh ConfigMap's inject key, or the ConfigMap itself")
	fl.StringVar(&o.MeshConfigFile, "mesh-config-file", "", "Mesh config (Istio MeshConfig schema, or the mesh ConfigMap) applied over the injection config")
	fl.StringVar(&o.ValuesFile, "values-file", "", "Istio-style Helm values (global.proxy.image, ...) applied over the injection config")
	fl.StringVar(&o.Profile, "profile", "", "Inject as an install with this profile would (offline)")
	fl.StringArrayVar(&o.InstallFiles, "install-file", nil, "Install spec (MeshInstall) file to inject as (offline, repeatable)")
	fl.StringArrayVar(&o.Sets, "set", nil, "Install spec override path=value, as for install (offline, repeatable)")
	fl.StringVar(&o.Revision, "revision", "", "Read the injection config of this control-plane revision from the cluster")
	fl.BoolVar(&o.NativeSidecars, "native-sidecars", false, "Inject the proxy as a native sidecar (init container with restartPolicy Always); overrides the config")
	// istioctl spells these in camelCase; accepting its spelling lets
	// existing scripts switch by changing only the binary name.
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "injectConfigFile":
			name = "inject-config-file"
		case "meshConfigFile":
			name = "mesh-config-file"
		case "valuesFile":
			name = "values-file"
		}
		return pflag.NormalizedName(name)
	})
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return profiles.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	for _, name := range []string{"filename", "inject-config-file", "mesh-config-file", "values-file", "install-file"} {
		_ = cmd.MarkFlagFilename(name, "yaml", "yml", "json")
	}
	return cmd
}

func (o *Options) fileConfig() bool {
	return o.InjectConfigFile != "" || o.MeshConfigFile != "" || o.ValuesFile != ""
}

func (o *Options) specConfig() bool {
	return o.Profile != "" || len(o.InstallFiles) > 0 || len(o.Sets) > 0
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if len(o.Files) == 0 {
		return cmdutil.UsageErrorf("no input: pass -f FILE, -f DIR or -f - for standard input")
	}
	stdin := 0
	for _, f := range o.Files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return cmdutil.UsageErrorf("-f - (standard input) can be given only once")
	}
	sources := 0
	for _, on := range []bool{o.fileConfig(), o.specConfig(), o.Revision != ""} {
		if on {
			sources++
		}
	}
	if sources > 1 {
		return cmdutil.UsageErrorf("choose one injection config source: config files (--inject-config-file, --mesh-config-file, --values-file), " +
			"an install spec (--profile, --install-file, --set), or the cluster (--revision)")
	}
	return nil
}

// Run injects every input and writes the result.
func (o *Options) Run(ctx context.Context) error {
	cfg, source, err := o.resolveConfig(ctx)
	if err != nil {
		return err
	}
	if o.nativeSet {
		cfg.NativeSidecars = o.NativeSidecars
	}
	if err := cfg.Validate(); err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("%s: %w", source, err))
	}
	if source != "" {
		fmt.Fprintf(o.IO.ErrOut, "Using the injection config from %s.\n", source)
	}
	return RunFiles(o.IO, o.Files, o.Recursive, o.Output, inject.Options{Mode: inject.ModeInject, Config: cfg})
}

// resolveConfig finds the injection config and says where it came from
// when that was a choice meshctl made.
func (o *Options) resolveConfig(ctx context.Context) (inject.Config, string, error) {
	switch {
	case o.fileConfig():
		cfg := inject.DefaultConfig()
		if o.InjectConfigFile != "" {
			b, err := os.ReadFile(o.InjectConfigFile)
			if err != nil {
				return cfg, "", cmdutil.WithExitCode(cmdutil.ExitUsage, err)
			}
			if cfg, err = inject.ParseConfig(b, o.InjectConfigFile); err != nil {
				return cfg, "", cmdutil.WithExitCode(cmdutil.ExitDataErr, err)
			}
		}
		for _, layer := range []struct {
			file  string
			apply func(*inject.Config, []byte, string) error
		}{{o.MeshConfigFile, inject.ApplyMeshConfig}, {o.ValuesFile, inject.ApplyValues}} {
			if layer.file == "" {
				continue
			}
			b, err := os.ReadFile(layer.file)
			if err != nil {
				return cfg, "", cmdutil.WithExitCode(cmdutil.ExitUsage, err)
			}
			if err := layer.apply(&cfg, b, layer.file); err != nil {
				return cfg, "", cmdutil.WithExitCode(cmdutil.ExitDataErr, err)
			}
		}
		return cfg, "", nil
	case o.specConfig():
		cfg, err := profiles.Inject(profiles.ResolveOptions{Profile: o.Profile, Files: o.InstallFiles, Sets: o.Sets, MeshNamespace: o.meshNamespace})
		if err != nil {
			return cfg, "", cmdutil.WithExitCode(cmdutil.ExitUsage, err)
		}
		return cfg, "", nil
	}
	cfg, where, err := o.fromCluster(ctx)
	if err == nil {
		return cfg, where, nil
	}
	if o.Revision != "" {
		return cfg, "", err
	}
	return cfg, "", cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("no injection config: %v\n"+
		"  pass one of:\n"+
		"    --profile default                 inject as a default install would (offline)\n"+
		"    --inject-config-file FILE         the mesh ConfigMap of an install (kubectl get configmap %s -n %s -o yaml)\n"+
		"    --kubeconfig/--context            a cluster where the mesh is installed (meshctl install)",
		err, vocab.MeshConfigMapName(""), o.meshNamespace))
}

func (o *Options) fromCluster(ctx context.Context) (inject.Config, string, error) {
	client, err := o.factory.KubeClient()
	if err != nil {
		return inject.Config{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := inject.ConfigFromCluster(ctx, client, o.meshNamespace, o.Revision)
	if errors.Is(err, inject.ErrNoMeshConfigMap) {
		what := "the mesh is not installed"
		if o.Revision != "" {
			what = fmt.Sprintf("revision %q is not installed", o.Revision)
		}
		return cfg, "", fmt.Errorf("%s in namespace %s (%v); install it with meshctl install, or check --mesh-namespace", what, o.meshNamespace, err)
	}
	if err != nil {
		return cfg, "", err
	}
	return cfg, fmt.Sprintf("configmap %s/%s in the cluster", o.meshNamespace, vocab.MeshConfigMapName(o.Revision)), nil
}

// RunFiles runs the injector (or uninjector) over every input and writes one
// YAML stream to output (standard output when empty). A file given with -o
// is written to a temporary file first and renamed only when everything
// succeeded, so an error never leaves a half-written result behind.
func RunFiles(io_ *iostreams.IOStreams, files []string, recursive bool, output string, opts inject.Options) error {
	inputs, err := expandInputs(files, recursive)
	if err != nil {
		return err
	}
	report := bufio.NewWriter(io_.ErrOut)
	defer report.Flush()
	opts.Report = func(r inject.Record) { fmt.Fprintln(report, r.String()) }

	if output == "" {
		// Standard output is usually piped into kubectl apply: it gets the
		// whole result or nothing, never the documents before an error.
		sp := &spool{}
		defer sp.discard()
		bw := bufio.NewWriterSize(sp, 256*1024)
		if err := processAll(inputs, io_.In, bw, opts); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return sp.copyTo(io_.Out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("-o %s: cannot write there: %w", output, errors.Unwrap(err)))
	}
	defer os.Remove(tmp.Name())
	defer func() { _ = tmp.Close() }()
	bw := bufio.NewWriterSize(tmp, 256*1024)
	if err := processAll(inputs, io_.In, bw, opts); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}

// spool holds the output until the whole input has succeeded: in memory up
// to spoolMemory bytes, then in a temporary file, so that memory stays
// bounded for inputs of any size.
type spool struct {
	mem  bytes.Buffer
	file *os.File
}

const spoolMemory = 32 << 20

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) <= spoolMemory {
		return s.mem.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "meshctl-kube-inject-*")
		if err != nil {
			return 0, fmt.Errorf("output too large to hold in memory and no temporary file: %w", err)
		}
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	return s.file.Write(p)
}

func (s *spool) copyTo(w io.Writer) error {
	if s.file == nil {
		_, err := w.Write(s.mem.Bytes())
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.file)
	return err
}

func (s *spool) discard() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
	}
}

func processAll(inputs []string, stdin io.Reader, w io.Writer, opts inject.Options) error {
	tw := &tailWriter{w: w}
	for i, in := range inputs {
		var r io.Reader
		if in == "-" {
			r = stdin
			opts.Source = "<stdin>"
		} else {
			f, err := os.Open(in)
			if err != nil {
				return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
			}
			defer f.Close()
			r = f
			opts.Source = in
		}
		br := bufio.NewReader(r)
		if i > 0 {
			// Files are concatenated into one stream; each starts a
			// document, on a line of its own. The last file keeps its
			// ending as it is, final newline or not.
			if tw.n > 0 && tw.last != '\n' {
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			if head, _ := br.Peek(3); string(head) != "---" {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
		}
		tw.n = 0
		if err := inject.Process(br, tw, opts); err != nil {
			var ie *inject.InputError
			if errors.As(err, &ie) {
				return cmdutil.WithExitCode(cmdutil.ExitDataErr, err)
			}
			return err
		}
	}
	return nil
}

// tailWriter remembers the last byte written, so files without a final
// newline are still separated.
type tailWriter struct {
	w    io.Writer
	n    int
	last byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		t.n += len(p)
		t.last = p[len(p)-1]
	}
	return t.w.Write(p)
}

// expandInputs turns -f arguments into files, as every manifest-reading
// command does; a directory without manifests is a usage error here, because
// kube-inject must never print empty output as if it had succeeded.
func expandInputs(args []string, recursive bool) ([]string, error) {
	var out []string
	for _, a := range args {
		files, err := config.ExpandPaths([]string{a}, recursive)
		if err != nil {
			return nil, cmdutil.WithExitCode(cmdutil.ExitUsage, err)
		}
		if len(files) == 0 {
			return nil, cmdutil.WithExitCode(cmdutil.ExitUsage, fmt.Errorf("-f %s: no .yaml, .yml or .json files in the directory (use -R for subdirectories)", a))
		}
		out = append(out, files...)
	}
	return out, nil
}
