package run

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/instance"
)

// Check is one expectation and how it came out.
type Check struct {
	Text   string `json:"expect"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // the numbers compared
	Error  string `json:"error,omitempty"`
}

// finishPoint records how every instance ended, checks the run's
// expectations (unless it was interrupted) and writes summary.json and the
// merged timeline.
func finishPoint(pt *Point, pl *Plan, procs []*instance.Proc, tl *timeline, interrupted bool) {
	for _, p := range procs {
		pt.Instances = append(pt.Instances, p.Result())
	}
	for _, in := range pt.Instances {
		if in.Status == "failed" || in.Status == "killed" {
			pt.fail(fmt.Errorf("instance %s %s: %s", in.Name, in.Status, in.Error))
		}
	}
	addWindowMetrics(pt, tl)
	addDiagnosisScores(pt, pl, tl)
	if interrupted {
		pt.Status = StatusInterrupted
	}
	if pt.Error == "" && !interrupted {
		for _, e := range pl.Exp.Expect {
			c := check(e, func(inst, key string, _ map[string]string) ([]float64, error) {
				v, err := metric(pt, inst, key)
				return []float64{v}, err
			})
			pt.Checks = append(pt.Checks, c)
		}
	}
	if pt.Status == "" {
		pt.Status = StatusOK
		for _, c := range pt.Checks {
			if !c.OK {
				pt.Status = StatusFailed
			}
		}
	}
	pt.End = time.Now().UTC()
	tl.Emit("run-end", map[string]any{"status": pt.Status})
	tl.write()
	writeJSON(filepath.Join(pl.Dir, "summary.json"), pt)
}

func check(e *experiment.Expectation, lookup experiment.Lookup) Check {
	ok, detail, err := experiment.Eval(e.Expr, lookup)
	c := Check{Text: e.Text, OK: ok && err == nil, Detail: detail}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}

// metric reads KEY from an instance's summary; nested objects are reached
// with dots (latency.p99).
func metric(pt *Point, inst, key string) (float64, error) {
	for _, in := range pt.Instances {
		if in.Name != inst {
			continue
		}
		var v any = in.Summary
		for _, part := range strings.Split(key, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return 0, fmt.Errorf("%s reported no %q", inst, key)
			}
			v = m[part]
		}
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("%s reported no number %q", inst, key)
		}
		return f, nil
	}
	return 0, fmt.Errorf("no instance %q in this run", inst)
}

// compareAll checks the experiment's cross-run expectations: a reference
// with a selector ([streams=4]) takes every run whose sweep values match and
// whose roles all succeeded (its own expectations may have failed).
func compareAll(exp *experiment.Experiment, runs []*Point) []Check {
	var out []Check
	for _, e := range exp.Compare {
		out = append(out, check(e, func(inst, key string, sel map[string]string) ([]float64, error) {
			var vals []float64
			for _, pt := range runs {
				if pt.Error != "" || !(experiment.Point{Values: pt.Values}).Matches(sel) {
					continue
				}
				v, err := metric(pt, inst, key)
				if err != nil {
					return nil, err
				}
				vals = append(vals, v)
			}
			if len(vals) == 0 {
				return nil, fmt.Errorf("no run whose roles all succeeded matches %s.%s%s", inst, key, selectorText(sel))
			}
			return vals, nil
		}))
	}
	return out
}

func selectorText(sel map[string]string) string {
	var parts []string
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, ",") + "]"
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
