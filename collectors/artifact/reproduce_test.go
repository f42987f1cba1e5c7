package artifact

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/instance"
	"github.com/tbctl/tbctl/testbed/run"
)

func TestWithin(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name           string
		orig, new, tol float64
		diff           float64
		ok             bool
	}{
		{"equal", 50, 50, 0.1, 0, true},
		{"equal with no tolerance", 50, 50, 0, 0, true},
		{"just inside", 100, 109.9, 0.1, 0.099, true},
		{"on the edge above", 100, 110, 0.1, 0.1, true},
		{"on the edge below", 100, 90, 0.1, -0.1, true},
		{"just outside", 100, 110.01, 0.1, 0.1001, false},
		{"below", 100, 80, 0.1, -0.2, false},
		{"negative original", -10, -11, 0.1, -0.1, true},
		{"negative original, further", -10, -12, 0.1, -0.2, false},
		{"fractions", 0.3, 0.1 + 0.2, 0, 0, true},
		{"15% of 64", 64, 54.4, 0.15, -0.15, true},
		{"zero original, zero new", 0, 0, 0.1, 0, true},
		{"zero original, non-zero new", 0, 0.001, 0.5, math.Inf(1), false},
		{"zero original, negative new", 0, -1, 0.5, math.Inf(-1), false},
		{"NaN", nan, 1, 0.1, nan, false},
		{"NaN new", 1, nan, 0.1, nan, false},
		{"100% tolerance", 10, 20, 1, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diff, ok := Within(c.orig, c.new, c.tol)
			assert.Equal(t, c.ok, ok)
			switch {
			case math.IsNaN(c.diff):
				assert.True(t, math.IsNaN(diff))
			case math.IsInf(c.diff, 0):
				assert.Equal(t, c.diff, diff)
			default:
				assert.InDelta(t, c.diff, diff, 1e-9)
			}
		})
	}
}

func point(label string, values map[string]any, rep int, checks []run.Check, metrics map[string]map[string]any) *rundir.Point {
	p := &rundir.Point{Point: run.Point{Label: label, Values: values, Rep: rep, Checks: checks}}
	for name, summary := range metrics {
		p.Instances = append(p.Instances, &instance.Result{Name: name, Summary: summary})
	}
	return p
}

