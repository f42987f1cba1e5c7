package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

// TestScoreDiagnoses: detection windows, localization per fault kind and
// false alarms, on hand-made ground truth.
func TestScoreDiagnoses(t *testing.T) {
	top := &topo.Topology{
		Nodes: []*topo.Node{{Name: "h1"}, {Name: "h2"}, {Name: "h3"}, {Name: "s1", Kind: "bridge"}},
		Links: []*topo.Link{
			{A: topo.Endpoint{Node: "h1", Iface: "eth1"}, B: topo.Endpoint{Node: "h2", Iface: "eth2"}},
			{A: topo.Endpoint{Node: "h3", Iface: "eth1"}, B: topo.Endpoint{Node: "s1", Iface: "p3"}},
		},
	}
	const s = 1e9
	mk := func(code, target string, params map[string]any, start, end float64) groundTruth {
		g := groundTruth{Code: code, Target: target, Name: code, Start: start * s, End: end * s}
		g.locate(params, top, map[string]bool{"h1": true, "h2": true, "h3": true})
		return g
	}
	truths := []groundTruth{
		mk("node.pause", "h2", nil, 10, 14),                            // hang, right node
		mk("net.rate", "h1:eth1", nil, 20, 24),                         // p2p link h1-h2
		mk("net.blackhole", "h3", map[string]any{"dst": "h1"}, 30, 34), // pair h3-h1, wrong link named
		mk("net.loss", "h3:eth1", nil, 40, 44),                         // peer is a bridge: any link of h3
		mk("node.cpu_straggler", "h1", nil, 50, 54),                    // never detected
	}
	require.True(t, truths[0].Hang)
	require.Equal(t, []string{"h1", "h2"}, truths[1].Ends)
	require.Equal(t, []string{"h3", "h1"}, truths[2].Ends)
	require.Equal(t, []string{"h3"}, truths[3].Ends)
	ds := []diagnosis{
		{Mono: 5 * s, Class: "link-slow", FromNode: "h1", ToNode: "h2"}, // before any fault: false alarm
		{Mono: 11.2 * s, Kind: "hang", Class: "rank-stalled", Node: "h2"},
		{Mono: 25.5 * s, Class: "link-slow", FromNode: "h2", ToNode: "h1"}, // within the grace, other direction: correct
		{Mono: 31 * s, Kind: "hang", Class: "link-stalled", FromNode: "h2", ToNode: "h3"},
		{Mono: 41 * s, Class: "link-slow", FromNode: "h3", ToNode: "h1"},
		{Mono: 47 * s, Class: "rank-stalled", Node: "h1"},                // 3 s after the loss ended: false alarm
		{Mono: 42 * s, Class: "link-slow", FromNode: "h2", ToNode: "h3"}, // a repeat in a matched window
	}
	rows, sc := score(truths, ds, 0)
	require.Len(t, rows, 7)
	require.Equal(t, 5.0, sc["faults"])
	require.Equal(t, 4.0, sc["detected"])
	require.Equal(t, 80.0, sc["detected_pct"])
	require.Equal(t, 3.0, sc["localized"])
	require.Equal(t, 60.0, sc["localized_pct"])
	require.Equal(t, 2.0, sc["false_alarms"])
	require.Equal(t, 1.0, sc["repeat_diagnoses"])
	require.Equal(t, 2.0, sc["hangs"])
	require.Equal(t, 100.0, sc["hangs_detected_pct"])
	require.Equal(t, 1200.0, sc["hang_detect_max_ms"])
	require.Equal(t, 5500.0, sc["detect_max_ms"])
	require.Equal(t, 0.0, sc["net_blackhole_localized_pct"])
	require.Equal(t, 100.0, sc["node_pause_localized_pct"])
	require.Equal(t, 0.0, sc["node_cpu_straggler_localized_pct"])
	require.False(t, rows[4].Detected)
	require.Equal(t, "link h2->h3", rows[2].Named)
}
