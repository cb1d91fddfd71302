// Package proxy holds `meshctl proxy-status` and `meshctl proxy-config`:
// what the control plane sent each proxy, read from the server's debug
// endpoints through a port-forward to a server pod (or directly with
// --monitoring-address).
package proxy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"encoding/json"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/dashboard"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/output"
	"github.com/meshctl/meshctl/pkg/server"
	"github.com/meshctl/meshctl/pkg/vocab"
	"github.com/meshctl/meshctl/pkg/xds/generate"
)

// Options are shared by both commands.
type Options struct {
	IO                *iostreams.IOStreams
	MonitoringAddress string
	Revision          string
	Output            string

	KubeClient    func() (kubernetes.Interface, error)
	RESTConfig    func() (*rest.Config, error)
	Namespace     func() (string, bool, error)
	MeshNamespace func() string
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{
		IO:            f.IOStreams,
		KubeClient:    f.KubeClient,
		RESTConfig:    f.RESTConfig,
		Namespace:     f.Namespace,
		MeshNamespace: func() string { return f.MeshNamespace },
	}
}

func (o *Options) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.MonitoringAddress, "monitoring-address", "", "Reach the server at this monitoring address (host:port, as given to meshctl server) instead of a port-forward to a server pod")
	fl.StringVar(&o.Revision, "revision", "", "Control plane revision to ask (default: any)")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format: table (default), json or yaml")
}

func (o *Options) validate() error {
	if o.Output == "" || o.Output == "table" {
		return nil
	}
	return cmdutil.WithExitCode(cmdutil.ExitUsage, output.ValidateFormat(o.Output, output.FormatJSON, output.FormatYAML))
}

// connect returns a client of the server's debug endpoints and a function
// that closes the port-forward, if one was needed.
func (o *Options) connect(ctx context.Context) (*server.DebugClient, func(), error) {
	if o.MonitoringAddress != "" {
		return &server.DebugClient{BaseURL: "http://" + o.MonitoringAddress}, func() {}, nil
	}
	client, err := o.KubeClient()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	ns := o.MeshNamespace()
	pod, err := dashboard.FindPod(ctx, client, dashboard.ServerTarget("meshctl server", ns, "", nil, o.Revision, vocab.ServerMonitoringPort, "/"))
	if err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	ready := make(chan int, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- kube.ForwardPort(fctx, cfg, kube.PortForward{Namespace: ns, Pod: pod.Name, Addresses: []string{"127.0.0.1"}, RemotePort: vocab.ServerMonitoringPort},
			func(p int) { ready <- p })
	}()
	select {
	case p := <-ready:
		return &server.DebugClient{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", p)}, cancel, nil
	case err := <-errc:
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, fmt.Errorf("port-forward to %s/%s: %w", ns, pod.Name, err)
	}
}

// NewCmdProxyStatus builds `meshctl proxy-status`.
func NewCmdProxyStatus(f *cmdutil.Factory) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "proxy-status",
		Short: "Show whether each connected proxy has the config the control plane holds for it",
		Long: `List the proxies connected to the control plane (Envoy sidecars, gateways and
proxyless gRPC clients) with, per xDS type, whether they are SYNCED, STALE (sent
but not acknowledged, or the server holds newer), NACKED (rejected: the proxy
keeps its last accepted config; -o yaml shows the reason) or NOT SENT.`,
		Example: `  meshctl proxy-status
  meshctl proxy-status --monitoring-address 127.0.0.1:15014 -o yaml`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.runStatus(cmd.Context())
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *Options) runStatus(ctx context.Context) error {
	c, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	sz, err := c.Syncz(ctx)
	if err != nil {
		return err
	}
	if o.Output == output.FormatJSON || o.Output == output.FormatYAML {
		return output.PrintData(o.IO.Out, o.Output, sz)
	}
	headers := []string{"NAME", "KIND"}
	for _, t := range server.TypeOrder {
		headers = append(headers, t.Short)
	}
	headers = append(headers, "SERVER")
	var rows [][]string
	for _, p := range sz.Proxies {
		row := []string{proxyName(p.ID), string(p.Kind)}
		for _, t := range server.TypeOrder {
			row = append(row, p.SyncState(t.URL))
		}
		rows = append(rows, append(row, sz.Server))
	}
	return output.WriteTable(o.IO.Out, headers, rows)
}

// proxyName is "pod.namespace" from Istio's node id, or the id itself.
func proxyName(id string) string {
	parts := strings.Split(id, "~")
	if len(parts) == 4 && parts[2] != "" {
		return parts[2]
	}
	return id
}

