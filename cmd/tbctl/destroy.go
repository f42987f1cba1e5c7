package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
)

func newDestroyCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "destroy LAB | --all",
		Short: "Remove a lab, or every tbctl lab, and everything it created",
		Long: `Remove a lab: end every process in its nodes, remove its namespaces, links,
bridges, mounts, management network and address allocations. It works from the
names of what it removes, so it also cleans up after a tbctl that was killed during
a deploy. Removing a lab that is not there succeeds: destroy is safe to repeat.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch {
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
				return errkind.User("usage: tbctl destroy LAB | --all")
			}
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every tbctl lab, including ones left behind without a record")
	return cmd
}
