package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, shared by every command and every output format. They follow
// sysexits(3) where a meaning exists there, as istioctl does, so that CI can
// tell "your config has problems" from "meshctl was called wrongly".
const (
	ExitOK = 0
	// ExitFailure is any failure without a more specific code; for the
	// diff commands (config diff, manifest diff) it means "different", as
	// in diff(1).
	ExitFailure = 1
	// ExitTrouble is a diff that could not be made (a missing file, an
	// unreachable cluster), as in diff(1).
	ExitTrouble = 2
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

// RunGroup is the RunE of a command that only groups subcommands (config,
// manifest, profile, x): alone it prints its help, and anything else is an
// unknown subcommand, a usage error with a did-you-mean, never help on
// standard output with exit code 0.
func RunGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return UnknownCommand(cmd, args[0])
}

// UnknownCommand is the usage error for a subcommand name cmd does not have,
// worded as cobra words it for the root command.
func UnknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on the root
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return &ExitError{Code: ExitUsage, Err: errors.New(msg)}
}
