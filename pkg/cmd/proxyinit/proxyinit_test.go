package proxyinit

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/iostreams"
	"github.com/meshctl/meshctl/pkg/proxyinit"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	cmd := NewCmdProxyInit(cmdutil.NewFactory(streams))
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.WithExitCode(cmdutil.ExitUsage, err) })
	err := cmd.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

// The injector's arguments are the contract: whatever inject.Redirect.Args
// writes into the mesh-init container must be accepted and turned into the
// same rules the library builds from the same values.
func TestInjectorArgsDryRun(t *testing.T) {
	r := inject.Redirect{
		IncludeOutboundIPRanges: "10.96.0.0/12,fd00::/8",
		ExcludeOutboundIPRanges: "10.96.0.10/32",
		IncludeInboundPorts:     "9080",
		ExcludeInboundPorts:     inject.DefaultExcludeInboundPorts + ",8443",
		ExcludeOutboundPorts:    "53",
		ExcludeInterfaces:       "eth1",
		KubevirtInterfaces:      "k6t-eth0",
	}
	args := r.Args()
	if args[0] != "proxy-init" {
		t.Fatalf("the injector no longer runs proxy-init: %q", args)
	}
	code, out, errOut := run(t, append(args[1:], "--dry-run")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"-A MESH_OUTPUT -m owner --uid-owner 1337 -j RETURN",
		"-A MESH_OUTPUT -m owner --gid-owner 1337 -j RETURN",
		"-A MESH_OUTPUT -d 10.96.0.10/32 -j RETURN",
		"-A MESH_OUTPUT -d 10.96.0.0/12 -j MESH_REDIRECT",
		"-A MESH_OUTPUT -d fd00::/8 -j MESH_REDIRECT",
		"-A MESH_OUTPUT -p tcp -m tcp --dport 53 -j RETURN",
		"-A MESH_OUTPUT -o eth1 -j RETURN",
		"-A MESH_INBOUND -i eth1 -j RETURN",
		"-A MESH_INBOUND -d 10.96.0.0/12 -i k6t-eth0 -j MESH_REDIRECT",
		"-A MESH_INBOUND -p tcp -m tcp --dport 9080 -j MESH_IN_REDIRECT",
		"-A MESH_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
		"-A MESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "COMMIT") != 2 {
		t.Errorf("want one IPv4 and one IPv6 restore input:\n%s", out)
	}
}

// The proxy's own ports stay out of inbound capture even when a hand-written
// mesh-init replaces the exclusions.
func TestOwnPortsAlwaysExcluded(t *testing.T) {
	code, out, errOut := run(t, "--dry-run", "--exclude-inbound-ports=8080")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, p := range strings.Split(inject.DefaultExcludeInboundPorts+",8080", ",") {
		if !strings.Contains(out, "-A MESH_INBOUND -p tcp -m tcp --dport "+p+" -j RETURN\n") {
			t.Errorf("inbound port %s not excluded:\n%s", p, out)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--include-outbound-ip-ranges=10.0.0.0/33"}, `--include-outbound-ip-ranges=10.0.0.0/33: "10.0.0.0/33" is not a CIDR`},
		{[]string{"--exclude-outbound-ip-ranges=*"}, `--exclude-outbound-ip-ranges=*: "*" is not a CIDR`},
		{[]string{"--include-inbound-ports=http"}, `--include-inbound-ports=http: "http" is not a port`},
		{[]string{"--exclude-outbound-ports=70000"}, `"70000" is not a port`},
		{[]string{"--exclude-interfaces=eth0/1"}, `--exclude-interfaces=eth0/1: "eth0/1" is not a network interface name`},
		{[]string{"--proxy-port=0"}, "--proxy-port=0: not a port"},
		{[]string{"--proxy-uid=-1"}, "--proxy-uid=-1: not a uid/gid"},
		{[]string{"--mode=TPROXY"}, "--mode=TPROXY: only REDIRECT is supported"},
		{[]string{"--proxy-port=15006"}, "need different ports"},
		{[]string{"extra"}, "extra"},
	} {
		code, _, errOut := run(t, append(tc.args, "--dry-run")...)
		if code != cmdutil.ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", tc.args, code, errOut, cmdutil.ExitUsage, tc.want)
		}
	}
}

// Without NET_ADMIN the command stops before running iptables, with an
// error that says what the container needs.
func TestNoNetAdmin(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	o := newOptions(streams)
	o.HasNetAdmin = func() (bool, error) { return false, nil }
	ran := false
	o.Run = func(context.Context, string, []string, string) (string, error) { ran = true; return "", nil }
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	err := o.RunCmd(t.Context())
	if !errors.Is(err, proxyinit.ErrPermission) || !strings.Contains(err.Error(), "NET_ADMIN") || ran {
		t.Fatalf("err %v, iptables ran: %v", err, ran)
	}
}
