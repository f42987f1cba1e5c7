package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/experiment"
)

func TestSubdirAndLabels(t *testing.T) {
	p := &Plan{Exp: &experiment.Experiment{Repetitions: 2}, Point: experiment.Point{Index: 2, Label: "streams=4,cc=reno"}, Rep: 2}
	require.Equal(t, "p03-streams=4,cc=reno/r02", p.Subdir(8))
	require.Equal(t, ".", p.Subdir(1))
	require.Equal(t, "streams=4,cc=reno rep 2", p.Label())
	require.Equal(t, "run", (&Plan{Exp: &experiment.Experiment{Repetitions: 1}}).Label())
	name := labName("a-very-long-experiment-name", "20261123T000000Z-beef", 12)
	require.Equal(t, "a-very-long-experime-beef-12", name)
	require.LessOrEqual(t, len(name), 40)
}

func TestWindowMetricsTakeMediansPerWindow(t *testing.T) {
	tl := &timeline{}
	tl.events = []map[string]any{
		{"event": "fault-applied", "id": "f1", "name": "rate", "mono_ns": float64(2e9)},
		{"event": "fault-reverted", "id": "f1", "mono_ns": float64(4e9)},
		{"event": "fault-applied", "id": "f2", "mono_ns": float64(5e9)}, // unnamed: no window
	}
	wins := faultWindows(tl)
	require.Equal(t, []window{{name: "rate", start: 2e9, end: 4e9}}, wins)

	// A series starting at t=0 with 1 s points: 100 before, 10 during (one
	// straddling outlier), 90 after.
	var pts []map[string]any
	for i, v := range []float64{100, 100, 10, 500, 10, 90, 90} {
		pts = append(pts, map[string]any{"t_s": float64(i), "mbps": v})
	}
	require.Equal(t, map[string]float64{"mbps": 100}, medians(pts, 0, 0, 2e9))
	require.Equal(t, map[string]float64{"mbps": 255}, medians(pts, 0, 2e9, 4e9), "two points: their mean")
	require.Equal(t, map[string]float64{"mbps": 10}, medians(pts, 0, 2e9, 5e9), "the straddling 500 does not dominate")
	require.Empty(t, medians(pts, 0, 10e9, 12e9))
}
