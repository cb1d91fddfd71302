// Package agent is `meshctl agent`, the command of the injected mesh-proxy
// container: it runs Envoy (or, for proxyless gRPC apps, no proxy) with a
// workload certificate from the mesh CA.
package agent

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/meshctl/meshctl/pkg/agent"
	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options are the inputs of `meshctl agent proxy`.
type Options struct {
	IO *iostreams.IOStreams

	Mode          agent.Mode
	EnvoyPath     string
	DrainDuration time.Duration
	GRPCBootstrap string
	CertDir       string

	// Where the injector mounts what the agent reads and writes.
	RootCertFile  string
	TokenFile     string
	PodInfoDir    string
	SDSDir        string
	BootstrapPath string

	// Getenv reads the environment the injector set; os.Getenv unless a
	// test replaces it.
	Getenv func(string) string
	// Listen opens the health and agent ports; net.Listen unless replaced.
	Listen func(network, addr string) (net.Listener, error)
	// CADialOptions are added to the CA connection (tests dial in memory).
	CADialOptions []grpc.DialOption

	config agent.Config
}

// NewCmdAgent builds `meshctl agent` and its subcommands.
func NewCmdAgent(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "agent",
		Annotations: map[string]string{cmdutil.AnnotationLongRunning: "true"},
		Short:       "Run beside the app in an injected pod: proxy bootstrap, certificates, health (the mesh-proxy container)",
		Args:        cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdutil.UsageErrorf("name what to run: proxy sidecar, proxy router, proxy grpc or wait")
		},
	}
	cmd.AddCommand(newCmdProxy(newOptions(f.IOStreams)), newCmdWait(f.IOStreams))
	return cmd
}

func newOptions(streams *iostreams.IOStreams) *Options {
	return &Options{
		IO:            streams,
		EnvoyPath:     "/usr/local/bin/envoy",
		DrainDuration: 5 * time.Second,
		CertDir:       vocab.GRPCCertDir,
		RootCertFile:  filepath.Join(vocab.MountRootCert, "root-cert.pem"),
		TokenFile:     filepath.Join(vocab.MountToken, vocab.TokenPath),
		PodInfoDir:    vocab.MountPodInfo,
		SDSDir:        vocab.MountSDS,
		BootstrapPath: filepath.Join(vocab.MountEnvoy, "envoy-rev.json"),
		Getenv:        os.Getenv,
		Listen:        net.Listen,
	}
}

func newCmdProxy(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy (sidecar|router|grpc)",
		Short: "Run the pod's proxy (sidecar), a gateway (router) or serve a proxyless gRPC app (grpc)",
		Long: `Obtain the workload certificate from the mesh CA with the pod's projected
service-account token (Istio's certificate API on the discovery address) and
renew it at half its lifetime, then:

  sidecar  write the Envoy bootstrap (node id sidecar~<podIP>~<pod>.<ns>~<ns>.svc.cluster.local,
           the control plane from MESH_DISCOVERY_ADDRESS, SDS on the Unix socket in
           ` + vocab.MountSDS + `, admin on 127.0.0.1:15000), serve the certificate to
           Envoy by SDS and run Envoy; SIGTERM drains Envoy's listeners for
           --drain-duration, and the agent exits with Envoy.
  router   the same for a gateway (node id router~...).
  grpc     write the certificate files and the gRPC xDS bootstrap ($GRPC_XDS_BOOTSTRAP)
           for a proxyless gRPC app; no Envoy.

Both serve /healthz/ready on 15021 (ready when Envoy is, or once the gRPC
bootstrap is written) and, on 15020, the app's and Envoy's metrics in one
scrape (/stats/prometheus) and the app probes the injector rewrote.

The pod's identity and settings come from the environment the injector sets
(POD_NAME, POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT, MESH_*).`,
		Args:      cmdutil.ExactArgs(1),
		ValidArgs: []string{string(agent.ModeEnvoy), string(agent.ModeRouter), string(agent.ModeGRPC)},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Mode = agent.Mode(args[0])
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.EnvoyPath, "envoy-path", o.EnvoyPath, "Path of the envoy binary")
	fl.DurationVar(&o.DrainDuration, "drain-duration", o.DrainDuration, "How long Envoy's listeners drain after SIGTERM before Envoy is stopped")
	fl.StringVar(&o.GRPCBootstrap, "grpc-bootstrap", "", "Where the gRPC xDS bootstrap is written (default $"+vocab.EnvGRPCXDSBootstrap+", else "+vocab.GRPCBootstrapPath+")")
	fl.StringVar(&o.CertDir, "cert-dir", o.CertDir, "Where the certificate files for proxyless gRPC are written")
	return cmd
}

