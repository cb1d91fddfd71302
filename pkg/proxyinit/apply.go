package proxyinit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// ErrPermission is returned when the kernel refuses to change the rules:
// proxy-init runs as root with NET_ADMIN and NET_RAW.
var ErrPermission = errors.New("programming iptables needs root with the NET_ADMIN and NET_RAW capabilities (the mesh-init container has them)")

// ErrNoTools is returned when no usable iptables is installed.
var ErrNoTools = errors.New("no iptables-restore found in PATH: install iptables (Debian: apt-get install iptables) or run the meshctl image, which has it")

// Runner runs a program with stdin and returns its standard output; a
// failure carries the standard error. Exec is the real one.
type Runner func(ctx context.Context, path string, args []string, stdin string) (string, error)

// Exec runs the program for real.
func Exec(ctx context.Context, path string, args []string, stdin string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = err.Error()
		}
		return out.String(), &ToolError{Path: path, Args: args, Msg: msg}
	}
	return out.String(), nil
}

// ToolError is a failed iptables run with what it printed.
type ToolError struct {
	Path string
	Args []string
	Msg  string
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Path, strings.Join(e.Args, " "), e.Msg)
}

// Is makes a refusal by the kernel match ErrPermission.
func (e *ToolError) Is(target error) bool {
	if target != ErrPermission {
		return false
	}
	m := strings.ToLower(e.Msg)
	return strings.Contains(m, "permission denied") || strings.Contains(m, "operation not permitted") || strings.Contains(m, "must be root")
}

// Backend is one iptables implementation: its save and restore programs for
// IPv4 and IPv6. IPv6 paths are empty when ip6tables is unusable.
type Backend struct {
	// Name is "nft" or "legacy"; "" when the unsuffixed programs are used.
	Name                   string
	Save4, Restore4        string
	Save6, Restore6        string
	ipv6UnavailableMessage string
}

// IPv6 reports whether IPv6 rules can be programmed, and if not, why.
func (b Backend) IPv6() (bool, string) { return b.Restore6 != "", b.ipv6UnavailableMessage }

// Detector finds the iptables backend the kernel supports.
type Detector struct {
	Run Runner
	// LookPath finds a program; exec.LookPath when nil.
	LookPath func(string) (string, error)
	// LegacyNat reports whether the legacy nat table exists in this network
	// namespace; LegacyNatExists when nil.
	LegacyNat func() bool
	// IPv6Disabled reports whether the kernel has IPv6 turned off, in which
	// case missing ip6tables support is not an error.
	IPv6Disabled func() bool
}

// Detect chooses the backend by asking the kernel, not by guessing: a
// backend is usable when its save program can read the nat table. nft is
// preferred; legacy is used when nft is unusable, or when only legacy
// already holds rules (two sets of rules in one network namespace apply in
// an order nobody intended).
func (d Detector) Detect(ctx context.Context) (Backend, error) {
	look := d.LookPath
	if look == nil {
		look = exec.LookPath
	}
	legacyNat := d.LegacyNat
	if legacyNat == nil {
		legacyNat = LegacyNatExists
	}
	var firstErr error
	probe := func(suffix string) (Backend, int, bool) {
		save, err1 := look("iptables" + suffix + "-save")
		restore, err2 := look("iptables" + suffix + "-restore")
		if err1 != nil || err2 != nil {
			return Backend{}, 0, false
		}
		out, err := d.Run(ctx, save, []string{"-t", "nat"}, "")
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return Backend{}, 0, false
		}
		return Backend{Name: strings.TrimPrefix(suffix, "-"), Save4: save, Restore4: restore}, countRules(out), true
	}
	nft, nftRules, nftOK := probe("-nft")
	var b Backend
	switch {
	case nftOK && (nftRules > 0 || !legacyNat()):
		// Reading the legacy table would create it; it is only read when
		// the kernel says it exists.
		b = nft
	default:
		legacy, legacyRules, legacyOK := probe("-legacy")
		switch {
		case legacyOK && (!nftOK || legacyRules > 0):
			b = legacy
		case nftOK:
			b = nft
		default:
			plain, _, ok := probe("")
			if !ok {
				if firstErr != nil {
					if errors.Is(firstErr, ErrPermission) {
						return Backend{}, fmt.Errorf("%w: %v", ErrPermission, firstErr)
					}
					return Backend{}, fmt.Errorf("neither the nft nor the legacy iptables backend can read the nat table: %w", firstErr)
				}
				return Backend{}, ErrNoTools
			}
			b = plain
		}
	}
	suffix := ""
	if b.Name != "" {
		suffix = "-" + b.Name
	}
	save6, err1 := look("ip6tables" + suffix + "-save")
	restore6, err2 := look("ip6tables" + suffix + "-restore")
	switch {
	case d.IPv6Disabled != nil && d.IPv6Disabled():
		b.ipv6UnavailableMessage = "IPv6 is disabled in the kernel"
	case err1 != nil || err2 != nil:
		return Backend{}, fmt.Errorf("ip6tables%s-restore not found next to iptables%s-restore: install the complete iptables package", suffix, suffix)
	default:
		if _, err := d.Run(ctx, save6, []string{"-t", "nat"}, ""); err != nil {
			if errors.Is(err, ErrPermission) {
				return Backend{}, fmt.Errorf("%w: %v", ErrPermission, err)
			}
			return Backend{}, fmt.Errorf("IPv6 is enabled but its nat table cannot be read: %w", err)
		}
		b.Save6, b.Restore6 = save6, restore6
	}
	return b, nil
}

