package proxyinit

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func mustConfig(t *testing.T, includeOut, excludeOut, includeIn, excludeIn, excludeOutPorts, excludeIfs, kubevirtIfs string) Config {
	t.Helper()
	c := Config{ProxyPort: 15001, InboundCapturePort: 15006, ProxyUID: 1337, ProxyGID: 1337}
	var err error
	if c.OutboundAll, c.IncludeOutbound, err = ParseCIDRs(includeOut, true); err != nil {
		t.Fatal(err)
	}
	if _, c.ExcludeOutbound, err = ParseCIDRs(excludeOut, false); err != nil {
		t.Fatal(err)
	}
	if c.InboundAll, c.IncludeInboundPorts, err = ParsePorts(includeIn, true); err != nil {
		t.Fatal(err)
	}
	if _, c.ExcludeInboundPorts, err = ParsePorts(excludeIn, false); err != nil {
		t.Fatal(err)
	}
	if _, c.ExcludeOutboundPorts, err = ParsePorts(excludeOutPorts, false); err != nil {
		t.Fatal(err)
	}
	if c.ExcludeInterfaces, err = ParseInterfaces(excludeIfs); err != nil {
		t.Fatal(err)
	}
	if c.KubevirtInterfaces, err = ParseInterfaces(kubevirtIfs); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range []struct {
		name                                                         string
		inclOut, exclOut, inclIn, exclIn, exclOutPorts, exclIf, kvIf string
	}{
		// What kube-inject writes for a pod without traffic annotations.
		{name: "default", inclOut: "*", inclIn: "*", exclIn: "15090,15021,15020"},
		// Only the service range and one pod port, both families mixed.
		{name: "narrowed", inclOut: "10.96.0.0/12, fd00:10:96::/112", exclOut: "10.96.0.10/32,169.254.169.254/32",
			inclIn: "9080,15020,8080", exclIn: "15090,15021,15020", exclOutPorts: "53,443"},
		// Nothing captured at all: only the chains and jumps remain.
		{name: "none", inclOut: "", inclIn: "", exclIn: "15090,15021,15020"},
		{name: "interfaces", inclOut: "*", inclIn: "*", exclIn: "15090,15021,15020", exclIf: "eth1,net1", kvIf: "k6t-eth0"},
		{name: "kubevirt-narrowed", inclOut: "10.0.0.0/8", inclIn: "*", exclIn: "15090,15021,15020", kvIf: "k6t-eth0,tap0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Build(mustConfig(t, tc.inclOut, tc.exclOut, tc.inclIn, tc.exclIn, tc.exclOutPorts, tc.exclIf, tc.kvIf))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tc.name+".rules"), r.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/proxyinit -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./pkg/proxyinit -update rewrites it); got:\n%s", path, got)
	}
}

