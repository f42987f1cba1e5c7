package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/provider/remote"
)

// hostNames are the inventory names of sshLab's hosts h1, h2, h3.
var hostNames = []string{"a", "b", "c"}

// writeInventory writes the inventory of sshLab's hosts. SSH goes over
// the management network, tunnels over the data plane: here the host's
// firewall (Docker's FORWARD policy, with bridge netfilter on) drops
// traffic between namespaces across the management bridge.
func writeInventory(t *testing.T, hosts []sshHost, client string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults: {user: root, identity: %s}\nhosts:\n", client)
	for i, h := range hosts {
		fmt.Fprintf(&b, "  %s: {address: %s, tunnel_address: %s, host_key: %q, labels: {rack: r%d}}\n", hostNames[i], h.addr, h.data, h.hostKey, i+1)
	}
	return writeFile(t, "hosts.yaml", b.String())
}

// keepHostBin removes the tbctl the remote provider copies to the hosts,
// after the test, unless this machine had one already: here the "hosts"
// share the controller's file system.
func keepHostBin(t *testing.T) {
	if _, err := os.Stat(remote.HostBin); err == nil {
		return
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(remote.HostBin)) })
}

// TestQuickstartOnSSHHostsEmulated runs the quickstart on three hosts
// reached over SSH (Debian's sshd in three namespaces): the left LAN on
// host a, both routers on b, the right LAN on c, so that both links into
// the routers are VXLAN tunnels between hosts. Every expectation of the
// quickstart must hold, the roles' files come back into the run
// directory, and nothing of the labs is left on any host.
func TestQuickstartOnSSHHostsEmulated(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	inv := writeInventory(t, hosts, client)
	src, err := os.ReadFile("../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	topoFile := filepath.Join(filepath.Dir(inv), "dumbbell-remote.yaml")
	require.NoError(t, os.WriteFile(topoFile, append(src, []byte(`
remote:
  inventory: hosts.yaml
  mode: emulated
  place: {h1: a, h2: a, sl: a, rl: b, rr: b, h3: c, h4: c, sr: c}
`)...), 0o644))

	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/quickstart.yaml", "--provider", "remote",
		"--set", "topology.file="+topoFile, "--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "quickstart")
	var idx struct {
		Status string
		Runs   []struct{ Label, Dir, Status string }
	}
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	require.Equal(t, "ok", idx.Status)
	require.Len(t, idx.Runs, 4)
	for _, r := range idx.Runs {
		for _, f := range []string{"roles/flow1/summary.json", "roles/flow1/events.jsonl", "roles/probe/stdout.log", "roles/sink3/stderr.log"} {
			require.FileExists(t, filepath.Join(dir, r.Dir, f))
		}
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		require.Equal(t, "ok", s.Status, r.Label)
		for _, e := range s.Expectations {
			require.True(t, e.OK, "%s: %s", r.Label, e.Expect)
		}
		t.Logf("%s: flow1 %v Mbit/s, flow2 %v Mbit/s", r.Label, s.Instances[2].Summary["throughput_mbps"], s.Instances[3].Summary["throughput_mbps"])
		requireNoTrace(t, s.Lab)
		requireNoTraceOnHosts(t, hosts, s.Lab)
	}
	requireManifestMatches(t, dir)
}

// requireNoTraceOnHosts checks that no host keeps anything of a remote
// lab: no namespace or lab directory of the host's share, no tunnel
// device, no files under /var/lib/tbctl/labs.
func requireNoTraceOnHosts(t *testing.T, hosts []sshHost, labName string) {
	t.Helper()
	for i, h := range hosts {
		sub := labName + "." + hostNames[i]
		entries, _ := os.ReadDir(netns.NetnsDir)
		for _, e := range entries {
			require.False(t, strings.HasPrefix(e.Name(), "tb-"+sub+"-"), "namespace %s left behind", e.Name())
		}
		_, err := os.Stat(filepath.Join(lab.RunDir, sub))
		require.True(t, os.IsNotExist(err), "lab directory of %s left behind", sub)
		_, err = os.Stat(filepath.Join(remote.HostLabs, sub))
		require.True(t, os.IsNotExist(err), "%s left behind", filepath.Join(remote.HostLabs, sub))
		links, code := run(t, "sshx-it", h.node, "ip", "-o", "link", "show")
		require.Equal(t, 0, code, links)
		require.NotContains(t, links, "tbctl:"+sub, "a device of %s left on %s", sub, h.node)
	}
}
