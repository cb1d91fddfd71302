package proxyinit

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// These parsers read the comma lists of the traffic annotations and of
// proxy-init's flags; the injector validates annotations with them too, so a
// value it accepts is one proxy-init can program.

// ParsePorts reads "15090,15021" (spaces allowed, empty for none). With
// allowAll, "*" means every port and all is true.
func ParsePorts(s string, allowAll bool) (all bool, ports []uint16, err error) {
	s = strings.TrimSpace(s)
	if allowAll && s == "*" {
		return true, nil, nil
	}
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 {
			return false, nil, fmt.Errorf("%q is not a port (1-65535)", f)
		}
		if !containsPort(ports, uint16(n)) {
			ports = append(ports, uint16(n))
		}
	}
	return false, ports, nil
}

// ParseCIDRs reads "10.0.0.0/8,fd00::/8" (empty for none). With allowAll,
// "*" means every address and all is true. Host bits are cleared, as
// iptables does.
func ParseCIDRs(s string, allowAll bool) (all bool, prefixes []netip.Prefix, err error) {
	s = strings.TrimSpace(s)
	if allowAll && s == "*" {
		return true, nil, nil
	}
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return false, nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or fd00::/8", f)
		}
		prefixes = append(prefixes, p.Masked())
	}
	return false, prefixes, nil
}

// ParseInterfaces reads "eth1,net1" (empty for none).
func ParseInterfaces(s string) ([]string, error) {
	var out []string
	for _, f := range splitList(s) {
		// Linux interface names: at most 15 bytes, no slash, no whitespace;
		// iptables also reserves "!" and a leading "-".
		if len(f) > 15 || f == "." || f == ".." || strings.ContainsAny(f, "/!:\"' \t") || strings.HasPrefix(f, "-") {
			return nil, fmt.Errorf("%q is not a network interface name", f)
		}
		out = append(out, f)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
