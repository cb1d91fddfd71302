package cmdutil

import (
	"github.com/spf13/cobra"
)

// ExactArgs is cobra.ExactArgs whose error exits with ExitUsage.
func ExactArgs(n int) cobra.PositionalArgs { return usage(cobra.ExactArgs(n)) }

// MaximumNArgs is cobra.MaximumNArgs whose error exits with ExitUsage.
func MaximumNArgs(n int) cobra.PositionalArgs { return usage(cobra.MaximumNArgs(n)) }

// MinimumNArgs is cobra.MinimumNArgs whose error exits with ExitUsage.
func MinimumNArgs(n int) cobra.PositionalArgs { return usage(cobra.MinimumNArgs(n)) }

// RangeArgs is cobra.RangeArgs whose error exits with ExitUsage.
func RangeArgs(lo, hi int) cobra.PositionalArgs { return usage(cobra.RangeArgs(lo, hi)) }

// NoArgs is cobra.NoArgs whose error exits with ExitUsage.
func NoArgs(cmd *cobra.Command, args []string) error { return usage(cobra.NoArgs)(cmd, args) }

func usage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return WithExitCode(ExitUsage, check(cmd, args))
	}
}
