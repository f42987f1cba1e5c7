package artifact

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/run"
)

// AcrossRuns labels the rows of cross-run (compare) expectations.
const AcrossRuns = "across runs"

// Comparison is a rerun held against the packed original.
type Comparison struct {
	Experiment string
	Tolerance  float64
	Checks     []CheckRow
	Metrics    []MetricRow
	Unmatched  []string // original runs the rerun has no run for
	Extra      []string // rerun runs the original has none for
	Seeds      []string // matched runs that ran with another seed than the original
}

// CheckRow is one expectation of one run (or across runs), before and
// after.
type CheckRow struct {
	Run    string // the original run's label, or AcrossRuns
	Expect string
	Orig   *run.Check // nil: the original did not check it
	New    *run.Check // nil: the rerun did not check it
}

// OK reports an expectation that holds in the rerun.
func (c CheckRow) OK() bool { return c.New != nil && c.New.OK && c.New.Error == "" }

// MetricRow is one key metric of one run, before and after.
type MetricRow struct {
	Run, Metric     string
	Orig, New       float64
	OrigErr, NewErr string  // why a value is missing
	Diff            float64 // (new - orig) / |orig|
	Within          bool
}

// Within reports whether a rerun's value is within tol (relative: 0.1 is
// 10%) of the original, and their relative difference (new - orig) /
// |orig|. An original of 0 must be met exactly; NaNs never are.
func Within(orig, new, tol float64) (diff float64, ok bool) {
	switch {
	case math.IsNaN(orig) || math.IsNaN(new):
		return math.NaN(), false
	case orig == new:
		return 0, true
	case orig == 0:
		return math.Copysign(math.Inf(1), new), false
	}
	diff = (new - orig) / math.Abs(orig)
	return diff, math.Abs(diff) <= tol*(1+1e-9)+1e-12
}

// Compare holds a rerun against the original: runs are matched by their
// sweep values and repetition (not by label), expectations by their text,
// and each key metric (INSTANCE.KEY) is read from both runs' summaries.
func Compare(orig, rerun *rundir.Run, keyMetrics []string, tol float64) *Comparison {
	c := &Comparison{Experiment: orig.Manifest.Experiment, Tolerance: tol}
	matched := map[string]bool{}
	for _, op := range orig.Points {
		np := rerun.PointByKey(op.Key())
		label := op.Label
		if np == nil {
			c.Unmatched = append(c.Unmatched, label)
			for i := range op.Checks {
				c.Checks = append(c.Checks, CheckRow{Run: label, Expect: op.Checks[i].Text, Orig: &op.Checks[i]})
			}
			for _, m := range keyMetrics {
				v, err := metricOf(op, m)
				c.Metrics = append(c.Metrics, MetricRow{Run: label, Metric: m, Orig: v, OrigErr: errText(err), NewErr: "no rerun of this run", Diff: math.NaN()})
			}
			continue
		}
		matched[np.Key()] = true
		if op.Seed != np.Seed {
			c.Seeds = append(c.Seeds, fmt.Sprintf("%s: original seed %d, rerun seed %d", label, op.Seed, np.Seed))
		}
		c.Checks = append(c.Checks, pairChecks(label, op.Checks, np.Checks)...)
		for _, m := range keyMetrics {
			row := MetricRow{Run: label, Metric: m, Diff: math.NaN()}
			var oerr, nerr error
			row.Orig, oerr = metricOf(op, m)
			row.New, nerr = metricOf(np, m)
			row.OrigErr, row.NewErr = errText(oerr), errText(nerr)
			if oerr == nil && nerr == nil {
				row.Diff, row.Within = Within(row.Orig, row.New, tol)
			}
			c.Metrics = append(c.Metrics, row)
		}
	}
	for _, np := range rerun.Points {
		if !matched[np.Key()] {
			c.Extra = append(c.Extra, np.Label)
		}
	}
	c.Checks = append(c.Checks, pairChecks(AcrossRuns, orig.Index.Compare, rerun.Index.Compare)...)
	return c
}

