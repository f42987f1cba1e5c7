package integration

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/pcap"
)

// Every collector on a real lab: interface counters, qdiscs, per-node
// cgroups and role metrics in metrics.jsonl, and a pcapng capture of the
// link that holds the flow's packets; the cgroups are gone afterwards.
func TestCollectorsAndCapture(t *testing.T) {
	needRoot(t)
	exp := writeFile(t, "collect.yaml", `name: it-collect
claim: every collector measures a two-node lab
topology:
  inline:
    name: it-collect
    addressing: {}
    topology:
      nodes: {a: {}, b: {}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}]
duration: 2s
collect:
  sources: [netdev, qdisc, cgroup, prom]
  scrape: 200ms
  capture:
    - {target: "a:eth1", snaplen: 80, max_packets: 2000}
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
  flow: {role: traffic, node: a, after: [sink], params: {mode: tcp, target: b}}
`)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", exp, "--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "it-collect")

	seen := map[string]bool{}
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cpuB float64
	for sc.Scan() {
		var s struct {
			Source, Node, Object, Metric string
			Value                        float64
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s), sc.Text())
		seen[s.Source] = true
		if s.Source == "cgroup" && s.Node == "b" && s.Metric == "cpu_usage_ns" && s.Value > cpuB {
			cpuB = s.Value
		}
		if s.Source == "prom" {
			require.Contains(t, []string{"sink", "flow"}, s.Object)
		}
	}
	for _, src := range []string{"netdev", "qdisc", "cgroup", "prom"} {
		require.True(t, seen[src], "no %s samples", src)
	}
	require.Greater(t, cpuB, 1e6, "the server on b used CPU, and its cgroup saw it")

	requireFlowCapture(t, filepath.Join(dir, "captures", "a-eth1.pcapng"), "eth1", 80, 2000)
	events, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	require.Contains(t, string(events), `"reason":"max-packets"`)

	// The per-node cgroups are removed with the lab.
	for _, h := range []string{"/sys/fs/cgroup/cpuacct/tbctl", "/sys/fs/cgroup/memory/tbctl", "/sys/fs/cgroup/tbctl"} {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			require.False(t, strings.HasPrefix(e.Name(), "it-collect"), "%s/%s left behind", h, e.Name())
		}
	}
}

// requireFlowCapture checks a capture of a link that carried a TCP flow
// of the lab (198.18.0.0/15): one interface, iface; exactly packets
// packets (its max_packets), none longer than snaplen, most of them the
// flow's.
func requireFlowCapture(t *testing.T, path, iface string, snaplen, packets int) {
	t.Helper()
	got, ifaces, err := pcap.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, ifaces, 1)
	require.Equal(t, iface, ifaces[0].Name)
	require.Len(t, got, packets, "the capture stops at max_packets")
	var tcp int
	for _, p := range got {
		require.LessOrEqual(t, len(p.Data), snaplen)
		if len(p.Data) >= 34 && p.Data[12] == 0x08 && p.Data[13] == 0x00 && p.Data[23] == 6 {
			src, _ := netip.AddrFromSlice(p.Data[26:30])
			require.True(t, netip.MustParsePrefix("198.18.0.0/15").Contains(src), "source %s", src)
			tcp++
		}
	}
	require.Greater(t, tcp, packets/2, "the flow's TCP packets are in the capture")
}
