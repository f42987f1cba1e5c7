package experiment

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const full = `name: quickstart
claim: "Two TCP flows share a bottleneck fairly and a probe sees bounded latency"
topology:
  file: ../topologies/demo.yaml
provider: netns
duration: 10s
warmup: 2s
repetitions: 2
seed: 7
roles:
  server:
    role: traffic
    node: h3
    params: {mode: server}
  flow1:
    role: traffic
    node: h1
    after: [server]
    params: {mode: tcp, target: h3, streams: 1}
  probe:
    role: ping
    node: h2
    after: server
sweep:
  cartesian:
    roles.flow1.params.streams: [1, 4]
    roles.flow1.params.cc: [cubic, reno]
  zip:
    roles.probe.params.rate: [10, 100]
    roles.probe.params.size: [64, 1024]
expect:
  - flow1.throughput_mbps > 100
  - "probe.rtt_p99_ms < 50"
compare:
  - flow1.throughput_mbps[streams=4] >= 0.8 * flow1.throughput_mbps[streams=1]
`

func mustParse(t *testing.T, doc string, sets ...string) *Experiment {
	t.Helper()
	e, err := Parse([]byte(doc), "/exp/quick/exp.yaml", sets)
	require.NoError(t, err)
	return e
}

func TestParseFull(t *testing.T) {
	e := mustParse(t, full)
	assert.Equal(t, "quickstart", e.Name)
	assert.Contains(t, e.Claim, "bottleneck")
	assert.Equal(t, "/exp/topologies/demo.yaml", e.Topology.File)
	assert.Nil(t, e.Topology.Generate)
	assert.Equal(t, "netns", e.Provider)
	assert.Equal(t, 10*time.Second, e.Duration)
	assert.Equal(t, 2*time.Second, e.Warmup)
	assert.Equal(t, 2, e.Repetitions)
	assert.Equal(t, int64(7), e.Seed)
	assert.Equal(t, "/exp/quick/exp.yaml", e.File)

	require.Len(t, e.Roles, 3)
	assert.Equal(t, []string{"server", "flow1", "probe"}, []string{e.Roles[0].Name, e.Roles[1].Name, e.Roles[2].Name})
	flow := e.Instance("flow1")
	assert.Equal(t, "traffic", flow.Role)
	assert.Equal(t, "h1", flow.Node)
	assert.Equal(t, []string{"server"}, flow.After)
	assert.Equal(t, map[string]any{"mode": "tcp", "target": "h3", "streams": 1}, flow.Params)
	assert.Equal(t, 15, flow.Pos.Line)
	assert.Equal(t, 3, flow.Pos.Col)
	assert.Equal(t, []string{"server"}, e.Instance("probe").After)
	assert.Equal(t, map[string]any{}, e.Instance("probe").Params)

	require.Len(t, e.Sweep.Cartesian, 2)
	assert.Equal(t, "roles.flow1.params.streams", e.Sweep.Cartesian[0].Path)
	assert.Equal(t, []any{1, 4}, e.Sweep.Cartesian[0].Values)
	assert.Equal(t, []any{"cubic", "reno"}, e.Sweep.Cartesian[1].Values)
	assert.Equal(t, 26, e.Sweep.Cartesian[0].Pos.Line)
	require.Len(t, e.Sweep.Zip, 2)
	assert.Equal(t, []any{64, 1024}, e.Sweep.Zip[1].Values)

	require.Len(t, e.Expect, 2)
	assert.Equal(t, "flow1.throughput_mbps > 100", e.Expect[0].Text)
	assert.Equal(t, "flow1.throughput_mbps > 100", e.Expect[0].Expr.String())
	assert.Equal(t, 32, e.Expect[0].Pos.Line)
	require.Len(t, e.Compare, 1)
	assert.Equal(t, []Ref{
		{Instance: "flow1", Key: "throughput_mbps", Selector: map[string]string{"streams": "4"}},
		{Instance: "flow1", Key: "throughput_mbps", Selector: map[string]string{"streams": "1"}},
	}, Refs(e.Compare[0].Expr))

	assert.Equal(t, "quickstart", e.Doc["name"])
	assert.Equal(t, 1, e.Doc["roles"].(map[string]any)["flow1"].(map[string]any)["params"].(map[string]any)["streams"])
}

func TestDefaultsAndOtherSources(t *testing.T) {
	e := mustParse(t, `name: g
claim: c
topology:
  generate: {shape: dumbbell, hosts: 3}
duration: 1m
roles:
  a: {role: traffic, node: h1}
`)
	assert.Equal(t, DefaultProvider, e.Provider)
	assert.Equal(t, 1, e.Repetitions)
	assert.Equal(t, int64(1), e.Seed)
	assert.Zero(t, e.Warmup)
	assert.Equal(t, &Generate{Shape: "dumbbell", Hosts: 3}, e.Topology.Generate)
	assert.Len(t, e.Points(), 1)

	e = mustParse(t, `name: i
claim: c
topology:
  inline: {name: x, topology: {nodes: {h1: {}}}}
duration: 1s
roles:
  a: {role: traffic, node: h1}
`)
	assert.Equal(t, map[string]any{"name": "x", "topology": map[string]any{"nodes": map[string]any{"h1": map[string]any{}}}}, e.Topology.Inline)
}

func TestLoadResolvesTopologyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "exp.yaml")
	require.NoError(t, os.WriteFile(path, []byte(full), 0o644))
	e, err := Load(path, nil)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(filepath.Dir(dir), "topologies", "demo.yaml"), e.Topology.File)
	_, err = Load(filepath.Join(dir, "missing.yaml"), nil)
	assert.Error(t, err)
}

func TestPoints(t *testing.T) {
	base := "name: s\nclaim: c\ntopology: {file: t.yaml}\nduration: 1s\nroles:\n  a: {role: r, node: h1, params: {x: 1}}\n  b: {role: r, node: h2}\n"
	cartesian := "  cartesian:\n    roles.a.params.streams: [1, 4]\n    roles.a.params.cc: [cubic, reno]\n"
	zip := "  zip:\n    roles.b.params.rate: [10, 100]\n    roles.b.params.size: [64, 1024]\n"

	e := mustParse(t, base+"sweep:\n"+cartesian)
	var labels []string
	for i, p := range e.Points() {
		assert.Equal(t, i, p.Index)
		labels = append(labels, p.Label)
	}
	assert.Equal(t, []string{"streams=1,cc=cubic", "streams=1,cc=reno", "streams=4,cc=cubic", "streams=4,cc=reno"}, labels)
	assert.Equal(t, map[string]any{"roles.a.params.streams": 4, "roles.a.params.cc": "reno"}, e.Points()[3].Values)

	e = mustParse(t, base+"sweep:\n"+zip)
	labels = nil
	for _, p := range e.Points() {
		labels = append(labels, p.Label)
	}
	assert.Equal(t, []string{"rate=10,size=64", "rate=100,size=1024"}, labels)

	e = mustParse(t, base+"sweep:\n"+cartesian+zip)
	points := e.Points()
	require.Len(t, points, 8)
	assert.Equal(t, "streams=1,cc=cubic,rate=10,size=64", points[0].Label)
	assert.Equal(t, "streams=1,cc=cubic,rate=100,size=1024", points[1].Label)
	assert.Equal(t, "streams=4,cc=reno,rate=100,size=1024", points[7].Label)
	assert.True(t, points[7].Matches(map[string]string{"streams": "4", "rate": "100"}))
	assert.True(t, points[7].Matches(map[string]string{"roles.a.params.cc": "reno"}))
	assert.False(t, points[7].Matches(map[string]string{"streams": "1"}))
	assert.False(t, points[7].Matches(map[string]string{"nope": "1"}))

	e = mustParse(t, base)
	points = e.Points()
	require.Len(t, points, 1)
	assert.Equal(t, Point{Index: 0, Values: map[string]any{}, Label: ""}, points[0])
	assert.True(t, points[0].Matches(nil))
}

func TestAt(t *testing.T) {
	e := mustParse(t, full)
	points := e.Points()
	at, err := e.At(points[7])
	require.NoError(t, err)
	assert.Equal(t, 4, at.Instance("flow1").Params["streams"])
	assert.Equal(t, "reno", at.Instance("flow1").Params["cc"])
	assert.Equal(t, 100, at.Instance("probe").Params["rate"])
	assert.Equal(t, 4, at.Doc["roles"].(map[string]any)["flow1"].(map[string]any)["params"].(map[string]any)["streams"])

	// the original is unchanged
	assert.Equal(t, 1, e.Instance("flow1").Params["streams"])
	assert.NotContains(t, e.Instance("flow1").Params, "cc")
	assert.NotContains(t, e.Instance("probe").Params, "rate")

	d := mustParse(t, "name: s\nclaim: c\ntopology: {file: t.yaml}\nduration: 10s\nwarmup: 1s\nroles:\n  a: {role: r, node: h1}\nsweep:\n  cartesian:\n    duration: [5s, 20s]\n")
	at, err = d.At(d.Points()[1])
	require.NoError(t, err)
	assert.Equal(t, 20*time.Second, at.Duration)
	assert.Equal(t, 10*time.Second, d.Duration)

	_, err = d.At(Point{Values: map[string]any{"seed": 3}})
	assert.ErrorContains(t, err, "not swept")
}

