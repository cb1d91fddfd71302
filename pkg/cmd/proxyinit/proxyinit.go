// Package proxyinit is `meshctl proxy-init`, the command of the injected
// mesh-init container: it programs the pod's traffic redirection.
package proxyinit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/proxyinit"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// Options are the inputs of `meshctl proxy-init`. The flags are those
// inject.Redirect.Args writes into the mesh-init container.
type Options struct {
	IO *iostreams.IOStreams

	ProxyPort               int
	InboundCapturePort      int
	ProxyUID                int
	ProxyGID                int
	Mode                    string
	IncludeOutboundIPRanges string
	ExcludeOutboundIPRanges string
	IncludeInboundPorts     string
	ExcludeInboundPorts     string
	ExcludeOutboundPorts    string
	ExcludeInterfaces       string
	KubevirtInterfaces      string
	DryRun                  bool

	// Run runs iptables; proxyinit.Exec unless a test replaces it.
	Run proxyinit.Runner
	// HasNetAdmin and IPv6Disabled ask the kernel; tests replace them.
	HasNetAdmin  func() (bool, error)
	IPv6Disabled func() bool

	config proxyinit.Config
}

// NewCmdProxyInit builds `meshctl proxy-init`.
func NewCmdProxyInit(f *cmdutil.Factory) *cobra.Command {
	return newCmdProxyInit(newOptions(f.IOStreams))
}

func newOptions(streams *iostreams.IOStreams) *Options {
	return &Options{
		IO:                      streams,
		ProxyPort:               vocab.OutboundPort,
		InboundCapturePort:      vocab.InboundPort,
		ProxyUID:                vocab.ProxyUID,
		ProxyGID:                vocab.ProxyGID,
		Mode:                    vocab.InterceptionModeRedirect,
		IncludeOutboundIPRanges: "*",
		IncludeInboundPorts:     "*",
		ExcludeInboundPorts:     inject.DefaultExcludeInboundPorts,
		Run:                     proxyinit.Exec,
		HasNetAdmin:             proxyinit.HasNetAdmin,
		IPv6Disabled:            proxyinit.IPv6Disabled,
	}
}

func newCmdProxyInit(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy-init",
		Short: "Program a pod's traffic redirection into the proxy (the mesh-init container)",
		Long: `Program the iptables rules that send a pod's TCP traffic through its proxy, for
IPv4 and IPv6: outbound connections go to --proxy-port (15001), inbound ones to
--inbound-capture-port (15006). Connections of the proxy's own uid and gid
(1337) are never redirected, nor connections to localhost, nor inbound
connections to the proxy's metrics, health and agent ports (15090, 15021,
15020, always excluded whatever --exclude-inbound-ports says).

The rules live in meshctl's own nat chains (MESH_INBOUND, MESH_IN_REDIRECT,
MESH_OUTPUT, MESH_REDIRECT), entered once from PREROUTING and OUTPUT; each run
empties and re-fills them in one iptables-restore per address family, so
running it again changes nothing. The nft backend is used where the kernel
supports it, legacy iptables otherwise.

The injector runs it in the mesh-init init container as root with NET_ADMIN
and NET_RAW; --dry-run prints the rules without touching anything.

Exit status: 0 when the rules are programmed; 1 when iptables is missing, the
process lacks NET_ADMIN or iptables fails; 64 for a wrong command line.`,
		Example: `  # Print the rules for the default redirection
  meshctl proxy-init --dry-run

  # Redirect only traffic to the cluster's service range, inbound only port 9080
  meshctl proxy-init --include-outbound-ip-ranges=10.96.0.0/12 --include-inbound-ports=9080`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.RunCmd(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.ProxyPort, inject.FlagProxyPort, o.ProxyPort, "Port every redirected outbound connection goes to")
	fl.IntVar(&o.InboundCapturePort, inject.FlagInboundCapturePort, o.InboundCapturePort, "Port every redirected inbound connection goes to")
	fl.IntVar(&o.ProxyUID, inject.FlagProxyUID, o.ProxyUID, "uid of the proxy, whose connections are never redirected")
	fl.IntVar(&o.ProxyGID, inject.FlagProxyGID, o.ProxyGID, "gid of the proxy, whose connections are never redirected")
	fl.StringVar(&o.Mode, inject.FlagInterceptionMode, o.Mode, "Interception mode; only REDIRECT is supported")
	fl.StringVar(&o.IncludeOutboundIPRanges, inject.FlagIncludeOutboundIPRanges, o.IncludeOutboundIPRanges, "Comma list of CIDRs whose outbound traffic is redirected; * for all, empty for none")
	fl.StringVar(&o.ExcludeOutboundIPRanges, inject.FlagExcludeOutboundIPRanges, o.ExcludeOutboundIPRanges, "Comma list of CIDRs never redirected outbound")
	fl.StringVar(&o.IncludeInboundPorts, inject.FlagIncludeInboundPorts, o.IncludeInboundPorts, "Comma list of ports whose inbound traffic is redirected; * for all, empty for none")
	fl.StringVar(&o.ExcludeInboundPorts, inject.FlagExcludeInboundPorts, o.ExcludeInboundPorts, "Comma list of ports never redirected inbound (the proxy's own ports are always added)")
	fl.StringVar(&o.ExcludeOutboundPorts, inject.FlagExcludeOutboundPorts, o.ExcludeOutboundPorts, "Comma list of ports never redirected outbound")
	fl.StringVar(&o.ExcludeInterfaces, inject.FlagExcludeInterfaces, o.ExcludeInterfaces, "Comma list of network interfaces whose traffic is never redirected")
	fl.StringVar(&o.KubevirtInterfaces, inject.FlagKubevirtInterfaces, o.KubevirtInterfaces, "Comma list of interfaces (a VM's bridge) whose incoming traffic is redirected as outbound")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Print the iptables-restore input for IPv4 and IPv6 and change nothing")
	return cmd
}

