// Package proxyinit programs a pod's traffic redirection into the proxy:
// outbound TCP to the proxy's outbound port, inbound TCP to its inbound
// capture port, the proxy's own traffic never. The rules are built as data
// (Build, a pure function) and applied atomically with iptables-restore
// (Apply), so they can be printed, compared and tested without a kernel.
package proxyinit

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The chains proxy-init owns in the nat table. They are flushed and
// re-filled on every run, which is what makes a second run change nothing;
// the built-in chains only ever get one jump into each.
const (
	ChainInbound    = "MESH_INBOUND"     // entered from PREROUTING
	ChainInRedirect = "MESH_IN_REDIRECT" // REDIRECT to the inbound capture port
	ChainOutput     = "MESH_OUTPUT"      // entered from OUTPUT
	ChainRedirect   = "MESH_REDIRECT"    // REDIRECT to the outbound port
)

// Config is the redirection of one pod, already parsed.
type Config struct {
	// ProxyPort receives every redirected outbound connection.
	ProxyPort uint16
	// InboundCapturePort receives every redirected inbound connection.
	InboundCapturePort uint16
	// Connections of ProxyUID or ProxyGID are never redirected: the proxy
	// must reach the real destination instead of looping into itself.
	ProxyUID uint32
	ProxyGID uint32

	// Outbound connections to IncludeOutbound (every address when
	// OutboundAll) are redirected, except those to ExcludeOutbound or to
	// ExcludeOutboundPorts.
	OutboundAll          bool
	IncludeOutbound      []netip.Prefix
	ExcludeOutbound      []netip.Prefix
	ExcludeOutboundPorts []uint16

	// Inbound connections to IncludeInboundPorts (every port when
	// InboundAll) are redirected, except those to ExcludeInboundPorts.
	InboundAll          bool
	IncludeInboundPorts []uint16
	ExcludeInboundPorts []uint16

	// Traffic through ExcludeInterfaces is never redirected. Traffic
	// arriving on KubevirtInterfaces (a VM's bridge) is the VM's outbound
	// traffic and goes to the outbound port.
	ExcludeInterfaces  []string
	KubevirtInterfaces []string
}

// Rule is one iptables rule: "-A Chain Args...", spelled as iptables-save
// prints it, so that applied rules can be compared with built ones.
type Rule struct {
	Chain string
	Args  []string
}

func (r Rule) String() string { return "-A " + r.Chain + " " + strings.Join(r.Args, " ") }

// Table is what one address family gets in the nat table.
type Table struct {
	// Chains are proxy-init's own chains, declared (and so flushed) on every
	// apply.
	Chains []string
	// Jumps lead from the built-in chains into Chains; each is added only
	// when missing.
	Jumps []Rule
	// Rules fill Chains, in order.
	Rules []Rule
}

// Rules are the complete redirection of a pod.
type Rules struct {
	IPv4 Table
	IPv6 Table
}

// Build turns a Config into rules. It does no I/O.
func Build(c Config) (Rules, error) {
	if c.ProxyPort == 0 || c.InboundCapturePort == 0 {
		return Rules{}, fmt.Errorf("the proxy port and the inbound capture port must be set (got %d and %d)", c.ProxyPort, c.InboundCapturePort)
	}
	return Rules{IPv4: build(c, false), IPv6: build(c, true)}, nil
}

func build(c Config, v6 bool) Table {
	t := Table{
		Chains: []string{ChainInbound, ChainInRedirect, ChainOutput, ChainRedirect},
		Jumps: []Rule{
			{"PREROUTING", []string{"-p", "tcp", "-j", ChainInbound}},
			{"OUTPUT", []string{"-p", "tcp", "-j", ChainOutput}},
		},
	}
	add := func(chain string, args ...string) { t.Rules = append(t.Rules, Rule{chain, args}) }
	family := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			if p.Addr().Is6() == v6 {
				out = append(out, p.String())
			}
		}
		return out
	}
	port := func(p uint16) string { return strconv.Itoa(int(p)) }

	// Inbound, from PREROUTING.
	for _, i := range c.ExcludeInterfaces {
		add(ChainInbound, "-i", i, "-j", "RETURN")
	}
	for _, i := range c.KubevirtInterfaces {
		if c.OutboundAll {
			add(ChainInbound, "-i", i, "-j", ChainRedirect)
			continue
		}
		for _, d := range family(c.IncludeOutbound) {
			add(ChainInbound, "-d", d, "-i", i, "-j", ChainRedirect)
		}
	}
	if c.InboundAll {
		for _, p := range c.ExcludeInboundPorts {
			add(ChainInbound, "-p", "tcp", "-m", "tcp", "--dport", port(p), "-j", "RETURN")
		}
		add(ChainInbound, "-p", "tcp", "-j", ChainInRedirect)
	} else {
		for _, p := range c.IncludeInboundPorts {
			if !containsPort(c.ExcludeInboundPorts, p) {
				add(ChainInbound, "-p", "tcp", "-m", "tcp", "--dport", port(p), "-j", ChainInRedirect)
			}
		}
	}
	add(ChainInRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port(c.InboundCapturePort))

	// Outbound, from OUTPUT.
	for _, i := range c.ExcludeInterfaces {
		add(ChainOutput, "-o", i, "-j", "RETURN")
	}
	for _, p := range c.ExcludeOutboundPorts {
		add(ChainOutput, "-p", "tcp", "-m", "tcp", "--dport", port(p), "-j", "RETURN")
	}
	add(ChainOutput, "-m", "owner", "--uid-owner", strconv.FormatUint(uint64(c.ProxyUID), 10), "-j", "RETURN")
	add(ChainOutput, "-m", "owner", "--gid-owner", strconv.FormatUint(uint64(c.ProxyGID), 10), "-j", "RETURN")
	// The app talking to itself over localhost stays direct; redirecting it
	// would send it through the proxy to the same place.
	localhost := "127.0.0.1/32"
	if v6 {
		localhost = "::1/128"
	}
	add(ChainOutput, "-d", localhost, "-j", "RETURN")
	for _, d := range family(c.ExcludeOutbound) {
		add(ChainOutput, "-d", d, "-j", "RETURN")
	}
	if c.OutboundAll {
		add(ChainOutput, "-j", ChainRedirect)
	} else {
		for _, d := range family(c.IncludeOutbound) {
			add(ChainOutput, "-d", d, "-j", ChainRedirect)
		}
	}
	add(ChainRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port(c.ProxyPort))
	return t
}

func containsPort(ps []uint16, p uint16) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Restore is the iptables-restore input (for use with --noflush) that
// programs t. Jumps for which present reports true are left out, so that
// applying twice does not add them twice; present may be nil.
func (t Table) Restore(present func(Rule) bool) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, c := range t.Chains {
		// Declaring a chain with --noflush empties it (or creates it).
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, j := range t.Jumps {
		if present == nil || !present(j) {
			b.WriteString(j.String() + "\n")
		}
	}
	for _, r := range t.Rules {
		b.WriteString(r.String() + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// String is the complete restore input of both families, as --dry-run
// prints it.
func (r Rules) String() string {
	return "# IPv4: iptables-restore --noflush\n" + r.IPv4.Restore(nil) +
		"# IPv6: ip6tables-restore --noflush\n" + r.IPv6.Restore(nil)
}
