// Package completion is the `meshctl completion` command.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/meshctl/meshctl/pkg/cmdutil"
)

// NewCmdCompletion builds `meshctl completion SHELL`.
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a script that makes your shell complete meshctl's commands, flags,
and values such as profiles and output formats.`,
		Example: `  # bash, for the current shell
  source <(meshctl completion bash)
  # bash, for every new shell
  meshctl completion bash > /etc/bash_completion.d/meshctl
  # zsh
  meshctl completion zsh > "${fpath[1]}/_meshctl"
  # fish
  meshctl completion fish > ~/.config/fish/completions/meshctl.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), f.IOStreams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return cmdutil.UsageErrorf("unsupported shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