// NewCmdProxyConfig builds `meshctl proxy-config`.
func NewCmdProxyConfig(f *cmdutil.Factory) *cobra.Command {
	o := newOptions(f)
	cmd := &cobra.Command{
		Use:   "proxy-config listeners|routes|clusters|endpoints|secret POD[.NAMESPACE]",
		Short: "Show the xDS config the control plane holds for one proxy",
		Long: `Show the listeners, routes, clusters or endpoints the control plane sends one
proxy (a pod with a sidecar, a gateway pod, or a proxyless gRPC client), as a
short table or in full (-o json|yaml). "secret" lists the SDS secrets the
config refers to (the agent in the pod serves them). The namespace is -n or
the suffix of POD.NAMESPACE.`,
		Example: `  meshctl proxy-config clusters productpage-v1-7d9b8c5f4-x2x9z.default
  meshctl proxy-config routes reviews-client -n shop -o yaml`,
		Args:      cmdutil.ExactArgs(2),
		ValidArgs: []string{"listeners", "routes", "clusters", "endpoints", "secret"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			switch args[0] {
			case "listeners", "listener", "routes", "route", "clusters", "cluster", "endpoints", "endpoint", "secret", "secrets":
			default:
				return cmdutil.UsageErrorf("unknown config type %q: one of listeners, routes, clusters, endpoints, secret", args[0])
			}
			return o.runConfig(cmd.Context(), strings.TrimSuffix(args[0], "s"), args[1])
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *Options) runConfig(ctx context.Context, what, pod string) error {
	name, ns, ok := strings.Cut(pod, ".")
	if !ok {
		var err error
		if ns, _, err = o.Namespace(); err != nil {
			return err
		}
	}
	c, done, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	sz, err := c.Syncz(ctx)
	if err != nil {
		return err
	}
	id := ""
	for _, p := range sz.Proxies {
		if proxyName(p.ID) == name+"."+ns || p.ID == pod {
			id = p.ID
			break
		}
	}
	if id == "" {
		return fmt.Errorf("no proxy %s.%s is connected to the control plane (meshctl proxy-status lists them)", name, ns)
	}
	dump, err := c.ConfigDump(ctx, id)
	if err != nil {
		return err
	}
	return printConfig(o, what, dump)
}

func printConfig(o *Options, what string, d *server.ConfigDump) error {
	var raw []rawMsg
	switch what {
	case "listener":
		raw = decode(d.Listeners, func() protoMsg { return &listener.Listener{} })
	case "route":
		raw = decode(d.Routes, func() protoMsg { return &route.RouteConfiguration{} })
	case "cluster":
		raw = decode(d.Clusters, func() protoMsg { return &cluster.Cluster{} })
	case "endpoint":
		raw = decode(d.Endpoints, func() protoMsg { return &endpoint.ClusterLoadAssignment{} })
	case "secret":
		return printSecrets(o, d)
	}
	if o.Output == output.FormatJSON || o.Output == output.FormatYAML {
		var all []any
		for _, r := range raw {
			all = append(all, r.generic)
		}
		return output.PrintData(o.IO.Out, o.Output, all)
	}
	var headers []string
	var rows [][]string
	switch what {
	case "listener":
		headers = []string{"NAME", "ADDRESS", "PORT", "TYPE"}
		for _, r := range raw {
			l := r.msg.(*listener.Listener)
			typ := "HTTP"
			if l.ApiListener != nil {
				typ = "gRPC API listener"
			}
			addr, port := "", ""
			if sa := l.GetAddress().GetSocketAddress(); sa != nil {
				addr, port = sa.Address, fmt.Sprint(sa.GetPortValue())
			}
			rows = append(rows, []string{l.Name, addr, port, typ})
		}
	case "route":
		headers = []string{"NAME", "VIRTUAL HOST", "DOMAINS", "ROUTES"}
		for _, r := range raw {
			rc := r.msg.(*route.RouteConfiguration)
			for _, vh := range rc.VirtualHosts {
				rows = append(rows, []string{rc.Name, vh.Name, strings.Join(firstN(vh.Domains, 2), ","), fmt.Sprint(len(vh.Routes))})
			}
		}
	case "cluster":
		headers = []string{"NAME", "TYPE", "LB"}
		for _, r := range raw {
			c := r.msg.(*cluster.Cluster)
			rows = append(rows, []string{c.Name, c.GetType().String(), c.LbPolicy.String()})
		}
	case "endpoint":
		headers = []string{"ENDPOINT", "CLUSTER", "WEIGHT"}
		for _, r := range raw {
			cla := r.msg.(*endpoint.ClusterLoadAssignment)
			for _, loc := range cla.Endpoints {
				for _, e := range loc.LbEndpoints {
					sa := e.GetEndpoint().GetAddress().GetSocketAddress()
					rows = append(rows, []string{fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()), cla.ClusterName, fmt.Sprint(e.GetLoadBalancingWeight().GetValue())})
				}
			}
		}
	}
	return output.WriteTable(o.IO.Out, headers, rows)
}

// printSecrets lists the SDS secret names the clusters and listeners use.
func printSecrets(o *Options, d *server.ConfigDump) error {
	names := map[string]bool{}
	for _, group := range [][][]byte{toBytes(d.Clusters), toBytes(d.Listeners)} {
		for _, b := range group {
			collectSDS(string(b), names)
		}
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	if o.Output == output.FormatJSON || o.Output == output.FormatYAML {
		return output.PrintData(o.IO.Out, o.Output, list)
	}
	var rows [][]string
	for _, n := range list {
		rows = append(rows, []string{n, generate.SDSCluster})
	}
	return output.WriteTable(o.IO.Out, []string{"SECRET", "SERVED BY"}, rows)
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string{}, s[:n]...), "…")
}

type protoMsg = proto.Message

// rawMsg is one resource, typed for tables and generic for -o json|yaml.
type rawMsg struct {
	msg     proto.Message
	generic any
}

// decode reads protojson resources; the typed configs inside Any fields
// resolve because pkg/xds/generate imports every filter type it emits.
func decode(list []json.RawMessage, newMsg func() protoMsg) []rawMsg {
	out := make([]rawMsg, 0, len(list))
	for _, b := range list {
		m := newMsg()
		if err := protojson.Unmarshal(b, m); err != nil {
			continue
		}
		var g any
		_ = json.Unmarshal(b, &g)
		out = append(out, rawMsg{msg: m, generic: g})
	}
	return out
}

func toBytes(list []json.RawMessage) [][]byte {
	out := make([][]byte, len(list))
	for i, b := range list {
		out[i] = b
	}
	return out
}

// collectSDS finds every {"name": ..., "sdsConfig": ...} in a resource.
func collectSDS(js string, names map[string]bool) {
	var v any
	if json.Unmarshal([]byte(js), &v) != nil {
		return
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["sdsConfig"]; ok {
				if n, ok := x["name"].(string); ok {
					names[n] = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
}
