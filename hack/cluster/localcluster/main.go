// Command localcluster starts and stops the local Kubernetes cluster used by
// `make demo` and `make test`. The binaries come from hack/cluster/build.sh.
//
//	localcluster up [--dir DIR]          start in the background, print the kubeconfig
//	localcluster down [--dir DIR]        stop it and leave no process behind
//	localcluster run [--dir DIR] -- CMD  start, run CMD with the cluster, stop
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/meshctl/meshctl/internal/testcluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "_out/cluster", "directory for the cluster's kubeconfig, certificates and logs")
	_ = fs.Parse(os.Args[2:])
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch os.Args[1] {
	case "up":
		if c, err := testcluster.Connect(filepath.Join(abs, "kubeconfig")); err == nil {
			fmt.Fprintf(os.Stderr, "cluster already running\n")
			printEnv(c)
			return
		}
		testcluster.StopDir(abs)
		_ = os.RemoveAll(abs)
		c, err := testcluster.Start(ctx, testcluster.Options{Dir: abs, Detach: true, Log: os.Stderr})
		if err != nil {
			fail(err)
		}
		printEnv(c)
	case "down":
		testcluster.StopDir(abs)
		fmt.Fprintf(os.Stderr, "cluster in %s stopped\n", abs)
	case "run":
		args := fs.Args()
		if len(args) == 0 {
			usage()
		}
		testcluster.StopDir(abs)
		_ = os.RemoveAll(abs)
		c, err := testcluster.Start(ctx, testcluster.Options{Dir: abs, Log: os.Stderr})
		if err != nil {
			fail(err)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), testcluster.EnvKubeconfig+"="+c.Kubeconfig, "KUBECONFIG="+c.Kubeconfig)
		runErr := cmd.Run()
		start := time.Now()
		c.Stop()
		fmt.Fprintf(os.Stderr, "cluster stopped in %s\n", time.Since(start).Round(100*time.Millisecond))
		var exit *exec.ExitError
		if errors.As(runErr, &exit) {
			os.Exit(exit.ExitCode())
		}
		if runErr != nil {
			fail(runErr)
		}
	default:
		usage()
	}
}

func printEnv(c *testcluster.Cluster) {
	fmt.Printf("export KUBECONFIG=%s\nexport %s=%s\n", c.Kubeconfig, testcluster.EnvKubeconfig, c.Kubeconfig)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: localcluster up|down [--dir DIR] | run [--dir DIR] -- COMMAND [ARGS]")
	os.Exit(64)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
	os.Exit(1)
}
