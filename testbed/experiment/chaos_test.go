package experiment

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChaosScheduleIsSeededAndInsideTheWindow(t *testing.T) {
	c := &Chaos{Count: 5, For: time.Second, Faults: []*FaultSpec{
		{Code: "net.link_down", Target: "a:eth1"},
		{Code: "node.pause", Target: "b"},
	}}
	a := c.Schedule(10*time.Second, 42)
	b := c.Schedule(10*time.Second, 42)
	require.Equal(t, a, b, "the same seed draws the same schedule")
	require.Len(t, a, 5)
	for i, f := range a {
		require.GreaterOrEqual(t, f.At, time.Duration(0))
		require.LessOrEqual(t, f.At+f.For, 10*time.Second, "inside the window")
		require.Equal(t, time.Second, f.For)
		if i > 0 {
			require.GreaterOrEqual(t, f.At, a[i-1].At, "sorted by time")
		}
	}
	other := c.Schedule(10*time.Second, 43)
	require.NotEqual(t, a, other, "another seed, another schedule")
	c.Seed = 7
	require.Equal(t, c.Schedule(10*time.Second, 1), c.Schedule(10*time.Second, 2), "chaos.seed overrides the run's seed")
}

func TestParseChaosAndEvery(t *testing.T) {
	e, err := Parse([]byte(`name: x
claim: y
topology: {generate: {shape: single, hosts: 2}}
duration: 10s
roles:
  s: {role: traffic, node: h1}
faults:
  - {code: net.link_down, target: "h1:eth1", at: 1s, for: 200ms, every: 2s}
chaos:
  seed: 3
  count: 4
  for: 500ms
  faults:
    - {code: node.pause, target: h2}
`), "x.yaml", nil)
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, e.Faults[0].Every)
	require.Equal(t, 4, e.Chaos.Count)
	require.Len(t, e.Chaos.Faults, 1)

	_, err = Parse([]byte(`name: x
claim: y
topology: {generate: {shape: single, hosts: 2}}
duration: 10s
roles:
  s: {role: traffic, node: h1}
faults:
  - {code: net.link_down, target: "h1:eth1", at: 1s, for: 2s, every: 1s}
chaos: {count: 2}
`), "x.yaml", nil)
	require.Error(t, err)
	for _, want := range []string{"x.yaml:8:70: faults[0]: every 1s must be longer than for 2s", "chaos: missing or empty for", "chaos: missing faults"} {
		require.Contains(t, err.Error(), want)
	}
}

// TestChaosGapAndEachCode: with gap, faults come one at a time with at
// least gap of quiet before each, inside the window; each-code rounds use
// every code once per round on varying targets.
func TestChaosGapAndEachCode(t *testing.T) {
	var cands []*FaultSpec
	for _, code := range []string{"node.pause", "net.rate", "net.loss"} {
		for _, tg := range []string{"h1", "h2", "h3", "h4"} {
			cands = append(cands, &FaultSpec{Code: code, Target: tg})
		}
	}
	c := &Chaos{Count: 6, For: 2 * time.Second, Gap: 3 * time.Second, Pick: PickEachCode, Faults: cands}
	targets := map[string]bool{}
	for seed := int64(1); seed <= 20; seed++ {
		s := c.Schedule(40*time.Second, seed)
		require.Len(t, s, 6)
		for round := range 2 {
			codes := map[string]bool{}
			for _, f := range s[3*round : 3*round+3] {
				codes[f.Code] = true
				targets[f.Target] = true
			}
			require.Len(t, codes, 3, "seed %d round %d: every code once", seed, round)
		}
		quietFrom := time.Duration(0)
		for _, f := range s {
			require.GreaterOrEqual(t, f.At-quietFrom, 3*time.Second, "seed %d: a gap before %s", seed, f.Name)
			quietFrom = f.At + f.For
		}
		require.LessOrEqual(t, quietFrom, 40*time.Second, "inside the window")
	}
	require.Len(t, targets, 4, "targets vary across seeds")

	_, err := Parse([]byte(`name: x
topology: {generate: {shape: single, hosts: 2}}
duration: 10s
roles: {a: {role: traffic, node: h1, params: {mode: server}}}
chaos: {count: 3, for: 2s, gap: 2s, pick: every, faults: [{code: node.pause, target: h1}]}
`), "x.yaml", nil)
	require.Error(t, err)
	for _, want := range []string{"chaos: 3 faults of 2s, each after a gap of 2s, need 12s; duration is 10s", `chaos.pick must be uniform or each-code, got "every"`} {
		require.Contains(t, err.Error(), want)
	}
}