// pairChecks matches two lists of checks by expectation text, in the
// original's order, a text written twice matched in turn.
func pairChecks(label string, orig, rerun []run.Check) []CheckRow {
	var rows []CheckRow
	used := make([]bool, len(rerun))
	for i := range orig {
		row := CheckRow{Run: label, Expect: orig[i].Text, Orig: &orig[i]}
		for j := range rerun {
			if !used[j] && rerun[j].Text == orig[i].Text {
				used[j], row.New = true, &rerun[j]
				break
			}
		}
		rows = append(rows, row)
	}
	for j := range rerun {
		if !used[j] {
			rows = append(rows, CheckRow{Run: label, Expect: rerun[j].Text, New: &rerun[j]})
		}
	}
	return rows
}

func metricOf(p *rundir.Point, m string) (float64, error) {
	inst, key, ok := strings.Cut(m, ".")
	if !ok {
		return 0, fmt.Errorf("%q is not INSTANCE.KEY", m)
	}
	return p.Metric(inst, key)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Failures counts expectations that do not hold in the rerun and key
// metrics outside tolerance (or missing).
func (c *Comparison) Failures() (checks, metrics int) {
	for _, r := range c.Checks {
		if !r.OK() {
			checks++
		}
	}
	for _, r := range c.Metrics {
		if !r.Within {
			metrics++
		}
	}
	return checks, metrics
}

// OK reports a rerun that reproduces the original: every expectation
// holds again, every key metric is within tolerance and every original run
// was rerun.
func (c *Comparison) OK() bool {
	checks, metrics := c.Failures()
	return checks == 0 && metrics == 0 && len(c.Unmatched) == 0
}

// Write prints the comparison as two tables: expectations, then key
// metrics.
func (c *Comparison) Write(w io.Writer) {
	fmt.Fprintf(w, "EXPECTATIONS of %s\n", c.Experiment)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tEXPECTATION\tORIGINAL\tREPRODUCED\t")
	last := ""
	for _, r := range c.Checks {
		label := r.Run
		if label == last {
			label = ""
		}
		last = r.Run
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", label, r.Expect, checkText(r.Orig, "not checked"), checkText(r.New, "not checked"))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nKEY METRICS of %s (tolerance %s)\n", c.Experiment, pct(c.Tolerance))
	if len(c.Metrics) == 0 {
		fmt.Fprintln(w, "(none: the experiment's expectations name no metric and it lists none under reproduce.metrics)")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tMETRIC\tORIGINAL\tREPRODUCED\tDIFF\tWITHIN\t")
		last = ""
		for _, r := range c.Metrics {
			label := r.Run
			if label == last {
				label = ""
			}
			last = r.Run
			within := "no"
			if r.Within {
				within = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", label, r.Metric, value(r.Orig, r.OrigErr), value(r.New, r.NewErr), diffText(r.Diff), within)
		}
		tw.Flush()
	}
	for _, u := range c.Unmatched {
		fmt.Fprintf(w, "run %s of the original has no rerun with the same sweep values\n", u)
	}
	for _, x := range c.Extra {
		fmt.Fprintf(w, "run %s of the rerun is not in the original (its sweep values differ)\n", x)
	}
	if len(c.Seeds) > 0 {
		fmt.Fprintf(w, "note: %d run(s) ran with another seed than the original (seeds follow the order of the sweep, which the rerun's experiment.yaml may list differently):\n", len(c.Seeds))
		for _, s := range c.Seeds {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

func checkText(c *run.Check, none string) string {
	switch {
	case c == nil:
		return none
	case c.Error != "":
		return "ERROR " + oneLine(c.Error)
	case c.OK:
		return "pass (" + c.Detail + ")"
	}
	return "FAIL (" + c.Detail + ")"
}

func value(v float64, errText string) string {
	if errText != "" {
		return "- (" + oneLine(errText) + ")"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func diffText(d float64) string {
	switch {
	case math.IsNaN(d):
		return "-"
	case math.IsInf(d, 0):
		return "n/a (original 0)"
	}
	return fmt.Sprintf("%+.1f%%", d*100)
}
