package main

import (
	"fmt"

	"github.com/spf13/cobra"

	runreport "github.com/tbctl/tbctl/collectors/report"
	"github.com/tbctl/tbctl/collectors/rundir"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Write plots and an offline HTML page of a run directory",
		Long: `Read the run directory that tbctl run left and write its report into RUN_DIR/report/:
report.html, one self-contained page that opens offline (the claim, every expectation and
how it came out, the checks across runs, the environment, the faults' ground truth and
the plots), and each plot as PNG and SVG: throughput and latency over time per run with
the fault windows shaded, the busiest interfaces' throughput, the distribution of every
series per sweep point, and, for a sweep, each metric the expectations name per point.

The report is rebuilt from scratch each time: it is made in a temporary folder inside
RUN_DIR and then swapped in, so the old report is replaced at once and a failure leaves
no half report; nothing else in the run directory changes. The command prints the same
table as tbctl run and the path of report.html. The exit status is 0 once the report is
written, whether the run passed or not, and 1 when RUN_DIR is not a whole run directory
(not a run directory, or a half-written run) or the report cannot be written.`,
		Example: `  tbctl report runs/quickstart/20261123T230101Z-b918
  xdg-open runs/quickstart/20261123T230101Z-b918/report/report.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := rundir.Open(args[0])
			if err != nil {
				return err
			}
			res, err := runreport.Write(r)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			runreport.Table(out, r)
			fmt.Fprintf(out, "report: %s (%d plots)\n", res.HTML, len(res.Plots))
			return nil
		},
	}
}
