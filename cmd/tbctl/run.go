package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	runreport "github.com/tbctl/tbctl/collectors/report"
	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/run"
)

func newRunCmd() *cobra.Command {
	var (
		o      run.Options
		dryRun bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "run EXPERIMENT.yaml",
		Short: "Run an experiment: every sweep point and repetition from a clean lab",
		Long: `Run an experiment: for every sweep point and repetition, deploy a clean lab, start the
role instances in order, wait through warm-up and duration, stop them, destroy the lab,
and check the experiment's expectations. Results go to OUT/<experiment>/<run-id>/,
with the report (tbctl report) in its report/ folder.
The exit status is 1 when an expectation fails or a role fails.

The first Ctrl-C stops the roles, keeps what they wrote, destroys the lab and marks the
run interrupted; a second one exits at once (then run tbctl destroy --all).`,
		Example: `  tbctl run experiments/quickstart.yaml
  tbctl run experiments/quickstart.yaml --set duration=3s --set repetitions=1
  tbctl run experiments/quickstart.yaml --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			run.Version = version
			if dryRun {
				return printPlan(out, args[0], o.Sets)
			}
			forceOnSecondSignal()
			if !quiet {
				o.Progress = newRunProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
			}
			res, err := run.Experiment(cmd.Context(), args[0], o)
			if p, ok := o.Progress.(*runProgress); ok {
				p.stop()
			}
			if err != nil {
				return err
			}
			showRun(out, res.Dir, quiet)
			switch res.Status {
			case run.StatusInterrupted:
				return exitError{130}
			case run.StatusFailed:
				return errkind.User("the run failed: see the table above and %s", res.Dir)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Out, "out", "runs", "where run directories go")
	fl.StringArrayVar(&o.Sets, "set", nil, "override a value of the experiment, KEY=VALUE (repeatable), e.g. --set duration=5s --set roles.flow1.params.streams=4")
	fl.StringVar(&o.Provider, "provider", "", "run the labs on this provider (netns, containerlab); default: the experiment's, else the topology's, else netns")
	fl.BoolVar(&o.Keep, "keep", false, "leave the last run's lab up for inspection")
	fl.BoolVar(&dryRun, "dry-run", false, "print the resolved plan and run nothing")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress, only the result table")
	return cmd
}

// forceOnSecondSignal exits at once on a second Ctrl-C; the first one
// cancels the run through the command's context.
func forceOnSecondSignal() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "\ninterrupted: stopping roles and destroying the lab (Ctrl-C again to exit at once)")
		<-ch
		fmt.Fprintln(os.Stderr, "forced exit: remove what is left with `tbctl destroy --all`")
		os.Exit(130)
	}()
}

func printPlan(out io.Writer, path string, sets []string) error {
	exp, err := experiment.Load(path, sets)
	if err != nil {
		return err
	}
	plans, err := run.PlanAll(exp)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "experiment %s: %s\n", exp.Name, exp.Claim)
	prov := providerName(exp.Provider)
	if len(plans) > 0 {
		prov = plans[0].Provider
	}
	fmt.Fprintf(out, "provider %s, warm-up %s, duration %s, %d run(s)\n", prov, exp.Warmup, exp.Duration, len(plans))
	for _, pl := range plans {
		fmt.Fprintf(out, "\nrun %q  seed %d  topology %s (%d nodes, %d links)\n", pl.Label(), pl.Seed, pl.Topology.Name, len(pl.Topology.Nodes), len(pl.Topology.Links))
		for w, wave := range pl.Waves {
			for _, s := range wave {
				fmt.Fprintf(out, "  wave %d  %-10s %-8s on %-6s %v\n", w+1, s.Name, s.Role.Name, s.Node, s.Params)
			}
		}
	}
	if len(exp.Expect) > 0 {
		fmt.Fprintln(out, "\nexpect on every run:")
		for _, e := range exp.Expect {
			fmt.Fprintf(out, "  %s\n", e.Text)
		}
	}
	if len(exp.Compare) > 0 {
		fmt.Fprintln(out, "compare across runs:")
		for _, e := range exp.Compare {
			fmt.Fprintf(out, "  %s\n", e.Text)
		}
	}
	return nil
}

func providerName(p string) string {
	if p == "" {
		return "netns"
	}
	return p
}

// showRun prints the run's table from its run directory and writes its
// report; a report that cannot be written is said, but does not change the
// run's outcome.
func showRun(out io.Writer, dir string, quiet bool) {
	r, err := rundir.Open(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tbctl: the run directory does not open: %v\n", err)
		return
	}
	runreport.Table(out, r)
	rep, err := runreport.Write(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tbctl: no report: %v (try tbctl report %s)\n", err, dir)
		return
	}
	if !quiet {
		fmt.Fprintf(out, "report: %s\n", rep.HTML)
	}
}
