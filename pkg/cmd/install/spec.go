package install

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/metadata"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/install"
	"github.com/meshctl/meshctl/pkg/profiles"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// SpecFlags are the flags that describe an install spec, shared by install,
// manifest generate, verify-install and precheck so they read alike.
type SpecFlags struct {
	Profile  string
	Files    []string
	Sets     []string
	Revision string
}

// AddFlags registers --profile, -f, --set and --revision on cmd.
func (s *SpecFlags) AddFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.Profile, "profile", "", "Built-in profile to start from: "+joinNames()+" (default \"default\")")
	fl.StringArrayVarP(&s.Files, "filename", "f", nil, "MeshInstall file overlaid on the profile, - for standard input (repeatable; later files win)")
	fl.StringArrayVar(&s.Sets, "set", nil, "Override one spec field, e.g. --set components.server.replicas=2 (repeatable; wins over -f)")
	fl.StringVar(&s.Revision, "revision", "", "Control-plane revision, to install side by side with another one")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(profiles.Names(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
}

// Given reports whether any spec flag was set on the command line.
func (s *SpecFlags) Given() bool {
	return s.Profile != "" || len(s.Files) > 0 || len(s.Sets) > 0
}

func joinNames() string {
	out := ""
	for i, n := range profiles.Names() {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// Resolve turns the flags (and --mesh-namespace) into a spec. Errors in the
// spec are usage errors: the user typed something meshctl cannot use.
func (s *SpecFlags) Resolve(f *cmdutil.Factory, cmd *cobra.Command) (*profiles.MeshInstall, error) {
	mi, err := profiles.Resolve(profiles.ResolveOptions{
		Profile:       s.Profile,
		Files:         s.Files,
		Sets:          s.Sets,
		MeshNamespace: MeshNamespace(f, cmd),
		Revision:      s.Revision,
		ReadFile:      readSpecFile(f),
	})
	if err != nil {
		return nil, cmdutil.WithExitCode(SpecExitCode(err), err)
	}
	return mi, nil
}

// readSpecFile reads -f files, "-" from standard input (once: a stream
// cannot be read twice).
func readSpecFile(f *cmdutil.Factory) func(string) ([]byte, error) {
	stdinRead := false
	return func(name string) ([]byte, error) {
		if name != "-" {
			return os.ReadFile(name)
		}
		if stdinRead {
			return nil, fmt.Errorf("-f - is given twice: standard input can be read only once")
		}
		stdinRead = true
		if f.IOStreams == nil || f.IOStreams.In == nil {
			return nil, fmt.Errorf("cannot read standard input: none is attached")
		}
		return io.ReadAll(f.IOStreams.In)
	}
}

// SpecExitCode is the exit code of an error resolving an install spec: a
// file that does not parse is bad input, anything else a bad command line.
func SpecExitCode(err error) int {
	if _, ok := errors.AsType[*profiles.InvalidSpecError](err); ok {
		return cmdutil.ExitDataErr
	}
	return cmdutil.ExitUsage
}

// MeshNamespace is --mesh-namespace when the user chose one (flag, env or
// config file), "" to keep the spec's.
func MeshNamespace(f *cmdutil.Factory, cmd *cobra.Command) string {
	if fl := cmd.Flag("mesh-namespace"); (fl != nil && fl.Changed) || f.MeshNamespace != vocab.DefaultMeshNamespace {
		return f.MeshNamespace
	}
	return ""
}

// Clients builds the install clients from the factory.
func Clients(f *cmdutil.Factory) (install.Clients, error) {
	kube, err := f.KubeClient()
	if err != nil {
		return install.Clients{}, err
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		return install.Clients{}, err
	}
	mapper, err := f.RESTMapper()
	if err != nil {
		return install.Clients{}, err
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return install.Clients{}, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return install.Clients{}, err
	}
	return install.Clients{Kube: kube, Dynamic: dyn, Mapper: mapper, Metadata: md}, nil
}