func TestSeedFor(t *testing.T) {
	e := mustParse(t, full)
	seen := map[int64][2]int{}
	for p := 0; p < 100; p++ {
		for r := 0; r < 20; r++ {
			s := e.SeedFor(p, r)
			assert.GreaterOrEqual(t, s, int64(0))
			if prev, dup := seen[s]; dup {
				t.Fatalf("seed of (%d,%d) equals that of %v", p, r, prev)
			}
			seen[s] = [2]int{p, r}
		}
	}
	again := mustParse(t, full)
	assert.Equal(t, e.SeedFor(3, 1), again.SeedFor(3, 1))
	other := mustParse(t, full, "seed=8")
	assert.NotEqual(t, e.SeedFor(3, 1), other.SeedFor(3, 1))
}

func TestStartOrder(t *testing.T) {
	e := mustParse(t, `name: o
claim: c
topology: {file: t.yaml}
duration: 1s
roles:
  c: {role: r, node: h1, after: [a, b]}
  a: {role: r, node: h1}
  b: {role: r, node: h1, after: [a]}
  d: {role: r, node: h1}
  e: {role: r, node: h1, after: [a]}
`)
	waves, err := e.StartOrder()
	require.NoError(t, err)
	var names [][]string
	for _, w := range waves {
		var ns []string
		for _, in := range w {
			ns = append(ns, in.Name)
		}
		names = append(names, ns)
	}
	assert.Equal(t, [][]string{{"a", "d"}, {"b", "e"}, {"c"}}, names)

	e.Instance("a").After = []string{"c"}
	_, err = e.StartOrder()
	assert.ErrorContains(t, err, "start order cycle: c after a after c")
	assert.ErrorContains(t, err, "6:3")
}

func TestSet(t *testing.T) {
	e := mustParse(t, full,
		"roles.flow1.params.streams=8",
		"roles.flow1.params.cc=bbr",
		"roles.server.params.ports=[5201, 5202]",
		"duration=30s",
		"repetitions=5",
		"roles.probe.params.rate=10",
	)
	flow := e.Instance("flow1")
	assert.Equal(t, 8, flow.Params["streams"])
	assert.Equal(t, "bbr", flow.Params["cc"])
	assert.Equal(t, []any{5201, 5202}, e.Instance("server").Params["ports"])
	assert.Equal(t, 10, e.Instance("probe").Params["rate"], "params mapping created")
	assert.Equal(t, 30*time.Second, e.Duration)
	assert.Equal(t, 5, e.Repetitions)
	assert.Equal(t, 5, e.Doc["repetitions"])

	at, err := e.At(e.Points()[0])
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, at.Duration, "At keeps the --set values")
	assert.Equal(t, "cubic", at.Instance("flow1").Params["cc"], "the sweep wins over --set")

	for _, c := range []struct{ set, msg string }{
		{"roles.nosuch.params.x=1", "--set roles.nosuch.params.x: roles.nosuch does not exist"},
		{"duration", `malformed --set "duration": expected KEY=VALUE`},
		{"duration=ten", `"ten" is not a duration`},
		{"nmae=x", `unknown field "nmae" (did you mean "name"?)`},
		{"duration.x=1", "duration is the string"},
		{"roles.flow1.after.3=x", "roles.flow1.after has no element"},
	} {
		_, err := Parse([]byte(full), "exp.yaml", []string{c.set})
		require.Error(t, err, c.set)
		assert.Contains(t, err.Error(), "--set: ", c.set)
		assert.Contains(t, err.Error(), c.msg, c.set)
	}
}

func TestReproduce(t *testing.T) {
	base := "name: r\nclaim: c\ntopology: {file: t.yaml}\nduration: 1s\nroles:\n  a: {role: r, node: h1}\n  b: {role: r, node: h2}\nexpect:\n  - a.x > 1\n"
	e := mustParse(t, base)
	assert.Equal(t, DefaultTolerance, e.Reproduce.Tolerance, "10% when not written")
	assert.Empty(t, e.Reproduce.Metrics)

	e = mustParse(t, base+"reproduce:\n  tolerance: 15%\n  metrics: [b.y, a.latency.p99]\n")
	assert.InDelta(t, 0.15, e.Reproduce.Tolerance, 1e-12)
	assert.Equal(t, []string{"b.y", "a.latency.p99"}, e.Reproduce.Metrics)
	assert.Equal(t, 11, e.Reproduce.Pos.Line)
	assert.Equal(t, map[string]any{"tolerance": "15%", "metrics": []any{"b.y", "a.latency.p99"}}, e.Doc["reproduce"], "kept in the document, so run directories rerun with it")

	e = mustParse(t, base+"reproduce: {tolerance: 2.5 %}\n")
	assert.InDelta(t, 0.025, e.Reproduce.Tolerance, 1e-12)
	e = mustParse(t, base, "reproduce={tolerance: 0%}")
	assert.Zero(t, e.Reproduce.Tolerance)
}
