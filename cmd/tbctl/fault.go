package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/fault"
)

func newFaultCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Inject, list and clear faults on a running lab",
		Long: `Inject typed faults into a running lab, list them and clear them. Every fault is
written to the lab's journal with how to undo it before it is applied, read back from the
kernel after applying and after reverting, and reverted by tbctl destroy. A fault
injected with --for ends with its tbctl: if that tbctl dies, the next tbctl that touches
the lab reverts it.`,
	}
	cmd.AddCommand(newFaultListCmd(), newFaultInjectCmd(), newFaultClearCmd(), newFaultRelayCmd(), newFaultHogCmd())
	return cmd
}

func newFaultListCmd() *cobra.Command {
	var catalogue bool
	var format string
	cmd := &cobra.Command{
		Use:   "list LAB | --catalogue",
		Short: "List a lab's faults, or every kind of fault tbctl knows",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if catalogue {
				if format == "json" {
					return writeJSON(out, fault.Catalogue())
				}
				printCatalogue(out)
				return nil
			}
			if len(args) != 1 {
				return errkind.User("usage: tbctl fault list LAB | --catalogue")
			}
			e, err := testbed.Faults(args[0])
			if err != nil {
				return err
			}
			faults, err := e.List()
			if err != nil {
				return err
			}
			if format == "json" {
				if faults == nil {
					faults = []*fault.Fault{}
				}
				return writeJSON(out, faults)
			}
			printFaults(out, faults)
			return nil
		},
	}
	cmd.Flags().BoolVar(&catalogue, "catalogue", false, "list every kind of fault with its taxonomy code, target and parameters")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func printCatalogue(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tTARGET\tWHAT\tPARAMETERS\tFIELD CLASS")
	for _, k := range fault.Catalogue() {
		var ps []string
		for _, p := range k.Params {
			s := p.Name + " (" + p.Type
			if p.Default != "" {
				s += ", default " + p.Default
			}
			ps = append(ps, s+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Code, k.Target, k.Summary, dash(strings.Join(ps, "; ")), k.Field)
	}
	tw.Flush()
}

func printFaults(out io.Writer, faults []*fault.Fault) {
	if len(faults) == 0 {
		fmt.Fprintln(out, "no faults")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCODE\tTARGET\tSTATE\tVERIFIED\tMECHANISM\tDETAIL")
	for _, f := range faults {
		detail := f.Detail
		if f.Error != "" {
			detail = f.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\n", f.ID, f.Code, f.Target, f.State, f.Verified, dash(f.Mechanism), dash(detail))
	}
	tw.Flush()
}

func newFaultInjectCmd() *cobra.Command {
	var forDur time.Duration
	cmd := &cobra.Command{
		Use:   "inject LAB CODE TARGET [PARAM=VALUE]...",
		Short: "Apply a fault to a running lab",
		Long: `Apply a fault to a running lab. TARGET depends on the fault (tbctl fault list --catalogue):
a link or interface as NODE:IFACE, a node as NODE, two sets of nodes as A,B|C,D, a role
instance by its name. Without --for the fault stays until tbctl fault clear or destroy;
with --for it is cleared after that time, and by Ctrl-C.`,
		Example: `  tbctl fault inject demo net.rate r1:eth2 mbps=10
  tbctl fault inject demo net.link_down h1:eth1 --for 5s
  tbctl fault inject demo net.partition "h1|h3"`,
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]string{}
			for _, kv := range args[3:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return errkind.User("parameter %q: write NAME=VALUE", kv)
				}
				params[k] = v
			}
			e, err := testbed.Faults(args[0])
			if err != nil {
				return err
			}
			f, err := e.Inject(cmd.Context(), args[1], args[2], params, forDur > 0)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s applied: %s on %s by %s, verified %v", f.ID, f.Code, f.Target, f.Mechanism, f.Verified)
			if f.Detail != "" {
				fmt.Fprintf(out, " (%s)", f.Detail)
			}
			fmt.Fprintln(out)
			if forDur == 0 {
				return nil
			}
			select {
			case <-time.After(forDur):
			case <-cmd.Context().Done():
			}
			cleared, err := e.Clear(f.ID)
			for _, c := range cleared {
				fmt.Fprintf(out, "%s reverted, verified %v\n", c.ID, c.Verified)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&forDur, "for", 0, "clear the fault after this long (and hold it only while this tbctl runs)")
	return cmd
}

func newFaultClearCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clear LAB [ID]",
		Short: "Revert one fault, or every fault of a lab",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := testbed.Faults(args[0])
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 2 {
				id = args[1]
			}
			cleared, err := e.Clear(id)
			for _, f := range cleared {
				fmt.Fprintf(cmd.OutOrStdout(), "%s reverted (%s on %s), verified %v\n", f.ID, f.Code, f.Target, f.Verified)
			}
			if len(cleared) == 0 && err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "no active faults")
			}
			return err
		},
	}
}

// newFaultHogCmd is the memory hog node.mem_pressure starts inside a node.
func newFaultHogCmd() *cobra.Command {
	var mb int
	cmd := &cobra.Command{
		Use:    "hog",
		Short:  "Hold memory until signalled (started by node.mem_pressure)",
		Hidden: true,
		Args:   cobra.NoArgs,
		Run:    func(cmd *cobra.Command, args []string) { fault.Hog(mb) },
	}
	cmd.Flags().IntVar(&mb, "mb", 0, "MiB to hold")
	return cmd
}
