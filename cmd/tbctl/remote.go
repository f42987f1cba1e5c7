package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/agent"
	"github.com/tbctl/tbctl/testbed/provider/remote/facts"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// newRemoteCmd groups what the remote provider runs on a host over SSH.
// Not for users: hidden.
func newRemoteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "remote",
		Short:  "Commands the remote provider runs on its hosts (started by tbctl over SSH)",
		Hidden: true,
	}
	cmd.AddCommand(newRemoteTunnelCmd(), newRemoteRoleCmd(), newRemoteFaultsCmd(), newRemoteAdoptCmd(), newRemoteCollectCmd(), newRemoteFactsCmd(), newRemoteClockCmd(), newRemoteGuardCmd())
	return cmd
}

func newRemoteTunnelCmd() *cobra.Command {
	var spec string
	cmd := &cobra.Command{
		Use:   "tunnel --spec JSON",
		Short: "Join this host's share of a lab to other hosts with VXLAN tunnels",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var ts []*wire.Tunnel
			if err := json.Unmarshal([]byte(spec), &ts); err != nil {
				return errkind.User("--spec: %v", err)
			}
			for _, t := range ts {
				if err := agent.Tunnel(t); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&spec, "spec", "", "the tunnels, as JSON")
	cmd.MarkFlagRequired("spec")
	return cmd
}

func newRemoteRoleCmd() *cobra.Command {
	var sub, node, dir string
	cmd := &cobra.Command{
		Use:   "role --lab LAB --node NODE --dir DIR -- ARGS...",
		Short: "Run a role instance in a node, reporting on stdout and stopping it when stdin ends",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.Role(cmd.Context(), sub, node, dir, args, os.Stdin, os.Stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sub, "lab", "", "this host's lab")
	fl.StringVar(&node, "node", "", "the node")
	fl.StringVar(&dir, "dir", "", "the instance's directory on this host")
	for _, f := range []string{"lab", "node", "dir"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newRemoteFaultsCmd() *cobra.Command {
	var sub string
	var deadman time.Duration
	var allowSSHCut bool
	cmd := &cobra.Command{
		Use:   "faults --lab LAB [--deadman D] [--allow-ssh-cut]",
		Short: "Apply the controller's faults in this host's lab; revert them when it goes quiet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agent.Faults(cmd.Context(), sub, deadman, allowSSHCut, os.Stdin, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&sub, "lab", "", "this host's lab")
	cmd.Flags().DurationVar(&deadman, "deadman", 10*time.Second, "revert every fault after this long without a word from the controller")
	cmd.Flags().BoolVar(&allowSSHCut, "allow-ssh-cut", false, "apply faults that would cut this SSH session")
	cmd.MarkFlagRequired("lab")
	return cmd
}

func newRemoteAdoptCmd() *cobra.Command {
	var record string
	cmd := &cobra.Command{
		Use:   "adopt --record JSON",
		Short: "Check this host against its node of a physical lab and record the lab here",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rec lab.Record
			if err := json.Unmarshal([]byte(record), &rec); err != nil {
				return errkind.User("--record: %v", err)
			}
			return agent.Adopt(cmd.Context(), &rec)
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "the lab's record, as JSON")
	cmd.MarkFlagRequired("record")
	return cmd
}

func newRemoteCollectCmd() *cobra.Command {
	var sub, dir, config string
	cmd := &cobra.Command{
		Use:   "collect --lab LAB --dir DIR --config JSON",
		Short: "Run the collectors on this host's share of a lab and stream what they gather as JSON lines until stdin ends",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg experiment.Collect
			if err := json.Unmarshal([]byte(config), &cfg); err != nil {
				return errkind.User("--config: %v", err)
			}
			return agent.Collect(cmd.Context(), sub, cfg, dir, os.Stdin, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&sub, "lab", "", "this host's lab")
	cmd.Flags().StringVar(&dir, "dir", "", "the directory for this collection's captures")
	cmd.Flags().StringVar(&config, "config", "", "the experiment's collect section, as JSON")
	cmd.MarkFlagRequired("lab")
	cmd.MarkFlagRequired("dir")
	cmd.MarkFlagRequired("config")
	return cmd
}

func newRemoteFactsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "facts",
		Short: "Print this host's identity, kernel and NICs as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := facts.Read("")
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(f)
		},
	}
}

func newRemoteClockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clock",
		Short: "For each line read, print this host's wall clock in nanoseconds since the Unix epoch",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := bufio.NewScanner(cmd.InOrStdin())
			out := cmd.OutOrStdout()
			for in.Scan() {
				if _, err := fmt.Fprintln(out, time.Now().UnixNano()); err != nil {
					return err
				}
			}
			return in.Err()
		},
	}
}

func newRemoteGuardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "guard -- ARGS...",
		Short: "Run tbctl ARGS, and end it with SIGTERM when stdin ends (the controller's session is gone)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := agent.Guard(args, os.Stdin, os.Stdout)
			if err != nil {
				return err
			}
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}