// The properties the goldens are reviewed for, checked on every config so
// that a regenerated golden cannot quietly lose them.
func TestBuildInvariants(t *testing.T) {
	r, err := Build(mustConfig(t, "10.0.0.0/8,fd00::/8", "10.1.0.0/16", "9080", "15090,15021,15020", "", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	for name, tb := range map[string]Table{"IPv4": r.IPv4, "IPv6": r.IPv6} {
		var out []string
		for _, rule := range tb.Rules {
			if rule.Chain == ChainOutput {
				out = append(out, strings.Join(rule.Args, " "))
			}
		}
		// The proxy's uid and gid leave before anything can redirect them.
		if !strings.HasPrefix(out[0], "-m owner --uid-owner 1337 -j RETURN") || out[1] != "-m owner --gid-owner 1337 -j RETURN" {
			t.Errorf("%s: the owner RETURNs do not come first in %s: %q", name, ChainOutput, out)
		}
		if got := tb.Restore(nil); strings.Count(got, "-j "+ChainOutput) != 1 || strings.Count(got, "-j "+ChainInbound) != 1 {
			t.Errorf("%s: want exactly one jump into each entry chain:\n%s", name, got)
		}
	}
	if s := r.IPv4.Restore(nil); strings.Contains(s, "fd00::/8") || !strings.Contains(s, "-d 10.0.0.0/8 -j MESH_REDIRECT") || !strings.Contains(s, "-d 10.1.0.0/16 -j RETURN") {
		t.Errorf("IPv4 rules mix families or miss a range:\n%s", s)
	}
	if s := r.IPv6.Restore(nil); strings.Contains(s, "10.0.0.0/8") || !strings.Contains(s, "-d fd00::/8 -j MESH_REDIRECT") {
		t.Errorf("IPv6 rules mix families or miss a range:\n%s", s)
	}
	// An included port that is also excluded is not captured.
	r, _ = Build(mustConfig(t, "*", "", "9080,15020", "15090,15021,15020", "", "", ""))
	if s := r.IPv4.Restore(nil); strings.Contains(s, "--dport 15020 -j MESH_IN_REDIRECT") || !strings.Contains(s, "--dport 9080 -j MESH_IN_REDIRECT") {
		t.Errorf("excluded inbound port captured:\n%s", s)
	}
}

func TestRestoreLeavesOutPresentJumps(t *testing.T) {
	r, _ := Build(mustConfig(t, "*", "", "*", "", "", "", ""))
	s := r.IPv4.Restore(func(j Rule) bool { return j.Chain == "OUTPUT" })
	if strings.Contains(s, "-A OUTPUT ") || !strings.Contains(s, "-A PREROUTING -p tcp -j MESH_INBOUND") {
		t.Errorf("present jump written again or missing jump left out:\n%s", s)
	}
	if !strings.Contains(s, ":MESH_OUTPUT - [0:0]") {
		t.Errorf("own chains must always be declared (that is what empties them):\n%s", s)
	}
}

func TestBuildRejectsMissingPorts(t *testing.T) {
	if _, err := Build(Config{ProxyPort: 15001}); err == nil {
		t.Fatal("no error for a zero inbound capture port")
	}
}

func TestParseBadInput(t *testing.T) {
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"ports *", func() error { _, _, err := ParsePorts("*", false); return err }()},
		{"port 0", func() error { _, _, err := ParsePorts("80,0", true); return err }()},
		{"port 65536", func() error { _, _, err := ParsePorts("65536", true); return err }()},
		{"port x", func() error { _, _, err := ParsePorts("http", true); return err }()},
		{"cidr *", func() error { _, _, err := ParseCIDRs("*", false); return err }()},
		{"cidr bad", func() error { _, _, err := ParseCIDRs("10.0.0.0/33", true); return err }()},
		{"cidr no mask", func() error { _, _, err := ParseCIDRs("10.0.0.1", true); return err }()},
		{"iface slash", func() error { _, err := ParseInterfaces("eth0/1"); return err }()},
		{"iface long", func() error { _, err := ParseInterfaces("averyveryverylongname"); return err }()},
		{"iface negation", func() error { _, err := ParseInterfaces("!eth0"); return err }()},
	} {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.what)
		} else if !strings.Contains(tc.err.Error(), "is not a") {
			t.Errorf("%s: error does not say what is expected: %v", tc.what, tc.err)
		}
	}
	all, ports, err := ParsePorts(" 80, 80 ,443,", true)
	if err != nil || all || len(ports) != 2 {
		t.Errorf("ParsePorts: %v %v %v", all, ports, err)
	}
	_, cidrs, err := ParseCIDRs("10.1.2.3/8", false)
	if err != nil || cidrs[0].String() != "10.0.0.0/8" {
		t.Errorf("host bits not cleared: %v %v", cidrs, err)
	}
}

func TestNetAdminIn(t *testing.T) {
	for status, want := range map[string]bool{
		"Name:\tx\nCapEff:\t000001ffffffffff\n": true,
		"CapEff:\t0000000000000000\n":           false,
		"CapEff:\t0000000000001000\n":           true, // bit 12 alone
		"CapEff:\t0000000000000fff\n":           false,
	} {
		got, err := netAdminIn(status)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", status, got, err, want)
		}
	}
	if _, err := netAdminIn("Name:\tx\n"); err == nil {
		t.Error("no error without a CapEff line")
	}
}

