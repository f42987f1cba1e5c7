package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

func newTopoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topo", Short: "Work with topology files"}
	cmd.AddCommand(newTopoGenCmd())
	return cmd
}

func newTopoGenCmd() *cobra.Command {
	var (
		p      gen.Params
		noMgmt bool
		out    string
	)
	var shapes []string
	for _, s := range gen.Shapes() {
		shapes = append(shapes, fmt.Sprintf("  %-11s %s", s.Name, s.Summary))
	}
	cmd := &cobra.Command{
		Use:   "gen SHAPE",
		Short: "Write a standard topology shape as a topology file",
		Long:  "Write a topology file for a standard shape. Shapes:\n" + strings.Join(shapes, "\n"),
		Example: `  tbctl topo gen linear --hosts 100 -o linear100.yaml
  tbctl topo gen fat-tree --k 4 -o ft4.yaml
  tbctl topo gen leaf-spine --spines 2 --leaves 4 --hosts 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Mgmt = !noMgmt
			f, err := gen.Generate(args[0], p)
			if err != nil {
				return errkind.User("%v", err)
			}
			data, err := gen.Marshal(f)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return os.WriteFile(out, data, 0o644)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&p.Name, "name", "", "lab name (default: SHAPE-SIZE)")
	fl.IntVar(&p.Hosts, "hosts", 0, "hosts: in all (single), switches with one host each (linear), per side (dumbbell), per leaf (leaf-spine)")
	fl.IntVar(&p.Depth, "depth", 0, "tree depth (tree)")
	fl.IntVar(&p.Fanout, "fanout", 0, "children per switch (tree)")
	fl.IntVar(&p.Spines, "spines", 0, "spine routers (leaf-spine)")
	fl.IntVar(&p.Leaves, "leaves", 0, "leaf routers (leaf-spine)")
	fl.IntVar(&p.K, "k", 0, "pods, even (fat-tree)")
	fl.BoolVar(&noMgmt, "no-mgmt", false, "leave out the management network")
	fl.StringVarP(&out, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}
