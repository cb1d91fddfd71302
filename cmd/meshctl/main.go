// Command meshctl installs and operates a service mesh on Kubernetes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// No garbage collection while packages initialise; root resumes it.
	_ "github.com/meshctl/meshctl/internal/initgc"
	"github.com/meshctl/meshctl/pkg/cmd/root"
	"github.com/meshctl/meshctl/pkg/iostreams"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Execute(ctx, iostreams.System(), os.Args[1:])
	stop()
	os.Exit(code)
}
