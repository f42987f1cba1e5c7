package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tbctl/tbctl/testbed"
)

func newDeployCmd() *cobra.Command {
	var (
		o      testbed.DeployOptions
		quiet  bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Bring up the lab described by a topology file",
		Long: `Validate FILE, then create its lab: one network namespace per node, links,
bridges, the management network, routes, binds, node commands and exec commands.
Progress goes to standard error. If anything fails, or the deploy is interrupted,
everything created so far is removed. A lab whose name is already deployed is
refused. The lab keeps running after tbctl exits; remove it with tbctl destroy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			o.File = args[0]
			o.Progress = &progress{w: os.Stderr, tty: term.IsTerminal(int(os.Stderr.Fd())), quiet: quiet || format == "json"}
			start := time.Now()
			rec, err := testbed.Deploy(cmd.Context(), o)
			if err != nil {
				return err
			}
			if format == "json" {
				insp, err := testbed.Inspect(cmd.Context(), rec.Name)
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), insp)
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up: %d nodes, %d links in %.2fs (inspect: tbctl inspect %s; remove: tbctl destroy %s)\n",
					rec.Name, len(rec.Topology.Nodes), len(rec.Topology.Links), time.Since(start).Seconds(), rec.Name, rec.Name)
				for _, note := range rec.Topology.Notes {
					fmt.Fprintf(cmd.OutOrStdout(), "note: %s\n", note)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Provider, "provider", "", "provider to run the lab (default: the file's, else netns)")
	fl.StringVar(&o.Name, "name", "", "lab name (default: the file's name)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	fl.StringVar(&format, "format", "table", "output format: table or json (json prints the lab as tbctl inspect does)")
	return cmd
}
