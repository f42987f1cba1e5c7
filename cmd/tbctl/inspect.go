package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/provider"
)

func newInspectCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [LAB]",
		Short: "Show deployed labs, or one lab's nodes, interfaces and links",
		Long: `Without LAB, list the deployed labs. With LAB, show every node with its namespace,
management address and interfaces (addresses, state, peer), read live from the
kernel. --format json prints the same as a JSON document.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				return listLabs(cmd, out, format)
			}
			insp, err := testbed.Inspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(out, insp)
			}
			writeInspection(out, insp)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func listLabs(cmd *cobra.Command, out io.Writer, format string) error {
	names, err := testbed.Labs(cmd.Context(), false)
	if err != nil {
		return err
	}
	var labs []*provider.Inspection
	for _, n := range names {
		insp, err := testbed.Inspect(cmd.Context(), n)
		if err != nil {
			insp = &provider.Inspection{Name: n, State: "unreadable: " + err.Error()}
		}
		labs = append(labs, insp)
	}
	if format == "json" {
		if labs == nil {
			labs = []*provider.Inspection{}
		}
		return writeJSON(out, labs)
	}
	if len(labs) == 0 {
		fmt.Fprintln(out, "no labs deployed")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tPROVIDER\tSTATE\tNODES\tLINKS\tMGMT SUBNET")
	for _, l := range labs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", l.Name, l.Provider, l.State, len(l.Nodes), len(l.Links), l.MgmtIPv4)
	}
	return tw.Flush()
}

func writeInspection(out io.Writer, insp *provider.Inspection) {
	fmt.Fprintf(out, "lab %s (%s, %s)", insp.Name, insp.Provider, insp.State)
	if insp.MgmtIPv4 != "" {
		fmt.Fprintf(out, ", management network %s %s", insp.MgmtNet, insp.MgmtIPv4)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tNAMESPACE\tMGMT IPV4\tINTERFACE\tSTATE\tADDRESSES\tPEER")
	for _, n := range insp.Nodes {
		first := fmt.Sprintf("%s\t%s\t%s\t%s", n.Name, n.Kind, dash(n.Namespace), dash(n.MgmtIPv4))
		if len(n.Interfaces) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\n", first)
		}
		for i, ifc := range n.Interfaces {
			if i > 0 {
				first = "\t\t\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", first, ifc.Name, ifc.State, dash(strings.Join(ifc.Addrs, ",")), dash(ifc.Peer))
		}
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return errkind.User("--format %q: use table or json", format)
	}
	return nil
}
