package proxyinit

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/proxyinit"
	"github.com/meshctl/meshctl/pkg/vocab"
)

// The test re-executes its own binary: inside a new network namespace, and
// as other users to dial or to run proxy-init without privileges.
const (
	envInNetns = "MESHCTL_PROXYINIT_TEST_NETNS"
	envDial    = "MESHCTL_PROXYINIT_TEST_DIAL"
	envRunCmd  = "MESHCTL_PROXYINIT_TEST_RUN"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envDial); addr != "" {
		reply, err := dial(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(reply)
		os.Exit(0)
	}
	if args, ok := os.LookupEnv(envRunCmd); ok {
		cmd := newCmdProxyInit(newOptions(iostreams.System()))
		cmd.SetArgs(strings.Fields(args))
		cmd.SilenceUsage = true
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func dial(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// serve answers every connection with name and, for redirected ones, the
// destination the client had asked for (SO_ORIGINAL_DST), as the proxy
// reads it.
func serve(t *testing.T, addr, name string, original bool) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			reply := name
			if original {
				reply += " " + originalDst(c.(*net.TCPConn))
			}
			_, _ = c.Write([]byte(reply))
			c.Close()
		}
	}()
}

func originalDst(c *net.TCPConn) string {
	raw, err := c.SyscallConn()
	if err != nil {
		return err.Error()
	}
	var dst string
	_ = raw.Control(func(fd uintptr) {
		if local := c.LocalAddr().(*net.TCPAddr); local.IP.To4() != nil {
			// A sockaddr_in fits the buffer this getsockopt helper passes.
			m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
			if err != nil {
				dst = err.Error()
				return
			}
			ip := netip.AddrFrom4([4]byte(m.Multiaddr[4:8]))
			dst = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(m.Multiaddr[2:4])).String()
			return
		}
		// A sockaddr_in6 fits the IPv6MTUInfo buffer.
		m, err := unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, ip6tSOOriginalDst)
		if err != nil {
			dst = err.Error()
			return
		}
		// Port holds the bytes in network order (read here on a
		// little-endian machine).
		p := m.Addr.Port
		port := binary.BigEndian.Uint16([]byte{byte(p), byte(p >> 8)})
		dst = netip.AddrPortFrom(netip.AddrFrom16(m.Addr.Addr), port).String()
	})
	return dst
}

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST from linux/netfilter_ipv6/ip6_tables.h.
const ip6tSOOriginalDst = 80

// enterNetns runs the calling test again inside a new network namespace,
// where it may change iptables freely, and reports its result.
func enterNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates a network namespace and programs iptables inside it")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed, so the test cannot create a network namespace")
	}
	if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("this machine does not allow new network namespaces (unshare -n: %v %s)", err, out)
	}
	for _, p := range []string{"iptables-restore", "ip6tables-restore", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (.ci/run installs iptables with apt-get)", p)
		}
	}
	cmd := exec.Command(unshare, "-n", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside a new network namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test failed inside the network namespace: %v", err)
	}
}

// runAs runs this test binary as uid/gid with env set, from a copy every
// user can execute.
func runAs(t *testing.T, bin string, uid, gid uint32, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Dir = "/"
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return string(out), err
}

func sh(t *testing.T, args ...string) error {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ownRules are the rules of iptables-save output that proxy-init is
// responsible for, by chain, in order.
func ownRules(save string) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(save))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == "-A" && strings.Contains(sc.Text(), "MESH_") {
			out[f[1]] = append(out[f[1]], sc.Text())
		}
	}
	return out
}

func wantRules(tb proxyinit.Table) map[string][]string {
	out := map[string][]string{}
	for _, r := range append(append([]proxyinit.Rule{}, tb.Jumps...), tb.Rules...) {
		out[r.Chain] = append(out[r.Chain], r.String())
	}
	return out
}

