package main

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/run"
	"github.com/tbctl/tbctl/testbed/topo"
)

func newValidateCmd() *cobra.Command {
	var providerName string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology and experiment files and report every problem as FILE:LINE:COL",
		Long: `Check topology files with the same rules deploy uses: YAML syntax, unknown fields
(with a "did you mean"), references between nodes, links and groups, interface names,
addresses, MACs and MTUs, and whether the provider can run every node kind.

An experiment file (one with a claim) is checked as tbctl run checks it before deploying
anything: its fields, its topology, its roles and their parameters, faults, collectors,
sweep, expectations and every sweep point's plan.

Every problem of every file is reported at once; the exit status is 1 if there is any.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all topo.Problems
			for _, file := range args {
				if isExperiment(file) {
					n, err := checkExperiment(file)
					var problems topo.Problems
					switch {
					case errors.As(err, &problems):
						all = append(all, problems...)
					case err != nil:
						return err
					default:
						fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (experiment, %d runs)\n", file, n)
					}
					continue
				}
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

// isExperiment tells an experiment file from a topology file: only an
// experiment states a claim.
func isExperiment(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var top map[string]any
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["claim"]
	return ok
}

// checkExperiment loads an experiment and plans every run of it, and
// returns how many runs it has.
func checkExperiment(file string) (int, error) {
	exp, err := experiment.Load(file, nil)
	if err != nil {
		return 0, err
	}
	plans, err := run.PlanAll(exp)
	if err != nil {
		return 0, err
	}
	return len(plans), nil
}