// fakeIptables answers like iptables-save would for the backends in ok; a
// backend not in ok fails as the kernel makes it fail.
type fakeIptables struct {
	ok       map[string]string // program -> save output
	failWith string
	restored map[string]string
}

func (f *fakeIptables) run(_ context.Context, path string, args []string, stdin string) (string, error) {
	if strings.HasSuffix(path, "-restore") {
		if f.restored == nil {
			f.restored = map[string]string{}
		}
		f.restored[path] += stdin
		return "", nil
	}
	if out, ok := f.ok[path]; ok {
		return out, nil
	}
	return "", &ToolError{Path: path, Args: args, Msg: f.failWith}
}

func (f *fakeIptables) look(name string) (string, error) {
	for p := range f.ok {
		if strings.TrimSuffix(p, "-save") == strings.TrimSuffix(strings.TrimSuffix(name, "-save"), "-restore") {
			return name, nil
		}
	}
	if f.failWith != "" && !strings.Contains(name, "ip6") {
		return name, nil // installed, but the kernel refuses
	}
	return "", errors.New("not found")
}

const emptyNat = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"

func TestDetect(t *testing.T) {
	withRule := "*nat\n-A OUTPUT -p udp -j RETURN\nCOMMIT\n"
	for _, tc := range []struct {
		name      string
		ok        map[string]string
		legacyNat bool
		failWith  string
		want      string
		wantErr   error
	}{
		{name: "nft works", ok: map[string]string{"iptables-nft-save": emptyNat, "iptables-legacy-save": emptyNat, "ip6tables-nft-save": emptyNat}, want: "nft"},
		{name: "only legacy works", ok: map[string]string{"iptables-legacy-save": emptyNat, "ip6tables-legacy-save": emptyNat}, failWith: "Could not fetch rule set generation id", want: "legacy"},
		{name: "legacy already holds rules", ok: map[string]string{"iptables-nft-save": emptyNat, "iptables-legacy-save": withRule, "ip6tables-legacy-save": emptyNat}, legacyNat: true, want: "legacy"},
		{name: "legacy table exists but empty", ok: map[string]string{"iptables-nft-save": emptyNat, "iptables-legacy-save": emptyNat, "ip6tables-nft-save": emptyNat}, legacyNat: true, want: "nft"},
		{name: "nothing installed", ok: map[string]string{}, wantErr: ErrNoTools},
		{name: "no NET_ADMIN", ok: map[string]string{}, failWith: "iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)", wantErr: ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeIptables{ok: tc.ok, failWith: tc.failWith}
			b, err := Detector{Run: f.run, LookPath: f.look, LegacyNat: func() bool { return tc.legacyNat }, IPv6Disabled: func() bool { return false }}.Detect(context.Background())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || b.Name != tc.want {
				t.Fatalf("got %q, %v; want %q", b.Name, err, tc.want)
			}
			if ok, _ := b.IPv6(); !ok || !strings.Contains(b.Restore6, tc.want) {
				t.Errorf("IPv6 restore %q does not belong to the %s backend", b.Restore6, tc.want)
			}
		})
	}
}

func TestApplyAddsOnlyMissingJumpsAndSkipsDisabledIPv6(t *testing.T) {
	f := &fakeIptables{ok: map[string]string{"iptables-nft-save": "*nat\n-A OUTPUT -p tcp -j MESH_OUTPUT\nCOMMIT\n"}}
	b := Backend{Name: "nft", Save4: "iptables-nft-save", Restore4: "iptables-nft-restore", ipv6UnavailableMessage: "IPv6 is disabled in the kernel"}
	r, _ := Build(mustConfig(t, "*", "", "*", "", "", "", ""))
	a, err := Apply(context.Background(), f.run, b, r)
	if err != nil {
		t.Fatal(err)
	}
	got := f.restored["iptables-nft-restore"]
	if strings.Contains(got, "-A OUTPUT ") || !strings.Contains(got, "-A PREROUTING -p tcp -j MESH_INBOUND") {
		t.Errorf("restore input:\n%s", got)
	}
	if a.IPv6Skipped == "" || a.IPv6Rules != 0 || len(f.restored) != 1 {
		t.Errorf("IPv6 not skipped: %+v %v", a, f.restored)
	}
}
