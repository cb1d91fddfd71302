// Package cmdutil holds what every meshctl command shares: the Factory that
// lazily builds Kubernetes clients, the exit codes, and argument helpers.
package cmdutil

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// AnnotationLongRunning, set to "true" in a command's Annotations, marks a
// command that serves until stopped (server, agent): it keeps Go's default
// garbage-collector pacing, which one-shot commands relax.
const AnnotationLongRunning = "meshctl.io/long-running"

// Factory gives commands their streams and their clients. Every client is
// created on first use: commands that never talk to a cluster (kube-inject
// offline, analyze on files, version) never load a kubeconfig, which keeps
// start-up fast and lets them run on machines without one.
type Factory struct {
	IOStreams *iostreams.IOStreams

	// ConfigFlags are kubectl's --kubeconfig, --context, -n and friends. They
	// are the single source of the client configuration below.
	ConfigFlags *genericclioptions.ConfigFlags

	// MeshNamespace is bound to --mesh-namespace.
	MeshNamespace string

	// The client constructors default to ones derived from ConfigFlags; tests
	// replace them with fakes or with clients of the local test cluster.
	RESTConfig    func() (*rest.Config, error)
	KubeClient    func() (kubernetes.Interface, error)
	DynamicClient func() (dynamic.Interface, error)
	RESTMapper    func() (meta.RESTMapper, error)
}

// NewFactory returns a factory whose clients come from kubeconfig flags.
func NewFactory(streams *iostreams.IOStreams) *Factory {
	f := &Factory{
		IOStreams:     streams,
		ConfigFlags:   genericclioptions.NewConfigFlags(true),
		MeshNamespace: vocab.DefaultMeshNamespace,
	}
	f.RESTConfig = once(func() (*rest.Config, error) {
		cfg, err := f.ConfigFlags.ToRESTConfig()
		if err != nil {
			return nil, NoClusterError(err)
		}
		// Installs and analysis of big clusters make bursts of requests; the
		// client-go defaults (5 qps) would make them crawl.
		cfg.QPS, cfg.Burst = 50, 100
		return cfg, nil
	})
	f.KubeClient = once(func() (kubernetes.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(cfg)
	})
	f.DynamicClient = once(func() (dynamic.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	})
	f.RESTMapper = once(func() (meta.RESTMapper, error) { return f.ConfigFlags.ToRESTMapper() })
	return f
}

// NewFactoryForKubeconfig returns a factory bound to one kubeconfig file and
// namespace, as if --kubeconfig and -n had been given; in-process tests against
// the local test cluster use it.
func NewFactoryForKubeconfig(streams *iostreams.IOStreams, kubeconfig, namespace string) *Factory {
	f := NewFactory(streams)
	f.ConfigFlags.KubeConfig = &kubeconfig
	f.ConfigFlags.Namespace = &namespace
	return f
}

// Namespace returns the namespace from -n or the kubeconfig context, and
// whether the user asked for it explicitly.
func (f *Factory) Namespace() (string, bool, error) {
	if f.ConfigFlags.Namespace != nil && *f.ConfigFlags.Namespace != "" {
		return *f.ConfigFlags.Namespace, true, nil
	}
	ns, explicit, err := f.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		// Without a kubeconfig, offline commands still work in "default".
		return "default", false, nil
	}
	return ns, explicit, nil
}

// NoClusterError explains the usual ways to point meshctl at a cluster.
func NoClusterError(err error) error {
	return fmt.Errorf("cannot reach a Kubernetes cluster: %w\n"+
		"  point meshctl at one with --kubeconfig, --context or the KUBECONFIG environment variable", err)
}

func once[T any](fn func() (T, error)) func() (T, error) {
	var (
		mu   sync.Mutex
		done bool
		v    T
		err  error
	)
	return func() (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			v, err = fn()
			// A failure is not cached: a later call may succeed once the
			// user's environment changes (tests rely on this too).
			done = err == nil
		}
		return v, err
	}
}
