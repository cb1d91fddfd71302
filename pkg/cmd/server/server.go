// Package server is the `meshctl server` command: the control plane that
// the installed Deployment runs, and that runs just as well out of the
// cluster against any kubeconfig.
package server

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/server"
)

// Options are the inputs of `meshctl server`.
type Options struct {
	IO *iostreams.IOStreams

	XDSAddress        string
	MonitoringAddress string
	Verbosity         int

	RESTConfig    func() (*rest.Config, error)
	MeshNamespace func() string

	// started is called with the running server (tests).
	started func(*server.Server)
}

// NewCmdServer builds `meshctl server`.
func NewCmdServer(f *cmdutil.Factory) *cobra.Command {
	o := &Options{
		IO:                f.IOStreams,
		XDSAddress:        server.DefaultXDSAddress,
		MonitoringAddress: server.DefaultMonitoringAddress,
		RESTConfig:        f.RESTConfig,
		MeshNamespace:     func() string { return f.MeshNamespace },
	}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: watch the cluster and serve xDS to proxies and gRPC clients",
		Long: `Run the mesh control plane. It watches Services, EndpointSlices, Pods,
Namespaces, the mesh ConfigMap and the mesh's routing and security resources,
and serves them as xDS: to proxyless gRPC clients (xds:///), Envoy sidecars
and Envoy gateways.

Ports: --xds-address (plaintext ADS, default :15010) and --monitoring-address
(default :15014) with /ready, /metrics (Prometheus), /debug/syncz and
/debug/config_dump?proxy=ID, which meshctl proxy-status and proxy-config read.

The installed Deployment runs it with the in-cluster config; out of the
cluster it uses --kubeconfig / --context like every meshctl command. It logs
to standard error; -v 1 logs every push.`,
		Example: `  # Serve a local cluster from a laptop
  meshctl server --kubeconfig ~/.kube/config --xds-address 127.0.0.1:15010 --monitoring-address 127.0.0.1:15014

  # Then point a gRPC client's bootstrap at 127.0.0.1:15010 and check
  meshctl proxy-status --xds-address 127.0.0.1:15014`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.XDSAddress, "xds-address", o.XDSAddress, "Address of the plaintext xDS (ADS) server")
	fl.StringVar(&o.MonitoringAddress, "monitoring-address", o.MonitoringAddress, "Address of readiness, metrics and debug endpoints")
	fl.IntVarP(&o.Verbosity, "verbosity", "v", 0, "Log verbosity: 0 changes of state, 1 every push")
	return cmd
}

// Run starts the server and blocks until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	istio, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	log := newLogger(o.IO, o.Verbosity)
	s, err := server.New(server.Options{
		XDSAddress:        o.XDSAddress,
		MonitoringAddress: o.MonitoringAddress,
		MeshNamespace:     o.MeshNamespace(),
		Kube:              kube,
		Istio:             istio,
		Log:               log,
	})
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitFailure, err)
	}
	if o.started != nil {
		o.started(s)
	}
	if err := s.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func newLogger(io *iostreams.IOStreams, v int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		if prefix != "" {
			fmt.Fprintf(io.ErrOut, "%s: %s\n", prefix, args)
			return
		}
		fmt.Fprintln(io.ErrOut, args)
	}, funcr.Options{LogTimestamp: true, Verbosity: v})
}
