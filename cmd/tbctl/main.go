// Command tbctl is the command line of the tbctl testbed orchestrator. This
// package parses flags and formats output; the testbed logic lives in
// package testbed and below.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/topo"
)

// exitError carries an exit status that is not an error of tbctl's, such as
// the status of a command run by `tbctl exec`.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	// TBCTL_CPUPROFILE=FILE writes a CPU profile of this command, for
	// finding where a benchmark's time goes.
	if path := os.Getenv("TBCTL_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	err := root.ExecuteContext(ctx)
	stop()
	pprof.StopCPUProfile()
	os.Exit(report(err))
}

// report prints err as the CLI contract asks and returns the exit status.
func report(err error) int {
	var exit exitError
	var problems topo.Problems
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &problems):
		fmt.Fprintln(os.Stderr, problems.Error())
		fmt.Fprintf(os.Stderr, "%d problem(s) found\n", len(problems))
		return 1
	default:
		fmt.Fprintln(os.Stderr, "tbctl:", err)
		return errkind.ExitCode(err)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tbctl",
		Short: "Research testbed orchestrator: topologies, roles, faults and datasets",
		Long: `tbctl turns a topology file (a superset of containerlab's format) into a running
emulated network in Linux network namespaces, lets you work inside it, and takes it
down without leaving a trace.

Exit status: 0 on success, 1 on a user error (bad input, explained), 2 when the
environment lacks something (root, a kernel feature, a binary).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newValidateCmd(),
		newTopoCmd(),
		newDeployCmd(),
		newInspectCmd(),
		newExecCmd(),
		newDestroyCmd(),
		newRunCmd(),
		newReportCmd(),
		newDatasetCmd(),
		newArtifactCmd(),
		newRoleCmd(),
		newFaultCmd(),
		newLabCmd(),
		newNodeCmd(),
		newVersionCmd(),
		newRemoteCmd(),
	)
	return root
}
