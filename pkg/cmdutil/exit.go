package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes, shared by every command and every output format. They follow
// sysexits(3) where a meaning exists there, as istioctl does, so that CI can
// tell "your config has problems" from "meshctl was called wrongly".
const (
	ExitOK = 0
	// ExitFailure is any failure without a more specific code.
	ExitFailure = 1
	// ExitUsage is a bad command line (EX_USAGE).
	ExitUsage = 64
	// ExitDataErr is input that could not be parsed (EX_DATAERR).
	ExitDataErr = 65
	// ExitFindings is returned when analysis findings reach the failure threshold.
	ExitFindings = 79
	// ExitCancelled is returned after Ctrl-C (128 + SIGINT).
	ExitCancelled = 130
)

// ExitError carries an exit code with an error. When Silent is set the command
// has already told the user everything and Execute prints nothing more.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// WithExitCode wraps err so that the process exits with code.
func WithExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// SilentExit makes the process exit with code without printing an error,
// for commands whose output already says what went wrong (analyze findings).
func SilentExit(code int) error { return &ExitError{Code: code, Silent: true} }

// UsageErrorf reports a wrong command line; it exits with ExitUsage and the
// message is followed by a pointer to --help.
func UsageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ExitCode returns the process exit code for err.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
