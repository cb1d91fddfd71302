// Package server is the `meshctl server` command: the control plane that
// the installed Deployment runs, and that runs just as well out of the
// cluster against any kubeconfig.
package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/config"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/server"
)

// Options are the inputs of `meshctl server`.
type Options struct {
	IO *iostreams.IOStreams

	XDSAddress        string
	MonitoringAddress string
	Verbosity         int
	// Identity are the CA and webhook flags (identity.go).
	Identity IdentityOptions

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
		Identity:          newIdentityOptions(),
		RESTConfig:        f.RESTConfig,
		MeshNamespace:     func() string { return f.MeshNamespace },
	}
	cmd := &cobra.Command{
		Use:         "server",
		Annotations: map[string]string{cmdutil.AnnotationLongRunning: "true"},
		Short:       "Run the control plane: watch the cluster and serve xDS to proxies and gRPC clients",
		Long: `Run the mesh control plane. It watches Services, EndpointSlices, Pods,
Namespaces, the mesh ConfigMap and the mesh's routing and security resources,
and serves them as xDS: to proxyless gRPC clients (xds:///), Envoy sidecars
and Envoy gateways.

Ports: --xds-address (plaintext ADS, default :15010, for local use and
tests) and --monitoring-address (default :15014) with /ready, /metrics (Prometheus), /debug/syncz and
/debug/config_dump?proxy=ID, which meshctl proxy-status and proxy-config read.

It is also the mesh's certificate authority and admission webhooks:
--secure-grpc-address (TLS, default :15012) serves Istio's certificate API
(a workload's CSR plus its projected token gets its SPIFFE certificate) and
the same xDS as :15010 to clients that present their workload certificate or
projected token (and only for nodes of that namespace and service account), and
--webhook-address (HTTPS, default :15017) serves /inject and /validate. The
root is kept in the Secret meshctl-ca (or your cacerts) of the mesh namespace
and published to every namespace as the ConfigMap mesh-ca-root-cert; the
server patches its CA bundle into the webhook configurations of --revision.

The installed Deployment runs it with the in-cluster config; out of the
cluster it uses --kubeconfig / --context like every meshctl command. It logs
to standard error; -v 1 logs every push.`,
		Example: `  # Serve a local cluster from a laptop
  meshctl server --kubeconfig ~/.kube/config --xds-address 127.0.0.1:15010 --monitoring-address 127.0.0.1:15014

  # Then point a gRPC client's bootstrap at 127.0.0.1:15010 and check
  meshctl proxy-status --xds-address 127.0.0.1:15014`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Identity.Validate(); err != nil {
				return cmdutil.WithExitCode(cmdutil.ExitUsage, err)
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	o.Identity.AddFlags(fl)
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
	custom, err := config.NewCustomResources(cfg)
	if err != nil {
		return err
	}
	log := newLogger(o.IO, o.Verbosity)
	mc, err := server.ReadMeshConfig(ctx, kube, o.MeshNamespace(), o.Identity.Revision)
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitFailure, err)
	}
	s, err := server.New(server.Options{
		XDSAddress:        o.XDSAddress,
		MonitoringAddress: o.MonitoringAddress,
		MeshNamespace:     o.MeshNamespace(),
		RootNamespace:     mc.GetRootNamespace(),
		TrustDomain:       mc.GetTrustDomain(),
		Revision:          o.Identity.Revision,
		Kube:              kube,
		Custom:            custom,
		Log:               log,
	})
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitFailure, err)
	}
	id, err := o.Identity.Identity(ctx, kube, o.MeshNamespace(), s.Registry(), log)
	if err != nil {
		return cmdutil.WithExitCode(cmdutil.ExitFailure, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.RegisterXDS(runCtx, id.GRPC)
	if o.started != nil {
		o.started(s)
	}
	idErr := make(chan error, 1)
	go func() {
		err := id.Run(runCtx)
		cancel() // a failed listener stops the whole server
		idErr <- err
	}()
	err = s.Run(runCtx)
	cancel()
	ierr := <-idErr
	if ctx.Err() != nil {
		return nil // asked to stop
	}
	return errors.Join(err, ierr)
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
