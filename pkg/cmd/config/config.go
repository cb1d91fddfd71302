// Package config is the `meshctl config` command group: tools that work on
// mesh configuration as a whole (`meshctl config diff`).
package config

import (
	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
)

// NewCmdConfig builds `meshctl config`.
func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with mesh configuration as a whole",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdDiff(f))
	return cmd
}