func TestCompare(t *testing.T) {
	chk := func(text string, ok bool, detail string) run.Check {
		return run.Check{Text: text, OK: ok, Detail: detail}
	}
	const e1, e2 = "flow1.throughput_mbps > 10", "probe.rtt.p99 < 50"
	orig := &rundir.Run{
		Manifest: run.Manifest{Experiment: "qs"},
		Points: []*rundir.Point{
			// Decoded from JSON: numbers are float64.
			point("streams=1,cc=cubic", map[string]any{"roles.flow1.params.streams": 1.0, "roles.flow1.params.cc": "cubic"}, 1,
				[]run.Check{chk(e1, true, "60 > 10"), chk(e2, true, "20 < 50")},
				map[string]map[string]any{"flow1": {"throughput_mbps": 60.0}, "probe": {"rtt": map[string]any{"p99": 20.0}}}),
			point("streams=4,cc=cubic", map[string]any{"roles.flow1.params.streams": 4.0, "roles.flow1.params.cc": "cubic"}, 1,
				[]run.Check{chk(e1, true, "80 > 10"), chk(e2, true, "30 < 50")},
				map[string]map[string]any{"flow1": {"throughput_mbps": 80.0}, "probe": {"rtt": map[string]any{"p99": 30.0}}}),
			point("streams=8,cc=cubic", map[string]any{"roles.flow1.params.streams": 8.0, "roles.flow1.params.cc": "cubic"}, 1,
				[]run.Check{chk(e1, true, "90 > 10")},
				map[string]map[string]any{"flow1": {"throughput_mbps": 90.0}}),
		},
		Index: rundir.Index{Compare: []run.Check{chk("flow1.throughput_mbps[streams=4] > flow1.throughput_mbps[streams=1]", true, "80 > 60")}},
	}
	rerun := &rundir.Run{
		Points: []*rundir.Point{
			// Another label text (key order) and ints: matched by values.
			point("cc=cubic,streams=4", map[string]any{"roles.flow1.params.cc": "cubic", "roles.flow1.params.streams": 4}, 1,
				[]run.Check{chk(e2, false, "55 < 50"), chk(e1, true, "70 > 10")},
				map[string]map[string]any{"flow1": {"throughput_mbps": 70.0}, "probe": {"rtt": map[string]any{"p99": 55.0}}}),
			point("cc=cubic,streams=1", map[string]any{"roles.flow1.params.cc": "cubic", "roles.flow1.params.streams": 1}, 1,
				[]run.Check{chk(e1, true, "63 > 10"), chk(e2, true, "21 < 50")},
				map[string]map[string]any{"flow1": {"throughput_mbps": 63.0}, "probe": {"rtt": map[string]any{"p99": 21.0}}}),
			point("cc=cubic,streams=2", map[string]any{"roles.flow1.params.cc": "cubic", "roles.flow1.params.streams": 2}, 1, nil, nil),
		},
		Index: rundir.Index{Compare: []run.Check{chk("flow1.throughput_mbps[streams=4] > flow1.throughput_mbps[streams=1]", true, "70 > 63")}},
	}
	c := Compare(orig, rerun, []string{"flow1.throughput_mbps", "probe.rtt.p99"}, 0.15)

	type row struct {
		run, expect string
		ok          bool
	}
	var checks []row
	for _, r := range c.Checks {
		checks = append(checks, row{r.Run, r.Expect, r.OK()})
	}
	assert.Equal(t, []row{
		{"streams=1,cc=cubic", e1, true}, {"streams=1,cc=cubic", e2, true},
		{"streams=4,cc=cubic", e1, true}, {"streams=4,cc=cubic", e2, false},
		{"streams=8,cc=cubic", e1, false}, // not rerun
		{AcrossRuns, "flow1.throughput_mbps[streams=4] > flow1.throughput_mbps[streams=1]", true},
	}, checks)
	assert.Equal(t, "80 > 10", c.Checks[2].Orig.Detail)
	assert.Equal(t, "70 > 10", c.Checks[2].New.Detail, "matched by text, not position")

	type mrow struct {
		run, metric string
		orig, new   float64
		within      bool
	}
	var metrics []mrow
	for _, r := range c.Metrics {
		metrics = append(metrics, mrow{r.Run, r.Metric, r.Orig, r.New, r.Within})
	}
	assert.Equal(t, []mrow{
		{"streams=1,cc=cubic", "flow1.throughput_mbps", 60, 63, true},
		{"streams=1,cc=cubic", "probe.rtt.p99", 20, 21, true},
		{"streams=4,cc=cubic", "flow1.throughput_mbps", 80, 70, true}, // -12.5%
		{"streams=4,cc=cubic", "probe.rtt.p99", 30, 55, false},
		{"streams=8,cc=cubic", "flow1.throughput_mbps", 90, 0, false},
		{"streams=8,cc=cubic", "probe.rtt.p99", 0, 0, false},
	}, metrics)
	assert.InDelta(t, -0.125, c.Metrics[2].Diff, 1e-12)
	assert.Contains(t, c.Metrics[5].OrigErr, `probe`)
	assert.Equal(t, []string{"streams=8,cc=cubic"}, c.Unmatched)
	assert.Equal(t, []string{"cc=cubic,streams=2"}, c.Extra)
	assert.Empty(t, c.Seeds)
	checksFailed, metricsFailed := c.Failures()
	assert.Equal(t, 2, checksFailed)
	assert.Equal(t, 3, metricsFailed)
	assert.False(t, c.OK())

	var b strings.Builder
	c.Write(&b)
	out := b.String()
	for _, want := range []string{
		"EXPECTATIONS of qs", "KEY METRICS of qs (tolerance 15%)",
		"pass (80 > 10)", "FAIL (55 < 50)", "not checked", "-12.5%", "+83.3%",
		"across runs", "run streams=8,cc=cubic of the original has no rerun",
	} {
		assert.Contains(t, out, want)
	}

	// A rerun that matches.
	same := Compare(orig, orig, []string{"flow1.throughput_mbps"}, 0)
	assert.True(t, same.OK())

	// Another seed for the same point is noted, not failed.
	rerun.Points[1].Seed = 99
	c = Compare(orig, rerun, nil, 0.15)
	assert.Equal(t, []string{"streams=1,cc=cubic: original seed 0, rerun seed 99"}, c.Seeds)
	b.Reset()
	c.Write(&b)
	assert.Contains(t, b.String(), "note: 1 run(s) ran with another seed")
}

func TestKeyMetrics(t *testing.T) {
	e, err := experiment.Parse([]byte(`name: k
claim: c
topology: {file: t.yaml}
duration: 1s
roles:
  flow1: {role: traffic, node: h1}
  flow2: {role: traffic, node: h2}
  probe: {role: traffic, node: h1}
sweep:
  cartesian:
    roles.flow1.params.streams: [1, 4]
expect:
  - flow1.throughput_mbps + flow2.throughput_mbps > 80
  - traffic.probe.rtt_p99_ms < 45 and flow2.throughput_mbps > 2
compare:
  - median(flow1.throughput_mbps[streams=4]) > flow1.retransmits[streams=1]
reproduce:
  tolerance: 15%
  metrics: [probe.rtt_p50_ms, flow1.throughput_mbps]
`), "/x/k.yaml", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"probe.rtt_p50_ms", "flow1.throughput_mbps"}, KeyMetrics(e), "reproduce.metrics, when given, are the key metrics")
	e.Reproduce.Metrics = nil
	assert.Equal(t, []string{"flow1.throughput_mbps", "flow2.throughput_mbps", "probe.rtt_p99_ms", "flow1.retransmits"}, KeyMetrics(e), "else those the expectations name")
}

// Points are matched by their values whatever the label says.
func TestPointKey(t *testing.T) {
	a := rundir.PointKey(map[string]any{"roles.f.params.streams": 4, "roles.f.params.cc": "reno"}, 1)
	b := rundir.PointKey(map[string]any{"roles.f.params.cc": "reno", "roles.f.params.streams": 4.0}, 1)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, rundir.PointKey(map[string]any{"roles.f.params.cc": "reno", "roles.f.params.streams": 4}, 2))
	assert.NotEqual(t, a, rundir.PointKey(map[string]any{"roles.f.params.cc": "reno", "roles.f.params.streams": "4"}, 1), "the string 4 is not the number 4")
	assert.Equal(t, rundir.PointKey(nil, 1), rundir.PointKey(map[string]any{}, 1))
}
