// Package iostreams carries a command's input and output streams together with
// what is known about them (terminal or not, color or not), so that commands
// never touch os.Stdout or os.Stderr and tests can capture everything.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// IOStreams are the three standard streams of one command invocation.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	colorEnabled          bool
}

// System returns the process's real streams. It is the only place in meshctl
// that refers to os.Stdin, os.Stdout and os.Stderr.
func System() *IOStreams {
	s := &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		inTTY:  isTerminal(os.Stdin),
		outTTY: isTerminal(os.Stdout),
		errTTY: isTerminal(os.Stderr),
	}
	// https://no-color.org: any non-empty NO_COLOR disables color; TERM=dumb
	// terminals cannot render escapes either.
	_, noColor := os.LookupEnv("NO_COLOR")
	s.colorEnabled = s.outTTY && !noColor && os.Getenv("TERM") != "dumb"
	return s
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Test returns streams backed by buffers: not a terminal, no color.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsStdinTTY reports whether input comes from a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// IsStdoutTTY reports whether output goes to a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether diagnostics go to a terminal; progress spinners
// are drawn only then.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// ColorEnabled reports whether output may contain color escapes.
func (s *IOStreams) ColorEnabled() bool { return s.colorEnabled }

// CanPrompt reports whether a question can be asked and answered: both ends
// must be a terminal, otherwise a CI job would hang waiting for input.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.outTTY }

// SetTTY overrides terminal detection; tests use it to exercise terminal-only
// behaviour such as prompts, color and spinners.
func (s *IOStreams) SetTTY(in, out, errOut bool) { s.inTTY, s.outTTY, s.errTTY = in, out, errOut }

// SetColorEnabled overrides color detection.
func (s *IOStreams) SetColorEnabled(on bool) { s.colorEnabled = on }

// Generic converts to the type cli-runtime and client-go helpers expect.
func (s *IOStreams) Generic() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: s.In, Out: s.Out, ErrOut: s.ErrOut}
}