func TestRedirectInNetns(t *testing.T) {
	if os.Getenv(envInNetns) == "" {
		enterNetns(t)
		return
	}
	if err := sh(t, "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	// Pod addresses are local here, so traffic to them never leaves.
	if err := sh(t, "ip", "route", "add", "local", "10.244.0.0/16", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	ipv6 := sh(t, "ip", "-6", "addr", "add", "fd00:10:244::5/128", "dev", "lo", "nodad") == nil

	redirect := inject.Redirect{
		IncludeOutboundIPRanges: "*",
		IncludeInboundPorts:     "*",
		ExcludeInboundPorts:     inject.DefaultExcludeInboundPorts,
		ExcludeOutboundPorts:    "9443",
	}
	args := redirect.Args()[1:]
	o := newOptions(nil)
	if err := newCmdProxyInit(o).ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	rules, err := proxyinit.Build(o.config)
	if err != nil {
		t.Fatal(err)
	}

	// Twice: the second run must leave exactly the same rules.
	for i := 1; i <= 2; i++ {
		code, out, errOut := run(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s%s", i, code, out, errOut)
		}
		t.Logf("run %d: %s", i, out)
	}
	b, err := proxyinit.Detector{Run: proxyinit.Exec}.Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backend: %q", b.Name)
	if b.Name != "nft" {
		t.Errorf("the nft backend works in this kernel (the test environment has it) but %q was chosen", b.Name)
	}
	saves := map[string]string{}
	for family, tc := range map[string]struct {
		save string
		want proxyinit.Table
	}{"IPv4": {b.Save4, rules.IPv4}, "IPv6": {b.Save6, rules.IPv6}} {
		save, err := proxyinit.Exec(context.Background(), tc.save, []string{"-t", "nat"}, "")
		if err != nil {
			t.Fatal(err)
		}
		saves[family] = save
		got, want := ownRules(save), wantRules(tc.want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the kernel has\n%s\nwant\n%s", family, strings.Join(flatten(got), "\n"), strings.Join(flatten(want), "\n"))
		}
	}

	serve(t, ":15001", "proxy", true)
	serve(t, "10.244.0.5:9080", "app", false)
	serve(t, "10.244.0.6:9443", "direct", false)
	serve(t, "127.0.0.1:9081", "local", false)
	if ipv6 {
		serve(t, "[fd00:10:244::5]:9080", "app", false)
	}

	// A copy of this binary any uid can run, for the clients below.
	dir, err := os.MkdirTemp("", "proxyinit-test")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "proxyinit.test")
	if err := copyExecutable(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		addr     string
		uid, gid uint32
		want     string
	}{
		{"an app (root) is redirected", "10.244.0.5:9080", 0, 0, "proxy 10.244.0.5:9080"},
		{"an app (uid 1000) is redirected", "10.244.0.5:9080", 1000, 1000, "proxy 10.244.0.5:9080"},
		{"the proxy's uid is not redirected", "10.244.0.5:9080", vocab.ProxyUID, vocab.ProxyGID, "app"},
		{"the proxy's gid is not redirected", "10.244.0.5:9080", 1000, vocab.ProxyGID, "app"},
		{"an excluded outbound port is not redirected", "10.244.0.6:9443", 1000, 1000, "direct"},
		{"localhost is not redirected", "127.0.0.1:9081", 1000, 1000, "local"},
		{"IPv6: an app is redirected", "[fd00:10:244::5]:9080", 1000, 1000, "proxy [fd00:10:244::5]:9080"},
		{"IPv6: the proxy is not redirected", "[fd00:10:244::5]:9080", vocab.ProxyUID, vocab.ProxyGID, "app"},
	} {
		if strings.HasPrefix(tc.name, "IPv6") && !ipv6 {
			t.Logf("%s: not checked, IPv6 routes cannot be added here", tc.name)
			continue
		}
		got, err := runAs(t, bin, tc.uid, tc.gid, envDial+"="+tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("%s: uid %d gid %d dialing %s reached %q (%v); want %q", tc.name, tc.uid, tc.gid, tc.addr, got, err, tc.want)
		}
	}

	// Without root and NET_ADMIN: a clear error, a non-zero exit and no
	// change to the rules.
	out, err := runAs(t, bin, 65534, 65534, envRunCmd+"="+strings.Join(args, " "))
	if err == nil || !strings.Contains(err.Error(), "NET_ADMIN") {
		t.Errorf("unprivileged proxy-init: %q, %v; want a failure naming NET_ADMIN", out, err)
	}
	if after, _ := proxyinit.Exec(context.Background(), b.Save4, []string{"-t", "nat"}, ""); fmt.Sprint(ownRules(after)) != fmt.Sprint(ownRules(saves["IPv4"])) {
		t.Errorf("the unprivileged run changed the rules:\n%s", after)
	}
}

func flatten(m map[string][]string) []string {
	var out []string
	for _, c := range []string{"PREROUTING", "OUTPUT", proxyinit.ChainInbound, proxyinit.ChainInRedirect, proxyinit.ChainOutput, proxyinit.ChainRedirect} {
		out = append(out, m[c]...)
	}
	return out
}

func copyExecutable(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}
