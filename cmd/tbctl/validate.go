package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/topo"
)

func newValidateCmd() *cobra.Command {
	var providerName string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files and report every problem as FILE:LINE:COL",
		Long: `Check topology files with the same rules deploy uses: YAML syntax, unknown fields
(with a "did you mean"), references between nodes, links and groups, interface names,
addresses, MACs and MTUs, and whether the provider can run every node kind. Every
problem of every file is reported at once; the exit status is 1 if there is any.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all topo.Problems
			for _, file := range args {
				t, _, err := testbed.Resolve(file, providerName)
				var problems topo.Problems
				switch {
				case errors.As(err, &problems):
					all = append(all, problems...)
				case err != nil:
					return err
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (lab %s, %d nodes, %d links)\n", file, t.Name, len(t.Nodes), len(t.Links))
					for _, note := range t.Notes {
						fmt.Fprintf(cmd.OutOrStdout(), "  note: %s\n", note)
					}
				}
			}
			if len(all) > 0 {
				return all
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&providerName, "provider", "", "check against this provider's node kinds (default: the file's, else netns)")
	return cmd
}
