package cmdutil

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// annotationCommandLineOnly marks a flag that the environment and the config
// file must never set.
const annotationCommandLineOnly = "meshctl.io/command-line-only"

// MarkCommandLineOnly marks flags of cmd whose effect is destructive or
// skips a safety check (--purge, --yes, --force-conflicts): a MESHCTL_*
// variable left in a shell profile or a key in a shared config file must not
// turn a plain command into an unprompted one, so they count only when typed.
// It fails only for a flag cmd does not have.
func MarkCommandLineOnly(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if err := cmd.Flags().SetAnnotation(n, annotationCommandLineOnly, []string{"true"}); err != nil {
			return err
		}
	}
	return nil
}

// IsCommandLineOnly reports whether fl was marked by MarkCommandLineOnly.
func IsCommandLineOnly(fl *pflag.Flag) bool {
	_, ok := fl.Annotations[annotationCommandLineOnly]
	return ok
}
