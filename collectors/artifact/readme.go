package artifact

import (
	"fmt"
	"strings"
	"time"

	"github.com/tbctl/tbctl/testbed/experiment"
)

type readmeData struct {
	Meta         crateMeta
	OwnWords     bool // the packer described the artifact
	Runs         []*runInfo
	Env          *Environment
	Anonymized   bool
	Names        bool
	Archive, Top string
}

// readmeText is the README for evaluators: what the artifact claims, what
// is inside, what rerunning needs, and the commands to verify and rerun.
func readmeText(d readmeData) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", d.Meta.Name)
	if d.OwnWords {
		p("%s\n\n", d.Meta.Description)
	}
	p("This artifact holds %d run(s) of tbctl experiments, each with the experiment and topology files\nthat rerun it, and says how to check it and rerun it.\n\n", len(d.Runs))
	self := Self()
	modified := ""
	if self.Modified {
		modified = ", with uncommitted changes"
	}
	p("Packed with tbctl %s (revision %s%s). License: %s.\n\n", self.Version, self.Revision, modified, d.Meta.License)
	if d.Anonymized {
		p("**This artifact is anonymized.** Every IPv4 and IPv6 address in every text file was rewritten with\n")
		p("Crypto-PAn (prefix-preserving: addresses that share a prefix still do, so subnets and \"same host\"\n")
		p("survive) under a secret key that is not part of the artifact.")
		if d.Names {
			p(" Node, host and lab names were replaced by keyed\npseudonyms (such as `node-3f9a1c`) wherever they stand as whole words, also where the same word\nmeant something else.")
		}
		p(" Each run's manifest.json lists the hashes of the rewritten files. Numbers\n(metrics, times, seeds) are unchanged.\n\n")
	}

	p("## Claims\n\n")
	for _, ri := range d.Runs {
		m := ri.Run.Manifest
		p("### %s (`%s`)\n\n%s\n\n", m.Experiment, ri.Rel, ri.claim())
		if ri.Exp != nil {
			if len(ri.Exp.Expect) > 0 {
				p("Checked on every run of the sweep:\n\n")
				for _, e := range ri.Exp.Expect {
					p("- `%s`\n", e.Text)
				}
				p("\n")
			}
			if len(ri.Exp.Compare) > 0 {
				p("Checked across the runs:\n\n")
				for _, e := range ri.Exp.Compare {
					p("- `%s`\n", e.Text)
				}
				p("\n")
			}
		}
		held, total := 0, 0
		for _, pt := range ri.Run.Points {
			for _, c := range pt.Checks {
				total++
				if c.OK {
					held++
				}
			}
		}
		for _, c := range ri.Run.Index.Compare {
			total++
			if c.OK {
				held++
			}
		}
		p("In the packed run (%d run(s) of the sweep, status **%s**), %d of %d checks held.", len(ri.Run.Points), m.Status, held, total)
		if m.Status != "ok" {
			p(" What failed: %s.", ri.failures())
		}
		p("\n\n")
	}

	p("## Contents\n\n```\n%s/\n", d.Top)
	p("  README.md               this file\n")
	p("  SHA256SUMS              SHA-256 of every other file (sha256sum -c SHA256SUMS)\n")
	p("  ro-crate-metadata.json  RO-Crate 1.1 metadata: the runs as CreateActions of tbctl, every file with its SHA-256\n")
	p("  tool.json               the tbctl that packed the artifact and the tbctl that made each run\n")
	p("  environment.json        the packing machine: kernel, OS, CPU, memory, kernel features, tools\n")
	for _, ri := range d.Runs {
		p("  %s/\n", ri.Rel)
	}
	p("```\n\nEach run directory is whole, as `tbctl run` left it:\n\n")
	p("- `manifest.json`: tool version and revision, the machine it ran on, the experiment after `--set`,\n  seeds, start and end, status, and the SHA-256 of every other file of the run;\n")
	p("- `experiment.yaml` and `topology.yaml`: the exact inputs; `tbctl run RUN/experiment.yaml` reruns it;\n")
	p("- `index.json`: every run of the sweep with its values and status, and the cross-run checks;\n")
	p("- one folder per sweep point and repetition (the run directory itself for a single run) with\n  `summary.json` (every expectation with its numbers, every instance's summary metrics), `events.jsonl`\n  (the timeline), `metrics.jsonl` (collected samples) and `roles/<instance>/` (each instance's\n  events, logs, series and summary).\n\n")

	p("## Requirements\n\n")
	p("- Linux and root: every run builds a lab of network namespaces, veth links and bridges.\n")
	p("- tbctl: a build of revision `%s` reproduces the runs most faithfully", firstRevision(d.Runs))
	p(" (`git checkout <revision> && make build` in the tbctl repository gives `bin/tbctl`); a newer\n  tbctl reads the same files.\n")
	seenHost := map[string]bool{}
	for _, ri := range d.Runs {
		h := ri.Run.Manifest.Host
		line := fmt.Sprintf("kernel %s, %s/%s, %d CPU(s) (%s), %d MiB of memory", h.Kernel, h.OS, h.Arch, h.CPUs, h.CPU, h.MemoryKB/1024)
		if !seenHost[line] {
			seenHost[line] = true
			p("- The runs ran on: %s.\n", line)
		}
	}
	if d.Env != nil {
		p("- Kernel features (as on the packing machine, environment.json):\n")
		for _, f := range d.Env.Features {
			state := "unknown"
			if f.Present != nil {
				state = map[bool]string{true: "present", false: "absent"}[*f.Present]
			}
			p("  - %s, for %s: %s (%s)\n", f.Name, f.UsedFor, state, f.Detail)
		}
		p("- Tools on PATH that tbctl and the topologies use (as on the packing machine):\n")
		for _, t := range d.Env.Tools {
			p("  - %s, for %s: %s\n", t.Name, t.UsedFor, t.Version)
		}
	}
	p("\n")

	p("## Verify\n\n```\ntbctl artifact verify %s\n```\n\n", d.Archive)
	p("checks every SHA-256 of SHA256SUMS (changed, missing and extra files), each run against its own\n")
	p("manifest.json, and ro-crate-metadata.json (its required entities, a CreateAction for every run,\n")
	p("every File's SHA-256). It prints `OK: N files, M runs verified` and exits 0, or names each problem\n")
	p("on a line of its own and exits 1. Without tbctl: `tar xzf %s && cd %s && sha256sum -c SHA256SUMS`.\n\n", d.Archive, d.Top)

	p("## Rerun\n\n```\nsudo tbctl artifact reproduce %s [--out DIR]\n```\n\n", d.Archive)
	p("verifies the artifact, unpacks it into a temporary folder (removed after), reruns every packed\n")
	p("experiment from its `experiment.yaml` (new run directories go to DIR, `runs` by default), and\n")
	p("prints, for every run of each sweep (matched by its sweep values), each expectation's original and\n")
	p("new outcome with the numbers compared, and each key metric's original value, new value and\n")
	p("relative difference. It exits 0 when every expectation holds again and every key metric is\n")
	p("within tolerance, and 1 otherwise. A single run can also be rerun by hand:\n")
	p("`tar xzf %s && sudo tbctl run %s/<run>/experiment.yaml`.\n\n", d.Archive, d.Top)
	p("**Tolerance.** A key metric is within tolerance when |new − original| ≤ tolerance × |original|\n")
	p("(an original of 0 must be met exactly). Key metrics are those the experiment lists under\n")
	p("`reproduce: {metrics: [...]}`, or else the metrics its expectations name; the tolerance is the experiment's\n")
	p("`reproduce: {tolerance: N%%}`, %s when it gives none. Emulated networks share the host's CPUs, so\n", pct(experiment.DefaultTolerance))
	p("throughputs and latencies vary from run to run; the expectations are the claims, the tolerance a\n")
	p("measure of how closely a rerun matches the numbers.\n\n")
	for _, ri := range d.Runs {
		if ri.ExpErr != nil {
			p("- %s: cannot be rerun by the tbctl that packed it: %v\n", ri.Rel, ri.ExpErr)
			continue
		}
		p("- %s: tolerance %s; key metrics: %s\n", ri.Rel, pct(ri.Exp.Reproduce.Tolerance), orNone(KeyMetrics(ri.Exp)))
	}
	p("\n")

	p("## Expected run time\n\n")
	var total time.Duration
	for _, ri := range d.Runs {
		m := ri.Run.Manifest
		took := m.End.Wall.Sub(m.Start.Wall).Round(time.Second)
		total += took
		p("- %s: %d run(s) of the sweep took %s originally.\n", ri.Rel, len(ri.Run.Points), took)
	}
	p("\nA full rerun takes about %s on a machine like the original, plus a few seconds to verify.\n", total)
	return b.String()
}

func firstRevision(runs []*runInfo) string {
	for _, ri := range runs {
		if r := ri.Run.Manifest.Tool.Revision; r != "" {
			return r
		}
	}
	return "unknown"
}

func pct(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f*100), "0"), ".") + "%"
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return "`" + strings.Join(list, "`, `") + "`"
}

// KeyMetrics are the INSTANCE.KEY metrics a rerun is compared on: those
// listed under reproduce.metrics or, when none are, those the experiment's
// expect and compare expressions name, in the order written.
func KeyMetrics(e *experiment.Experiment) []string {
	var out []string
	seen := map[string]bool{}
	add := func(m string) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	if len(e.Reproduce.Metrics) > 0 {
		for _, m := range e.Reproduce.Metrics {
			add(m)
		}
		return out
	}
	for _, list := range [][]*experiment.Expectation{e.Expect, e.Compare} {
		for _, x := range list {
			for _, r := range experiment.Refs(x.Expr) {
				add(r.Instance + "." + r.Key)
			}
		}
	}
	return out
}
