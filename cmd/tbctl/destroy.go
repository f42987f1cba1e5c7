package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/provider/remote/cloud"
)

func newDestroyCmd() *cobra.Command {
	var all bool
	var stack string
	cmd := &cobra.Command{
		Use:   "destroy LAB | --all | --cloud DIR",
		Short: "Remove a lab, or every tbctl lab, and everything it created",
		Long: `Remove a lab: end every process in its nodes, remove its namespaces, links,
bridges, mounts, management network and address allocations. It works from the
names of what it removes, so it also cleans up after a tbctl that was killed during
a deploy. Removing a lab that is not there succeeds: destroy is safe to repeat.

With --cloud, destroy the cloud hosts a run created from a remote topology's cloud
module, from the stack directory the run left (RUN_DIR/cloud): for a run that was
interrupted before it destroyed them itself.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch {
			case stack != "" && !all && len(args) == 0:
				if err := cloud.Destroy(cmd.Context(), stack); err != nil {
					return err
				}
				fmt.Fprintf(out, "destroyed the cloud hosts of %s\n", stack)
				return nil
			case all && len(args) == 0:
				names, err := testbed.DestroyAll(cmd.Context())
				for _, n := range names {
					fmt.Fprintf(out, "destroyed %s\n", n)
				}
				return err
			case !all && len(args) == 1:
				if err := testbed.Destroy(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(out, "destroyed %s\n", args[0])
				return nil
			default:
				return errkind.User("usage: tbctl destroy LAB | --all | --cloud DIR")
			}
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every tbctl lab, including ones left behind without a record")
	cmd.Flags().StringVar(&stack, "cloud", "", "destroy the cloud hosts whose stack a run left in this directory")
	return cmd
}