// LegacyNatExists reports whether the legacy (x_tables) nat table exists in
// this network namespace.
func LegacyNatExists() bool {
	b, err := os.ReadFile("/proc/net/ip_tables_names")
	if err != nil {
		return false
	}
	for _, l := range strings.Fields(string(b)) {
		if l == "nat" {
			return true
		}
	}
	return false
}

// countRules counts the rules in iptables-save output.
func countRules(save string) int {
	n := 0
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "-A ") {
			n++
		}
	}
	return n
}

// Applied says what Apply programmed.
type Applied struct {
	IPv4Rules, IPv6Rules int
	// IPv6Skipped is why no IPv6 rules were programmed, if they were not.
	IPv6Skipped string
}

// Apply programs rules with b, each family in one atomic iptables-restore.
// Running it again with the same rules leaves the same rules: the own chains
// are re-filled and the jumps into them added only when missing.
func Apply(ctx context.Context, run Runner, b Backend, rules Rules) (Applied, error) {
	var a Applied
	apply := func(save, restore string, t Table) error {
		cur, err := run(ctx, save, []string{"-t", "nat"}, "")
		if err != nil {
			return classify(err)
		}
		present := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(cur))
		for sc.Scan() {
			present[strings.TrimSpace(sc.Text())] = true
		}
		input := t.Restore(func(r Rule) bool { return present[r.String()] })
		if _, err := run(ctx, restore, []string{"--noflush", "-w"}, input); err != nil {
			return classify(err)
		}
		return nil
	}
	if err := apply(b.Save4, b.Restore4, rules.IPv4); err != nil {
		return a, err
	}
	a.IPv4Rules = len(rules.IPv4.Rules) + len(rules.IPv4.Jumps)
	if ok, why := b.IPv6(); !ok {
		a.IPv6Skipped = why
		return a, nil
	}
	if err := apply(b.Save6, b.Restore6, rules.IPv6); err != nil {
		return a, err
	}
	a.IPv6Rules = len(rules.IPv6.Rules) + len(rules.IPv6.Jumps)
	return a, nil
}

func classify(err error) error {
	if errors.Is(err, ErrPermission) {
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

// HasNetAdmin reports whether this process has CAP_NET_ADMIN in its
// effective set, from /proc/self/status. iptables fails without it with
// messages that do not say so.
func HasNetAdmin() (bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, err
	}
	return netAdminIn(string(b))
}

func netAdminIn(status string) (bool, error) {
	const capNetAdmin = 12
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false, fmt.Errorf("reading CapEff %q: %v", strings.TrimSpace(v), err)
			}
			return caps&(1<<capNetAdmin) != 0, nil
		}
	}
	return false, errors.New("no CapEff line in /proc/self/status")
}

// IPv6Disabled reports whether the kernel runs without IPv6.
func IPv6Disabled() bool {
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		return true
	}
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
