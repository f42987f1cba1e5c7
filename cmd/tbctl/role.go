package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/roles"
	_ "github.com/tbctl/tbctl/roles/all" // every role, registered
	"github.com/tbctl/tbctl/testbed/errkind"
)

func newRoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "List, describe and run research roles"}
	cmd.AddCommand(newRoleListCmd(), newRoleDescribeCmd(), newRoleRunCmd())
	return cmd
}

func newRoleListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every role compiled into tbctl",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLE\tSUMMARY")
			for _, r := range roles.All() {
				fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Summary)
			}
			return tw.Flush()
		},
	}
}

func newRoleDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Print a role's parameters with their types, defaults and meaning",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := roles.Get(args[0])
			if err != nil {
				return errkind.User("%v", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %s\n\nparameters:\n", r.Name, r.Summary)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tMEANING")
			for _, p := range r.Describe() {
				typ := p.Type
				if p.Ref {
					typ = "node"
					if strings.HasPrefix(p.Type, "list of ") {
						typ = "list of node"
					}
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Name, typ, p.Default, p.Help)
			}
			return tw.Flush()
		},
	}
}

func newRoleRunCmd() *cobra.Command {
	var (
		in      roles.Instance
		params  []string
		readyFD int
		asJSON  string
	)
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run one role instance in this process (the runner starts it inside a node)",
		Long: `Run one instance of a role here, until its work is done or SIGTERM. The experiment
runner starts instances with this command inside nodes; by hand, run it inside a node with
tbctl exec LAB NODE -- tbctl role run NAME --param key=value ...  Parameters that name nodes
take an address when run by hand. Events go to DIR/events.jsonl, the summary to
DIR/summary.json.`,
		Example: `  tbctl exec demo h3 -- tbctl role run traffic --param mode=server --dir /tmp/server
  tbctl exec demo h1 -- tbctl role run traffic --param mode=tcp --param target=198.18.1.1 --param duration=5s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON != "" {
				if err := json.Unmarshal([]byte(asJSON), &in); err != nil {
					return errkind.User("--instance-json: %v", err)
				}
			}
			in.Role = args[0]
			if in.Params == nil {
				in.Params = map[string]any{}
			}
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return errkind.User("--param %q: write KEY=VALUE", kv)
				}
				var val any
				if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
					val = v
				}
				in.Params[k] = val
			}
			if in.Instance == "" {
				in.Instance = in.Role
			}
			if in.Dir == "" {
				in.Dir = "."
			}
			ready := func() {}
			if readyFD > 0 {
				f := os.NewFile(uintptr(readyFD), "ready")
				ready = func() { f.Write([]byte("ready\n")); f.Close() }
			}
			if err := roles.Serve(cmd.Context(), in, ready); err != nil {
				if _, ok := err.(roles.ParamErrors); ok {
					return errkind.User("%v", err)
				}
				return err
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&params, "param", nil, "parameter KEY=VALUE (repeatable; VALUE is read as YAML, so 4 is a number)")
	fl.StringVar(&in.Dir, "dir", "", "directory for events, series and summary (default: the current one)")
	fl.StringVar(&in.Instance, "instance", "", "instance name (default: the role's name)")
	fl.StringVar(&in.Node, "node", "", "node name, for the record")
	fl.StringVar(&in.Lab, "lab", "", "lab name, for the record")
	fl.StringVar(&in.MetricsAddr, "metrics", "", "serve Prometheus metrics on HOST:PORT")
	fl.Int64Var(&in.Seed, "seed", 1, "seed for the role's randomness")
	fl.IntVar(&readyFD, "ready-fd", 0, "write \"ready\" to this inherited file descriptor once ready (used by the runner)")
	fl.StringVar(&asJSON, "instance-json", "", "the whole instance as JSON (used by the runner)")
	return cmd
}
