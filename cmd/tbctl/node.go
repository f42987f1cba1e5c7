package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/provider/clab"
)

// newNodeCmd holds the commands about the containers of the containerlab
// provider: the node image and its first process.
func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Commands run inside a lab node's container", Hidden: true}
	cmd.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Act as PID 1 of a node container: reap orphans, exit 0 on SIGTERM or SIGINT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			chld := make(chan os.Signal, 1)
			signal.Notify(chld, syscall.SIGCHLD)
			defer signal.Stop(chld)
			for {
				// main's context ends on SIGTERM and SIGINT.
				select {
				case <-cmd.Context().Done():
					return nil
				case <-chld:
				}
				var ws syscall.WaitStatus
				for {
					if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
						break
					}
				}
			}
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "image",
		Short: "Build tbctl's node image for the containerlab provider (FROM scratch, this binary), if missing, and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, id, err := clab.NodeImage(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ref, id)
			return nil
		},
	})
	return cmd
}
