package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// metricsSeen reads a run's metrics.jsonl: the largest value of each
// source/node/object/metric.
func metricsSeen(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	seen := map[string]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var s struct {
			Source, Node, Object, Metric string
			Value                        float64
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s), sc.Text())
		k := s.Source + "/" + s.Node + "/" + s.Object + "/" + s.Metric
		seen[k] = max(seen[k], s.Value)
	}
	return seen
}

// hasSample reports whether some key of seen starts with prefix, and the
// largest value among them.
func hasSample(seen map[string]float64, prefix string) (float64, bool) {
	v, ok := 0.0, false
	for k, x := range seen {
		if strings.HasPrefix(k, prefix) {
			v, ok = max(v, x), true
		}
	}
	return v, ok
}

// TestCollectorsOnSSHHosts runs every collector on a lab whose two nodes
// are on two hosts reached over SSH, joined by a VXLAN tunnel: the hosts
// sample counters, qdiscs and per-node cgroups, scrape the roles' metrics
// (served on loopback inside the nodes, as these have no management
// network) and capture packets, exactly as on the netns provider; the
// samples stream into metrics.jsonl, the capture comes back into
// captures/, and nothing (cgroups included) is left on the hosts.
func TestCollectorsOnSSHHosts(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	inv := writeInventory(t, hosts, client)
	exp := filepath.Join(filepath.Dir(inv), "collect-remote.yaml")
	require.NoError(t, os.WriteFile(exp, []byte(`name: it-rcollect
claim: every collector measures a two-node lab on two hosts
topology:
  inline:
    name: it-rcollect
    addressing: {}
    remote: {inventory: hosts.yaml, place: {a: a, b: c}}
    topology:
      nodes: {a: {}, b: {}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}]
duration: 2s
collect:
  sources: [netdev, qdisc, cgroup, prom]
  scrape: 200ms
  capture:
    - {target: "b:eth1", snaplen: 80, max_packets: 2000}
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
  flow: {role: traffic, node: a, after: [sink], params: {mode: tcp, target: b}}
`), 0o644))
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", exp, "--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "it-rcollect")

	seen := metricsSeen(t, dir)
	for _, p := range []string{"netdev/a/eth1/tx_bytes", "netdev/b/eth1/rx_bytes", "qdisc/a/", "qdisc/b/", "cgroup/a//cpu_usage_ns", "prom/a/flow/", "prom/b/sink/"} {
		_, ok := hasSample(seen, p)
		require.True(t, ok, "no %s samples", p)
	}
	cpuB, _ := hasSample(seen, "cgroup/b//cpu_usage_ns")
	require.Greater(t, cpuB, 1e6, "the server on b used CPU, and its cgroup on host c saw it")
	tx, _ := hasSample(seen, "netdev/a/eth1/tx_bytes")
	require.Greater(t, tx, 1e6, "the flow crossed the tunnel")

	requireFlowCapture(t, filepath.Join(dir, "captures", "b-eth1.pcapng"), "eth1", 80, 2000)
	events, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	require.Contains(t, string(events), `"reason":"max-packets"`)
	require.Contains(t, string(events), `"host":"c"`, "the capture's events name its host")
	require.NotContains(t, string(events), "collect-skipped")

	var s runSummary
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	requireNoTraceOnHosts(t, hosts, s.Lab)
	for _, h := range []string{"/sys/fs/cgroup/cpuacct/tbctl", "/sys/fs/cgroup/memory/tbctl", "/sys/fs/cgroup/tbctl"} {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			require.False(t, strings.HasPrefix(e.Name(), s.Lab), "%s/%s left behind", h, e.Name())
		}
	}
}
