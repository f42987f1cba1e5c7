package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/supervisor"
)

// newLabCmd holds internal commands that tbctl runs on itself.
func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "lab", Short: "Internal commands for a lab's own processes", Hidden: true}
	var readyFD int
	supervise := &cobra.Command{
		Use:   "supervise LAB",
		Short: "Run the supervisor of a deployed lab (started by tbctl deploy)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ready := os.NewFile(uintptr(readyFD), "ready")
			if readyFD == 0 {
				ready = os.Stdout
			}
			return supervisor.Serve(cmd.Context(), args[0], ready)
		},
	}
	supervise.Flags().IntVar(&readyFD, "ready-fd", 0, "file descriptor to write \"ready\" or \"error: ...\" to")
	cmd.AddCommand(supervise)
	return cmd
}