// Complete reads the environment into the agent's config.
func (o *Options) Complete() error {
	if o.Mode != agent.ModeEnvoy && o.Mode != agent.ModeRouter && o.Mode != agent.ModeGRPC {
		return cmdutil.UsageErrorf("unknown proxy type %q: want %s, %s or %s", o.Mode, agent.ModeEnvoy, agent.ModeRouter, agent.ModeGRPC)
	}
	env := o.Getenv
	var missing []string
	need := func(name string) string {
		v := env(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	id := agent.Identity{
		PodName:        need(vocab.EnvPodName),
		Namespace:      need(vocab.EnvPodNamespace),
		PodIP:          need(vocab.EnvInstanceIP),
		ServiceAccount: need(vocab.EnvServiceAccount),
		WorkloadName:   env(vocab.EnvWorkloadName),
		ClusterID:      env(vocab.EnvClusterID),
		MeshID:         env(vocab.EnvMeshID),
		Network:        env(vocab.EnvNetwork),
		TrustDomain:    env(vocab.EnvTrustDomain),
		Revision:       env(vocab.EnvRevision),
	}
	discovery := need(vocab.EnvDiscoveryAddress)
	if len(missing) > 0 {
		return fmt.Errorf("the environment lacks %s: the agent runs in the mesh-proxy container the injector adds, which sets them", strings.Join(missing, ", "))
	}
	if id.TrustDomain == "" {
		id.TrustDomain = vocab.DefaultTrustDomain
	}
	if id.WorkloadName == "" {
		id.WorkloadName = id.PodName
	}
	labels, err := readLabels(filepath.Join(o.PodInfoDir, "labels"))
	if err != nil {
		return err
	}
	id.Labels = labels

	probers, err := agent.ParseProbers(env(vocab.EnvAppProbers))
	if err != nil {
		return err
	}
	ports, err := agent.ParsePodPorts(env(vocab.EnvPodPorts))
	if err != nil {
		return err
	}
	scrape, err := agent.ParseScrape(env(vocab.EnvPrometheusScrape))
	if err != nil {
		return err
	}
	concurrency := 0
	if v := env(vocab.EnvConcurrency); v != "" {
		if concurrency, err = strconv.Atoi(v); err != nil || concurrency < 0 {
			return fmt.Errorf("%s=%q is not a number of worker threads", vocab.EnvConcurrency, v)
		}
	}

	rootFile, tokenFile := o.RootCertFile, o.TokenFile
	host, _, err := net.SplitHostPort(discovery)
	if err != nil {
		return fmt.Errorf("%s=%q is not host:port", vocab.EnvDiscoveryAddress, discovery)
	}
	adminURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(vocab.ProxyAdminPort))
	ca := &agent.CAClient{
		Address: discovery, ServerName: host, Identity: id.SPIFFEID(), ClusterID: id.ClusterID,
		Token: func() (string, error) {
			b, err := os.ReadFile(tokenFile)
			return strings.TrimSpace(string(b)), err
		},
		DialOptions: o.CADialOptions,
	}
	fetch := func(ctx context.Context) (*agent.Cert, error) {
		// The root is read for every request: the CA may have rotated it.
		pem, err := os.ReadFile(rootFile)
		if err != nil {
			return nil, fmt.Errorf("reading the mesh root certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", rootFile)
		}
		ca.Roots = pool
		defer ca.Close()
		return ca.Fetch(ctx)
	}
	grpcBootstrap := o.GRPCBootstrap
	if grpcBootstrap == "" {
		grpcBootstrap = env(vocab.EnvGRPCXDSBootstrap)
	}
	if grpcBootstrap == "" {
		grpcBootstrap = vocab.GRPCBootstrapPath
	}
	bootstrap := o.BootstrapPath
	o.config = agent.Config{
		Mode: o.Mode, Identity: id, DiscoveryAddress: discovery, RootCertFile: rootFile, Certificates: fetch,
		Envoy: agent.Envoy{
			Path: o.EnvoyPath, ConfigPath: bootstrap, AdminURL: adminURL, DrainDuration: o.DrainDuration,
			LogLevel: env(vocab.EnvLogLevel), ComponentLogLevel: env(vocab.EnvComponentLogLevel), Concurrency: concurrency,
			Stdout: o.IO.Out, Stderr: o.IO.ErrOut,
		},
		BootstrapPath: bootstrap, SDSSocket: filepath.Join(o.SDSDir, agent.SDSSocketName),
		AdminPort: vocab.ProxyAdminPort, PrometheusPort: vocab.PrometheusPort,
		GRPCBootstrapPath: grpcBootstrap, CertFiles: agent.CertFiles{Dir: o.CertDir},
		AgentOptions: agent.AgentOptions{AppScrape: scrape, Probers: probers, PodPorts: ports},
		OnError:      func(err error) { fmt.Fprintf(o.IO.ErrOut, "agent: %v (retrying)\n", err) },
	}
	if o.Mode != agent.ModeGRPC {
		o.config.AgentOptions.EnvoyStatsURL = adminURL + "/stats/prometheus"
	}
	return nil
}

// Run opens the ports and runs the agent; Envoy's exit status becomes the
// agent's.
func (o *Options) Run(ctx context.Context) error {
	var err error
	if o.config.HealthListener, err = o.Listen("tcp", ":"+strconv.Itoa(vocab.HealthPort)); err != nil {
		return err
	}
	if o.config.AgentListener, err = o.Listen("tcp", ":"+strconv.Itoa(vocab.AgentPort)); err != nil {
		o.config.HealthListener.Close()
		return err
	}
	err = agent.Run(ctx, o.config)
	var ee *agent.ExitError
	if errors.As(err, &ee) {
		return &cmdutil.ExitError{Code: ee.Code, Err: err, Silent: ee.Code == 0}
	}
	return err
}

// readLabels reads the downward API's labels file (key="value" lines); a
// missing file means no labels.
func readLabels(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		uv, err := strconv.Unquote(v)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a quoted label value", path, n, v)
		}
		out[k] = uv
	}
	return out, sc.Err()
}

func newCmdWait(streams *iostreams.IOStreams) *cobra.Command {
	timeout := 2 * time.Minute
	url := "http://127.0.0.1:" + strconv.Itoa(vocab.HealthPort) + "/healthz/ready"
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the proxy is ready (the postStart hook that holds the app until then)",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return Wait(cmd.Context(), url, timeout, 200*time.Millisecond)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "Give up after this long")
	cmd.Flags().StringVar(&url, "url", url, "Readiness URL of the agent")
	return cmd
}

// Wait polls url until it answers 200 or timeout passes.
func Wait(ctx context.Context, url string, timeout, every time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the proxy was not ready within %s (last: %s)", timeout, last)
		case <-time.After(every):
		}
	}
}
