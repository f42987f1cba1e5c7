package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tbctl/tbctl/collectors/dataset"
	"github.com/tbctl/tbctl/testbed/errkind"
)

func newDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Build a dataset of Parquet tables from run directories, and export it",
		Long: `A dataset is a folder of Parquet tables (runs, faults, metrics, events) built from run
directories, with dataset.json (what was added, from what) and a generated datasheet,
README.md, that says what it holds and how to read it.`,
	}
	cmd.AddCommand(newDatasetAddCmd(), newDatasetExportCmd())
	return cmd
}

func newDatasetAddCmd() *cobra.Command {
	var o dataset.Options
	var to string
	cmd := &cobra.Command{
		Use:   "add RUN_DIR... --to DIR",
		Short: "Append run directories to a dataset (created when DIR is new or empty)",
		Long: `Append run directories to the dataset in DIR: each one adds a Parquet file per table
and is recorded in DIR/dataset.json; DIR/README.md is regenerated. A run already in the
dataset, a half-written or interrupted run, a run changed since it was recorded and a
dataset of another schema version are refused; on any error DIR is left as it was.

--anonymize rewrites every IPv4/IPv6 address in every cell with Crypto-PAn under the
secret in --key-file (created with 32 random bytes when missing; keep it outside DIR and
private: later adds need it). --anonymize-names also replaces node, host and lab names
by pseudonyms.`,
		Example: `  tbctl dataset add runs/quickstart/20261123T230101Z-b918 --to datasets/tcp
  tbctl dataset add runs/faults-tour/* --to datasets/shared --anonymize --anonymize-names --key-file ~/.tbctl/shared.key`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errkind.User("--to DIR is required: the dataset directory to add to")
			}
			out := cmd.OutOrStdout()
			o.Tool = version
			o.Progress = func(a dataset.RunAdded) {
				fmt.Fprintf(out, "+ %s  %s %s  %s  %d metrics, %d events, %d faults\n", a.Key, a.Experiment, a.Label, a.Status, a.Metrics, a.Events, a.Faults)
			}
			res, err := dataset.Add(to, args, o)
			if err != nil {
				return err
			}
			if res.KeyFile != "" {
				if res.KeyCreated {
					fmt.Fprintf(out, "key: created %s (32 random bytes, mode 0600); keep it private and outside the dataset: adding more runs to %s needs it\n", res.KeyFile, to)
				} else {
					fmt.Fprintf(out, "key: %s\n", res.KeyFile)
				}
			}
			fmt.Fprintf(out, "added %d run(s) from %d run director%s to %s (%d run(s) in all); datasheet: %s\n",
				len(res.Added), len(res.Sources), plural(len(res.Sources), "y", "ies"), to, res.TotalRuns, filepath.Join(to, dataset.DatasheetFile))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "dataset directory (created when missing)")
	fl.BoolVar(&o.Anonymize, "anonymize", false, "rewrite every IPv4/IPv6 address with Crypto-PAn (needs --key-file)")
	fl.BoolVar(&o.AnonymizeNames, "anonymize-names", false, "with --anonymize: also replace node, host and lab names by pseudonyms")
	fl.StringVar(&o.KeyFile, "key-file", "", "file holding the dataset's anonymization secret, outside DIR (created when missing)")
	return cmd
}

func newDatasetExportCmd() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "export DIR --format csv [-o OUTDIR]",
		Short: "Write a dataset's tables in another format (" + strings.Join(dataset.Formats(), ", ") + ")",
		Long: `Write every table of the dataset in DIR, read back from its Parquet files, as
OUTDIR/runs.csv, faults.csv, metrics.csv and events.csv (OUTDIR defaults to DIR/csv).`,
		Example: `  tbctl dataset export datasets/tcp --format csv -o /tmp/tcp-csv`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = filepath.Join(args[0], format)
			}
			files, err := dataset.Export(args[0], format, out)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d rows)\n", f.Path, f.Rows)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output format: "+strings.Join(dataset.Formats(), ", "))
	cmd.Flags().StringVarP(&out, "out", "o", "", "output folder (default DIR/<format>)")
	cmd.MarkFlagRequired("format")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
