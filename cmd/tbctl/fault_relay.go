package main

import (
	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/fault/linkem"
)

// newFaultRelayCmd is the userspace link emulator's relay process, which
// linkem.Insert starts in a hidden network namespace. Not for users.
func newFaultRelayCmd() *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:    "relay --config JSON",
		Short:  "Relay frames between the two sides of a link emulator (started by tbctl)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := linkem.ParseRelayConfig(config)
			if err != nil {
				return err
			}
			return linkem.RunRelay(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "relay configuration as JSON")
	cmd.MarkFlagRequired("config")
	return cmd
}
