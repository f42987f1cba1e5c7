package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/provider"
)

func newExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec LAB NODE -- CMD [ARGS...]",
		Short: "Run a command inside a node; its stdio and exit status pass through",
		Example: `  tbctl exec demo h1 -- ping -c 3 198.18.0.2
  tbctl exec demo h1 -- ip -br addr`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return errkind.User("usage: tbctl exec LAB NODE -- CMD [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := testbed.Exec(cmd.Context(), args[0], args[1], args[2:],
				provider.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}
