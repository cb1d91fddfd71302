package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Envoy runs the proxy process.
type Envoy struct {
	// Path of the envoy binary.
	Path string
	// ConfigPath is the bootstrap file.
	ConfigPath string
	// AdminURL is Envoy's admin address (http://127.0.0.1:15000), used to
	// drain it.
	AdminURL string
	// LogLevel and ComponentLogLevel are passed through when set.
	LogLevel          string
	ComponentLogLevel string
	// Concurrency is the number of worker threads; 0 leaves Envoy's default.
	Concurrency int
	// DrainDuration is how long listeners drain after SIGTERM before Envoy
	// is stopped.
	DrainDuration time.Duration
	// Stdout and Stderr receive Envoy's output.
	Stdout, Stderr io.Writer
}

// ExitError is Envoy ending on its own; the agent exits with its code.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("envoy exited with status %d", e.Code) }

func (e Envoy) args() []string {
	args := []string{"-c", e.ConfigPath, "--drain-time-s", strconv.Itoa(int(e.DrainDuration / time.Second)), "--drain-strategy", "immediate",
		"--parent-shutdown-time-s", strconv.Itoa(int(e.DrainDuration/time.Second) + 5), "--disable-hot-restart"}
	if e.LogLevel != "" {
		args = append(args, "--log-level", e.LogLevel)
	}
	if e.ComponentLogLevel != "" {
		args = append(args, "--component-log-level", e.ComponentLogLevel)
	}
	if e.Concurrency > 0 {
		args = append(args, "--concurrency", strconv.Itoa(e.Concurrency))
	}
	return args
}

// Run starts Envoy and waits. When ctx ends (SIGTERM to the agent) the
// listeners are drained for DrainDuration, so connections in flight finish
// and new ones go elsewhere, then Envoy is stopped and Run returns nil. If
// Envoy exits first, Run returns its exit status as an *ExitError.
func (e Envoy) Run(ctx context.Context) error {
	cmd := exec.Command(e.Path, e.args()...)
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting envoy (%s): %w", e.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitError(err)
	case <-ctx.Done():
	}
	e.drain()
	select {
	case err := <-done:
		return exitError(err)
	case <-time.After(e.DrainDuration):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("envoy did not stop within 10s of SIGTERM and was killed")
	}
}

// drain tells Envoy to stop accepting and to close connections gracefully.
func (e Envoy) drain() {
	if e.AdminURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.AdminURL+"/drain_listeners?inboundonly&graceful", nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func exitError(err error) error {
	if err == nil {
		return &ExitError{Code: 0}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}
