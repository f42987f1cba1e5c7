package experiment

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

func TestCollectDefaults(t *testing.T) {
	e, err := Parse([]byte(headRoles), "t.yaml", nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultCollectInterval, e.Collect.Interval)
	assert.Equal(t, DefaultSources, e.Collect.Sources)
	assert.Equal(t, DefaultScrape, e.Collect.Scrape)
	assert.True(t, e.Collect.Has("netdev"))
	assert.False(t, e.Collect.Has("qdisc"))
	assert.Empty(t, e.Collect.Captures)
}

func TestCollectSection(t *testing.T) {
	doc := headRoles + `collect:
  interval: 250ms
  scrape: 2s
  sources: [netdev, prom]
  capture:
    - {target: "r1:eth2", snaplen: 96, max_bytes: 2MiB, max_packets: 500, for: 3s}
    - {target: "h1:eth1"}
`
	e, err := Parse([]byte(doc), "t.yaml", nil)
	require.NoError(t, err)
	c := e.Collect
	assert.Equal(t, 250*time.Millisecond, c.Interval)
	assert.Equal(t, 2*time.Second, c.Scrape)
	assert.Equal(t, []string{"netdev", "prom"}, c.Sources)
	assert.False(t, c.Has("cgroup"))
	require.Len(t, c.Captures, 2)
	assert.Equal(t, Capture{Node: "r1", Iface: "eth2", SnapLen: 96, MaxBytes: 2 << 20, MaxPackets: 500, For: 3 * time.Second}, *c.Captures[0])
	assert.Equal(t, Capture{Node: "h1", Iface: "eth1", SnapLen: DefaultSnapLen, MaxBytes: DefaultMaxBytes}, *c.Captures[1])

	off, err := Parse([]byte(headRoles+"collect: {interval: off}\n"), "t.yaml", nil)
	require.NoError(t, err)
	assert.False(t, off.Collect.Has("netdev"))
}

func TestCollectBadInputs(t *testing.T) {
	cases := []struct {
		name, yaml, msg string
		line, col       int
	}{
		{"unknown field", "collect: {intervall: 1s}\n", `unknown field "intervall" (did you mean "interval"?)`, 8, 11},
		{"interval too short", "collect: {interval: 1ms}\n", "collect.interval 1ms is too short", 8, 21},
		{"scrape too short", "collect: {scrape: 1ms}\n", "collect.scrape 1ms is too short", 8, 19},
		{"unknown source", "collect: {sources: [netdev, qdsic]}\n", `unknown source "qdsic" (did you mean "qdisc"?)`, 8, 29},
		{"sources not a list", "collect: {sources: netdev}\n", "collect.sources: expected a list", 8, 20},
		{"capture not a list", "collect: {capture: {target: r1:eth1}}\n", "collect.capture: expected a list", 8, 20},
		{"capture without target", "collect: {capture: [{snaplen: 64}]}\n", "missing target", 8, 21},
		{"capture target without iface", "collect: {capture: [{target: r1}]}\n", `collect.capture[0].target "r1" is not NODE:IFACE`, 8, 30},
		{"snaplen out of range", "collect: {capture: [{target: \"r1:eth1\", snaplen: 4}]}\n", "collect.capture[0].snaplen 4 is out of range", 8, 50},
		{"bad size", "collect: {capture: [{target: \"r1:eth1\", max_bytes: lots}]}\n", `collect.capture[0].max_bytes: "lots" is not a positive size`, 8, 52},
		{"zero packets", "collect: {capture: [{target: \"r1:eth1\", max_packets: 0}]}\n", "max_packets 0 is not positive", 8, 54},
		{"bad for", "collect: {capture: [{target: \"r1:eth1\", for: soon}]}\n", `collect.capture[0].for: "soon" is not a duration`, 8, 46},
		{"captured twice", "collect: {capture: [{target: \"r1:eth1\"}, {target: \"r1:eth1\"}]}\n", "r1:eth1 is captured twice", 8, 42},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(headRoles+c.yaml), "t.yaml", nil)
			require.Error(t, err)
			var probs topo.Problems
			require.True(t, errors.As(err, &probs), "error is %T", err)
			for _, p := range probs {
				if strings.Contains(p.String(), c.msg) {
					assert.Equal(t, topo.Pos{File: "t.yaml", Line: c.line, Col: c.col}, p.Pos, "problem %q", p)
					return
				}
			}
			t.Errorf("no problem contains %q; got:\n%s", c.msg, err)
		})
	}
}
