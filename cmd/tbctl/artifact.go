package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tbctl/tbctl/collectors/artifact"
	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/run"
)

func newArtifactCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Pack run directories into an archive that evaluators can verify and rerun",
		Long: `An artifact is one archive (tar + gzip) holding finished run directories whole, with the
experiment and topology files that rerun them, a README for evaluators, SHA256SUMS,
RO-Crate 1.1 metadata (ro-crate-metadata.json), the tbctl versions (tool.json) and the
packing machine's environment (environment.json).

  pack       write the archive from run directories
  verify     check every hash and the metadata of an archive
  reproduce  rerun the packed experiments and compare with the packed results`,
	}
	cmd.AddCommand(newArtifactPackCmd(), newArtifactVerifyCmd(), newArtifactReproduceCmd())
	return cmd
}

func newArtifactPackCmd() *cobra.Command {
	var o artifact.PackOptions
	cmd := &cobra.Command{
		Use:   "pack RUN_DIR... -o FILE",
		Short: "Pack finished run directories into one archive",
		Long: `Pack finished run directories (runs/<experiment>/<run-id>) into one deterministic
archive: the same runs packed by the same tbctl on the same machine give the same bytes
(tool.json and environment.json describe the packer). Half-written or interrupted runs, and runs
whose files no longer match their manifest.json, are refused. An existing FILE is kept
unless --force is given.

--anonymize rewrites every IPv4 and IPv6 address in every text file with Crypto-PAn
(prefix-preserving) under the secret in --key-file (made with 32 random bytes, mode
0600, when missing; it never goes into the archive); --anonymize-names also replaces
node, host and lab names by keyed pseudonyms wherever they stand as whole words. Each
run's manifest.json is rewritten with the new hashes, so the archive still verifies.`,
		Example: `  tbctl artifact pack runs/quickstart/20261123T230101Z-b918 -o quickstart.tar.gz
  tbctl artifact pack runs/quickstart/* --license CC-BY-4.0 --name "Fair sharing" -o art.tar.gz
  tbctl artifact pack runs/quickstart/20261123T230101Z-b918 -o shared.tar.gz --anonymize --key-file ~/.tbctl-artifact.key`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run.Version = version
			o.Runs = args
			o.Log = cmd.ErrOrStderr()
			res, err := artifact.Pack(o)
			if err != nil {
				return err
			}
			sum, size, err := artifactFileSum(res.Path)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			how := ""
			if o.Anonymize {
				how = " (anonymized)"
			}
			fmt.Fprintf(out, "packed %d run(s), %d files%s into %s (%s, top folder %s/)\n", res.Runs, res.Files, how, o.Out, artifactByteSize(size), res.Top)
			fmt.Fprintf(out, "sha256 %s\n", sum)
			fmt.Fprintf(out, "check it with: tbctl artifact verify %s\n", o.Out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Out, "output", "o", "", "the archive to write, e.g. artifact.tar.gz (required)")
	fl.BoolVar(&o.Force, "force", false, "overwrite the archive when it exists")
	fl.BoolVar(&o.Anonymize, "anonymize", false, "rewrite every IP address with Crypto-PAn under --key-file's secret")
	fl.BoolVar(&o.AnonymizeNames, "anonymize-names", false, "with --anonymize: also replace node, host and lab names by pseudonyms")
	fl.StringVar(&o.KeyFile, "key-file", "", "the anonymization secret (made with 32 random bytes, mode 0600, when missing)")
	fl.StringVar(&o.Name, "name", "", "the artifact's title (default: the experiments' names)")
	fl.StringVar(&o.Description, "description", "", "what the artifact is (default: the experiments' claims)")
	fl.StringVar(&o.License, "license", "", "SPDX license identifier of the artifact, e.g. CC-BY-4.0 (default NOASSERTION: none stated)")
	cmd.MarkFlagRequired("output")
	return cmd
}

func newArtifactVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check an artifact: every hash of SHA256SUMS, each run's manifest, the RO-Crate metadata",
		Long: `Check an artifact: every SHA-256 of SHA256SUMS (changed, missing and extra files), each
run directory against its own manifest.json, and ro-crate-metadata.json (its required
entities and fields, a CreateAction for every run whose result is in the archive, every
File's SHA-256). Each problem is named on a line of its own; the exit status is 1 when
there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := artifact.Verify(args[0])
			if err != nil {
				return errkind.User("%v", err)
			}
			return printArtifactVerify(cmd.OutOrStdout(), args[0], rep)
		},
	}
}

func printArtifactVerify(out io.Writer, file string, rep *artifact.Report) error {
	for _, p := range rep.Problems {
		fmt.Fprintln(out, p)
	}
	if !rep.OK() {
		fmt.Fprintf(out, "FAILED: %d problem(s) in %s\n", len(rep.Problems), file)
		return exitError{1}
	}
	fmt.Fprintf(out, "OK: %d files, %d runs verified\n", rep.Files, rep.Runs)
	return nil
}

func newArtifactReproduceCmd() *cobra.Command {
	var (
		o     run.Options
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "reproduce FILE",
		Short: "Rerun the experiments of an artifact and compare with the packed results",
		Long: `Verify an artifact, unpack it into a temporary folder (removed after), rerun each packed
run's experiment from its experiment.yaml (new run directories go to --out), and print for
every run of the sweep, matched by its sweep values, each expectation's original and new
outcome, and each key metric's original value, new value and relative difference.

Key metrics are those the experiment lists under reproduce.metrics or, when it lists
none, the INSTANCE.KEY metrics its expect and compare lines name; a metric is within
tolerance when |new - original| is at most the experiment's reproduce.tolerance (10% when
not given) of |original|. The exit status is 0 when every expectation holds again and
every key metric is within tolerance, 1 otherwise, 2 when the machine cannot run labs
(not root, a missing kernel feature), and 130 after Ctrl-C.`,
		Example: `  sudo tbctl artifact reproduce quickstart.tar.gz
  sudo tbctl artifact reproduce quickstart.tar.gz --out /tmp/rerun --set duration=2s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			run.Version = version
			tmp, err := os.MkdirTemp("", "tbctl-reproduce-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			top, err := artifact.Unpack(args[0], tmp)
			if err != nil {
				return errkind.User("%v", err)
			}
			rep, err := artifact.VerifyDir(top)
			if err != nil {
				return err
			}
			if !rep.OK() {
				printArtifactVerify(out, args[0], rep)
				return errkind.User("%s does not verify: not rerunning it", args[0])
			}
			fmt.Fprintf(out, "verified %s: %d files, %d runs\n", args[0], rep.Files, rep.Runs)

			// Read every experiment before running any.
			type job struct {
				rel  string
				orig *rundir.Run
				file string
				exp  *experiment.Experiment
			}
			var jobs []job
			for _, rel := range rep.RunDirs {
				orig, err := rundir.Open(filepath.Join(top, filepath.FromSlash(rel)))
				if err != nil {
					return err
				}
				file, _, err := orig.Inputs()
				if err != nil {
					return errkind.User("%s: %v", rel, err)
				}
				exp, err := experiment.Load(file, o.Sets)
				if err != nil {
					return err
				}
				jobs = append(jobs, job{rel, orig, file, exp})
			}

			forceOnSecondSignal()
			failed := 0
			for _, j := range jobs {
				fmt.Fprintf(out, "\n== %s: rerunning experiment %s (%d run(s) originally, tolerance %s)\n", j.rel, j.exp.Name, len(j.orig.Points), artifactPercent(j.exp.Reproduce.Tolerance))
				ro := o
				if !quiet {
					ro.Progress = newRunProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
				}
				res, err := run.Experiment(cmd.Context(), j.file, ro)
				if p, ok := ro.Progress.(*runProgress); ok {
					p.stop()
				}
				if err != nil {
					return err
				}
				if res.Status == run.StatusInterrupted {
					fmt.Fprintf(out, "interrupted: the partial rerun is in %s\n", res.Dir)
					return exitError{130}
				}
				rerun, err := rundir.Open(res.Dir)
				if err != nil {
					return err
				}
				cmp := artifact.Compare(j.orig, rerun, artifact.KeyMetrics(j.exp), j.exp.Reproduce.Tolerance)
				fmt.Fprintln(out)
				cmp.Write(out)
				checks, metrics := cmp.Failures()
				if cmp.OK() {
					fmt.Fprintf(out, "\nREPRODUCED %s: every expectation holds again and every key metric is within %s; new run directory %s\n", j.rel, artifactPercent(cmp.Tolerance), res.Dir)
				} else {
					failed++
					fmt.Fprintf(out, "\nNOT REPRODUCED %s: %d expectation(s) do not hold, %d key metric value(s) outside %s, %d run(s) not rerun; new run directory %s\n", j.rel, checks, metrics, artifactPercent(cmp.Tolerance), len(cmp.Unmatched), res.Dir)
				}
			}
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Out, "out", "runs", "where the new run directories go")
	fl.StringArrayVar(&o.Sets, "set", nil, "override a value of the experiments, KEY=VALUE (repeatable), as tbctl run does")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress, only the tables")
	return cmd
}

func artifactPercent(f float64) string {
	return fmt.Sprintf("%g%%", float64(int64(f*10000+0.5))/100)
}

func artifactFileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func artifactByteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