// Complete parses the lists into the redirection config.
func (o *Options) Complete() error {
	var errs []string
	port := func(flag string, v int) uint16 {
		if v < 1 || v > 65535 {
			errs = append(errs, fmt.Sprintf("--%s=%d: not a port (1-65535)", flag, v))
			return 0
		}
		return uint16(v)
	}
	id := func(flag string, v int) uint32 {
		if v < 0 || int64(v) > math.MaxUint32 {
			errs = append(errs, fmt.Sprintf("--%s=%d: not a uid/gid", flag, v))
			return 0
		}
		return uint32(v)
	}
	c := proxyinit.Config{
		ProxyPort:          port(inject.FlagProxyPort, o.ProxyPort),
		InboundCapturePort: port(inject.FlagInboundCapturePort, o.InboundCapturePort),
		ProxyUID:           id(inject.FlagProxyUID, o.ProxyUID),
		ProxyGID:           id(inject.FlagProxyGID, o.ProxyGID),
	}
	wrap := func(flag, value string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s=%s: %v", flag, value, err))
		}
	}
	var err error
	c.OutboundAll, c.IncludeOutbound, err = proxyinit.ParseCIDRs(o.IncludeOutboundIPRanges, true)
	wrap(inject.FlagIncludeOutboundIPRanges, o.IncludeOutboundIPRanges, err)
	_, c.ExcludeOutbound, err = proxyinit.ParseCIDRs(o.ExcludeOutboundIPRanges, false)
	wrap(inject.FlagExcludeOutboundIPRanges, o.ExcludeOutboundIPRanges, err)
	c.InboundAll, c.IncludeInboundPorts, err = proxyinit.ParsePorts(o.IncludeInboundPorts, true)
	wrap(inject.FlagIncludeInboundPorts, o.IncludeInboundPorts, err)
	// The proxy's own ports must reach it directly, or health checks and
	// metrics scrapes would loop through the proxy.
	_, c.ExcludeInboundPorts, err = proxyinit.ParsePorts(inject.DefaultExcludeInboundPorts+","+o.ExcludeInboundPorts, false)
	wrap(inject.FlagExcludeInboundPorts, o.ExcludeInboundPorts, err)
	_, c.ExcludeOutboundPorts, err = proxyinit.ParsePorts(o.ExcludeOutboundPorts, false)
	wrap(inject.FlagExcludeOutboundPorts, o.ExcludeOutboundPorts, err)
	c.ExcludeInterfaces, err = proxyinit.ParseInterfaces(o.ExcludeInterfaces)
	wrap(inject.FlagExcludeInterfaces, o.ExcludeInterfaces, err)
	c.KubevirtInterfaces, err = proxyinit.ParseInterfaces(o.KubevirtInterfaces)
	wrap(inject.FlagKubevirtInterfaces, o.KubevirtInterfaces, err)
	if len(errs) > 0 {
		return cmdutil.UsageErrorf("%s", strings.Join(errs, "; "))
	}
	o.config = c
	return nil
}

// Validate rejects what proxy-init cannot program.
func (o *Options) Validate() error {
	if !strings.EqualFold(o.Mode, vocab.InterceptionModeRedirect) {
		return cmdutil.UsageErrorf("--%s=%s: only %s is supported", inject.FlagInterceptionMode, o.Mode, vocab.InterceptionModeRedirect)
	}
	if o.ProxyPort == o.InboundCapturePort {
		return cmdutil.UsageErrorf("--%s and --%s are both %d: outbound and inbound connections need different ports", inject.FlagProxyPort, inject.FlagInboundCapturePort, o.ProxyPort)
	}
	return nil
}

// RunCmd programs the rules, or prints them with --dry-run.
func (o *Options) RunCmd(ctx context.Context) error {
	rules, err := proxyinit.Build(o.config)
	if err != nil {
		return err
	}
	if o.DryRun {
		_, err := fmt.Fprint(o.IO.Out, rules.String())
		return err
	}
	// Checked first: without NET_ADMIN, iptables reports it as anything from
	// "Permission denied" to a missing table.
	if ok, err := o.HasNetAdmin(); err == nil && !ok {
		return proxyinit.ErrPermission
	}
	b, err := proxyinit.Detector{Run: o.Run, IPv6Disabled: o.IPv6Disabled}.Detect(ctx)
	if err != nil {
		return err
	}
	applied, err := proxyinit.Apply(ctx, o.Run, b, rules)
	if err != nil {
		if errors.Is(err, proxyinit.ErrPermission) {
			return err
		}
		return fmt.Errorf("programming the redirection failed, nothing of that address family was changed: %w", err)
	}
	backend := b.Name
	if backend == "" {
		backend = "default"
	}
	fmt.Fprintf(o.IO.Out, "✔ iptables (%s backend): %d IPv4 rules", backend, applied.IPv4Rules)
	if applied.IPv6Skipped != "" {
		fmt.Fprintf(o.IO.Out, "; no IPv6 rules: %s\n", applied.IPv6Skipped)
	} else {
		fmt.Fprintf(o.IO.Out, ", %d IPv6 rules\n", applied.IPv6Rules)
	}
	fmt.Fprintf(o.IO.Out, "  outbound TCP → %s, inbound TCP → %s, uid %s and gid %s bypass\n",
		strconv.Itoa(o.ProxyPort), strconv.Itoa(o.InboundCapturePort), strconv.Itoa(o.ProxyUID), strconv.Itoa(o.ProxyGID))
	return nil
}
