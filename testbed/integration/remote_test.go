package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
// It reports whether the binary is the test's own to remove.
func keepHostBin(t *testing.T) bool {
	if _, err := os.Stat(remote.HostBin); err == nil {
		return false
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(remote.HostBin)) })
	return true
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
	topoFile := remoteDumbbell(t, hosts, client)

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
		// The hosts' NICs, as deploy read them, are in the run's inventory.
		inv, err := os.ReadFile(filepath.Join(dir, r.Dir, "inventory.yaml"))
		require.NoError(t, err)
		require.Contains(t, string(inv), "nics:")
		require.Contains(t, string(inv), "{name: eth1")
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		require.Equal(t, "ok", s.Status, r.Label)
		for _, e := range s.Expectations {
			require.True(t, e.OK, "%s: %s", r.Label, e.Expect)
		}
		t.Logf("%s: flow1 %v Mbit/s, flow2 %v Mbit/s", r.Label, s.Instances[2].Summary["throughput_mbps"], s.Instances[3].Summary["throughput_mbps"])
		// The hosts sampled their nodes' counters: the bytes the
		// bottleneck sent (rl's eth2, on host b) are there.
		txBytes := map[string]float64{}
		f, err := os.Open(filepath.Join(dir, r.Dir, "metrics.jsonl"))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m struct {
				Source, Node, Object, Metric string
				Value                        float64
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
			if m.Source == "netdev" && m.Metric == "tx_bytes" {
				txBytes[m.Node+":"+m.Object] = max(txBytes[m.Node+":"+m.Object], m.Value)
			}
		}
		f.Close()
		for _, n := range []string{"h1:eth1", "rl:eth2", "h3:eth1"} {
			require.Contains(t, txBytes, n, "netdev samples of %s from its host", n)
		}
		require.Greater(t, txBytes["rl:eth2"], 20e6, "the bottleneck carried the flows (5 s at ~100 Mbit/s)")
		// The quickstart's other default sources ran on the hosts too:
		// the nodes' cgroups, and the roles' metrics.
		seen := metricsSeen(t, filepath.Join(dir, r.Dir))
		cpu, _ := hasSample(seen, "cgroup/h3//cpu_usage_ns")
		require.Greater(t, cpu, 1e6, "the sink on h3 used CPU, and its cgroup on host c saw it")
		for _, p := range []string{"prom/h1/flow1/", "prom/h3/sink3/"} {
			_, ok := hasSample(seen, p)
			require.True(t, ok, "no %s samples", p)
		}
		requireNoTrace(t, s.Lab)
		requireNoTraceOnHosts(t, hosts, s.Lab)
	}
	requireManifestMatches(t, dir)

	// The manifest records each host: identity, kernel, NICs, clock offset.
	// These hosts share the controller's clock, so the offset measured must
	// be within its error bound.
	var man struct {
		Machines []struct {
			Name, Address string
			Nodes         []string
			Facts         struct {
				Hostname, Kernel string
				NICs             []struct{ Name string }
			}
			ClockOffsetNS, ClockErrorNS int64
		}
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &man)
	require.Len(t, man.Machines, 3)
	for i, m := range man.Machines {
		require.Equal(t, hostNames[i], m.Name)
		require.Equal(t, hosts[i].addr, m.Address)
		require.NotEmpty(t, m.Facts.Kernel)
		require.NotEmpty(t, m.Facts.NICs)
		require.Positive(t, m.ClockErrorNS)
		require.LessOrEqual(t, abs(m.ClockOffsetNS), m.ClockErrorNS+int64(100*time.Microsecond),
			"%s: offset %d ns beyond its error bound %d ns on a shared clock", m.Name, m.ClockOffsetNS, m.ClockErrorNS)
		t.Logf("%s: nodes %v, kernel %s, %d NICs, clock offset %d ± %d µs", m.Name, m.Nodes, m.Facts.Kernel, len(m.Facts.NICs),
			m.ClockOffsetNS/1000, m.ClockErrorNS/1000)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
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

// remoteDumbbell writes the dumbbell with sshLab's hosts as its remote
// section (left LAN on a, routers on b, right LAN on c) and returns its
// path.
func remoteDumbbell(t *testing.T, hosts []sshHost, client string) string {
	t.Helper()
	inv := writeInventory(t, hosts, client)
	src, err := os.ReadFile("../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	file := filepath.Join(filepath.Dir(inv), "dumbbell-remote.yaml")
	require.NoError(t, os.WriteFile(file, append(src, []byte(`
remote:
  inventory: hosts.yaml
  place: {h1: a, h2: a, sl: a, rl: b, rr: b, h3: c, h4: c, sr: c}
`)...), 0o644))
	return file
}

// linkState reads a node interface's operational state through tbctl exec.
func linkState(t *testing.T, labName, node, iface string) string {
	t.Helper()
	out, _, code := cli(t, "", nil, "exec", labName, node, "--", "cat", "/sys/class/net/"+iface+"/operstate")
	require.Equal(t, 0, code, out)
	return strings.TrimSpace(out)
}

// TestRemoteFaultsRevertWhenTheControllerGoes applies a fault on a host
// from a tbctl that then disappears, twice: killed (its SSH session ends)
// and stopped (its session stays open but silent). Each time the host
// reverts the fault by itself: at once, and after the dead-man time. A
// fault whose nodes are on two hosts is refused, and destroy leaves
// nothing on any host.
func TestRemoteFaultsRevertWhenTheControllerGoes(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	file := remoteDumbbell(t, hosts, client)
	const name = "rfault"
	_, stderr, code := cli(t, "", nil, "deploy", file, "--provider", "remote", "--name", name, "--quiet")
	require.Equal(t, 0, code, stderr)
	t.Cleanup(func() { cli(t, "", nil, "destroy", name) })
	require.Equal(t, "up", linkState(t, name, "rl", "eth1"))

	for _, how := range []struct {
		sig    syscall.Signal
		within time.Duration
	}{{syscall.SIGKILL, 5 * time.Second}, {syscall.SIGSTOP, remote.Deadman + 5*time.Second}} {
		cmd := exec.Command(tbctlBin(t), "fault", "inject", name, "net.link_down", "rl:eth1", "--for", "10m")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, _ := bufio.NewReader(out).ReadString('\n')
		require.Contains(t, line, "applied", "fault inject said: %q", line)
		require.Contains(t, line, "b/", "the fault's ID names its host")
		require.Equal(t, "down", linkState(t, name, "rl", "eth1"))

		start := time.Now()
		require.NoError(t, cmd.Process.Signal(how.sig))
		require.True(t, waitFor(t, how.within, func() bool { return linkState(t, name, "rl", "eth1") == "up" }),
			"after %v the host did not revert the fault within %s", how.sig, how.within)
		t.Logf("after %v: reverted by the host in %s", how.sig, time.Since(start).Round(100*time.Millisecond))
		cmd.Process.Kill()
		cmd.Wait()
	}

	// A partition between nodes on hosts a and c: black holes on both.
	h3 := nodeAddr(t, name, "h3")
	pingOK := func(src, dst string) bool {
		_, _, code := cli(t, "", nil, "exec", name, src, "--", "ping", "-c", "1", "-W", "1", dst)
		return code == 0
	}
	require.True(t, pingOK("h1", h3))
	cmd := exec.Command(tbctlBin(t), "fault", "inject", name, "net.partition", "h1|h3", "--for", "4s")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, _ := bufio.NewReader(out).ReadString('\n')
	require.Contains(t, line, "partition/1 applied", line)
	require.False(t, pingOK("h1", h3), "h1 and h3 are cut")
	require.True(t, pingOK("h2", h3), "h2 is not")
	require.NoError(t, cmd.Wait())
	require.True(t, pingOK("h1", h3), "the partition is reverted on both hosts")
	_, stderr, code = cli(t, "", nil, "fault", "inject", name, "net.partition", "h1|h9", "--for", "1s")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "h9")
	_, stderr, code = cli(t, "", nil, "fault", "inject", name, "net.loss", "h1:eth1", "percent=10")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "give --for")

	destroyRemote(t, hosts, name)
}

// TestQuickstartOnOpenTofuHosts runs the quickstart on hosts made by
// OpenTofu: the topology names topologies/cloud/local, whose only
// resources are terraform_data, with sshLab's three hosts as its
// variables. The runner applies it once, turns its output into the
// inventory, waits for SSH, runs every sweep point on the hosts, and
// destroys the stack at the end; the run directory keeps the stack's
// journal, state and the inventory it produced.
func TestQuickstartOnOpenTofuHosts(t *testing.T) {
	if _, err := exec.LookPath("tofu"); err != nil {
		t.Skip("needs OpenTofu on PATH (make tofu builds it)")
	}
	hosts, client := sshLab(t)
	keepHostBin(t)
	var vars strings.Builder
	for i, h := range hosts {
		fmt.Fprintf(&vars, "        %s: {address: %s, tunnel_address: %s, user: root, identity: %s, host_key: %q}\n",
			hostNames[i], h.addr, h.data, client, h.hostKey)
	}
	module, err := filepath.Abs("../../topologies/cloud/local")
	require.NoError(t, err)
	src, err := os.ReadFile("../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	topoFile := writeFile(t, "dumbbell-tofu.yaml", string(src)+`
remote:
  cloud:
    module: `+module+`
    vars:
      hosts:
`+vars.String()+`  place: {h1: a, h2: a, sl: a, rl: b, rr: b, h3: c, h4: c, sr: c}
`)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/quickstart.yaml", "--provider", "remote",
		"--set", "topology.file="+topoFile, "--out", out)
	t.Logf("tbctl run stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, 0, code)
	dir := runDir(t, out, "quickstart")
	var j struct{ State string }
	readJSON(t, filepath.Join(dir, "cloud", "journal.json"), &j)
	require.Equal(t, "destroyed", j.State)
	inv, err := os.ReadFile(filepath.Join(dir, "cloud", "inventory.yaml"))
	require.NoError(t, err)
	for _, h := range hosts {
		require.Contains(t, string(inv), h.addr)
	}
	var idx struct {
		Status string
		Runs   []struct{ Dir string }
	}
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	require.Equal(t, "ok", idx.Status)
	for _, r := range idx.Runs {
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		for _, e := range s.Expectations {
			require.True(t, e.OK, "%s: %s", r.Dir, e.Expect)
		}
		require.FileExists(t, filepath.Join(dir, r.Dir, "inventory.yaml"))
		requireNoTraceOnHosts(t, hosts, s.Lab)
	}
}

// TestRemoteRefusalsLeaveNothing deploys the remote dumbbell with one
// host wrong in each of three ways: another host's key, a user without
// the key, an address where no host answers. Each is refused before
// anything is made, with an error that names the host and what to do.
func TestRemoteRefusalsLeaveNothing(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	unused := func() string {
		a := netip.MustParseAddr(hosts[2].addr)
		for range 50 {
			a = a.Next()
		}
		return a.String()
	}()
	for _, c := range []struct {
		name   string
		change func(h []sshHost)
		user   string
		want   []string
	}{
		{"wrongkey", func(h []sshHost) { h[1].hostKey = h[0].hostKey }, "root", []string{"b (", "SHA256:", "host key"}},
		{"wronguser", nil, "nobody", []string{"nobody@", "authentication failed"}},
		{"unreachable", func(h []sshHost) { h[2].addr = unused }, "root", []string{unused, "unreachable"}},
	} {
		hs := append([]sshHost(nil), hosts...)
		if c.change != nil {
			c.change(hs)
		}
		file := remoteDumbbell(t, hs, client)
		if c.user != "root" {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "hosts.yaml"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(file), "hosts.yaml"),
				[]byte(strings.Replace(string(data), "user: root", "user: "+c.user, 1)), 0o644))
		}
		start := time.Now()
		_, stderr, code := cli(t, "", nil, "deploy", file, "--provider", "remote", "--name", c.name)
		require.NotEqual(t, 0, code, c.name)
		for _, w := range c.want {
			require.Contains(t, stderr, w, c.name)
		}
		t.Logf("%s: refused in %s: %s", c.name, time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(stderr))
		requireNoTrace(t, c.name)
		requireNoTraceOnHosts(t, hosts, c.name)
	}
}

// TestRemoteDestroyAfterTheControllerIsKilled kills tbctl deploy while it
// deploys on the hosts; a later tbctl destroy removes everything from
// every host, working from the lab's directory alone.
func TestRemoteDestroyAfterTheControllerIsKilled(t *testing.T) {
	hosts, client := sshLab(t)
	ours := keepHostBin(t)
	file := remoteDumbbell(t, hosts, client)
	const name = "rkill"
	for _, after := range []string{"copy", "deployed"} {
		if after == "copy" && ours {
			os.Remove(remote.HostBin) // killed before the hosts had tbctl
		}
		cmd := exec.Command(tbctlBin(t), "deploy", file, "--provider", "remote", "--name", name)
		require.NoError(t, cmd.Start())
		require.True(t, waitFor(t, 30*time.Second, func() bool {
			if after == "copy" {
				_, err := os.Stat(filepath.Join(lab.RunDir, name, "remote.json"))
				return err == nil
			}
			_, err := os.Stat(filepath.Join(lab.RunDir, name+".c"))
			return err == nil
		}), "deploy did not get to %s", after)
		require.NoError(t, cmd.Process.Kill())
		cmd.Wait()
		destroyRemote(t, hosts, name)
	}
}

// cable joins two of sshLab's hosts with a veth pair, as a cable between
// two machines' NICs, with an address at each end.
func cable(t *testing.T, a, ifA, addrA, b, ifB, addrB string) {
	t.Helper()
	nsA, nsB := "tb-sshx-it-"+a, "tb-sshx-it-"+b
	runAll(t,
		[]string{"ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB},
		[]string{"ip", "-n", nsA, "addr", "add", addrA, "dev", ifA},
		[]string{"ip", "-n", nsB, "addr", "add", addrB, "dev", ifB},
		[]string{"ip", "-n", nsA, "link", "set", ifA, "up"},
		[]string{"ip", "-n", nsB, "link", "set", ifB, "up"})
}

// runAll runs each command on this machine; each must succeed.
func runAll(t *testing.T, cmds ...[]string) {
	t.Helper()
	for _, argv := range cmds {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", argv, out)
	}
}

// TestQuickstartOnSSHHostsPhysical runs the quickstart in physical mode:
// each node is one of the three hosts, joined by cables the test lays
// (h1 on host a, the router rl on b, h3 on c, a 100 Mbit/s impairment on
// the router's link to h3 as the bottleneck). tbctl checks the cables and
// creates nothing but the impairment; both flows and the probe run from
// h1 to h3. A fault that would cut the SSH session to a host is refused;
// destroy leaves the hosts as they were.
func TestQuickstartOnSSHHostsPhysical(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	inv := writeInventory(t, hosts, client)
	cable(t, "h1", "eth2", "198.18.10.1/30", "h2", "eth2", "198.18.10.2/30")
	cable(t, "h2", "eth3", "198.18.11.1/30", "h3", "eth3", "198.18.11.2/30")
	runAll(t,
		[]string{"ip", "-n", "tb-sshx-it-h1", "route", "add", "198.18.11.0/30", "via", "198.18.10.2"},
		[]string{"ip", "-n", "tb-sshx-it-h3", "route", "add", "198.18.10.0/30", "via", "198.18.11.1"},
		[]string{"ip", "netns", "exec", "tb-sshx-it-h2", "sysctl", "-qw", "net.ipv4.ip_forward=1"})
	topoFile := filepath.Join(filepath.Dir(inv), "dumbbell-physical.yaml")
	require.NoError(t, os.WriteFile(topoFile, []byte(`name: dumbbell-physical
provider: remote
remote:
  inventory: hosts.yaml
  mode: physical
  place: {h1: a, rl: b, h3: c}
topology:
  nodes:
    h1: {kind: linux, interfaces: {eth2: {ipv4: [198.18.10.1/30]}}}
    rl: {kind: linux, interfaces: {eth2: {ipv4: [198.18.10.2/30]}, eth3: {ipv4: [198.18.11.1/30]}}}
    h3: {kind: linux, interfaces: {eth3: {ipv4: [198.18.11.2/30]}}}
  links:
    - endpoints: ["h1:eth2", "rl:eth2"]
    - endpoints: ["rl:eth3", "h3:eth3"]
      impair: {rate: 100}
`), 0o644))

	// A fault on the interface that carries SSH (eth0 here) is refused.
	const name = "rphys"
	_, stderr, code := cli(t, "", nil, "deploy", topoFile, "--name", name, "--quiet")
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, "", nil, "fault", "inject", name, "net.link_down", "h1:eth0", "--for", "5s")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "refused")
	require.Contains(t, stderr, "tbctl's SSH session")
	_, stderr, code = cli(t, "", nil, "fault", "inject", name, "net.blackhole", "h3", "dst="+hostGateway(t, hosts[2]), "--for", "5s")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "the controller tbctl's SSH session comes from")
	destroyRemote(t, hosts, name)

	// The quickstart, with both flows and the probe from h1 to h3.
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/quickstart.yaml", "--provider", "remote",
		"--set", "topology.file="+topoFile,
		"--set", "roles.sink4.node=h3", "--set", "roles.sink4.params.port=7576",
		"--set", "roles.flow2.node=h1", "--set", "roles.flow2.params.target=h3", "--set", "roles.flow2.params.port=7576",
		"--set", "roles.probe.params.target=h3", "--set", "roles.probe.params.port=7576",
		"--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "quickstart")
	var idx struct {
		Status string
		Runs   []struct{ Label, Dir string }
	}
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	require.Equal(t, "ok", idx.Status)
	for _, r := range idx.Runs {
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		for _, e := range s.Expectations {
			require.True(t, e.OK, "%s: %s", r.Label, e.Expect)
		}
		// Each host sampled its node's own interfaces, those the
		// topology names and no other (not eth0, the SSH network), and
		// its roles' CPU time and metrics.
		seen := metricsSeen(t, filepath.Join(dir, r.Dir))
		tx, _ := hasSample(seen, "netdev/rl/eth3/tx_bytes")
		require.Greater(t, tx, 20e6, "the bottleneck carried the flows")
		_, eth0 := hasSample(seen, "netdev/h1/eth0/")
		require.False(t, eth0, "h1's eth0 is not the lab's")
		cpu, _ := hasSample(seen, "cgroup/h3//cpu_usage_ns")
		require.Greater(t, cpu, 1e6, "the sink on h3 used CPU, and its cgroup on host c saw it")
		_, ok := hasSample(seen, "prom/h1/flow1/")
		require.True(t, ok, "no metrics of flow1")
		requireNoTraceOnHosts(t, hosts, s.Lab)
	}
	// Nothing of tbctl is left on the hosts' interfaces: no qdisc but the default.
	for _, h := range hosts {
		qd, code := run(t, "sshx-it", h.node, "tc", "qdisc", "show")
		require.Equal(t, 0, code)
		require.NotContains(t, qd, "tbf", "%s keeps a tbf", h.node)
	}
}

// hostGateway is the controller's address as a host sees it: the
// management network's gateway, which its SSH sessions come from.
func hostGateway(t *testing.T, h sshHost) string {
	t.Helper()
	out, code := run(t, "sshx-it", h.node, "ip", "-4", "route", "show", "default")
	require.Equal(t, 0, code, out)
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			return f[i+1]
		}
	}
	// Without a default route the controller is on the management subnet.
	a := netip.MustParseAddr(h.addr).As4()
	a[3] = 1
	return netip.AddrFrom4(a).String()
}

// TestRemoteExperimentFaults runs an experiment whose scheduled faults
// land on two hosts of a remote lab: a rate limit on the router's tunnel
// end (host b) and a hung traffic server (found on host c by asking every
// host). Each acts as on the netns provider and is reverted, and the
// run's ground truth names the host that applied it.
func TestRemoteExperimentFaults(t *testing.T) {
	hosts, client := sshLab(t)
	keepHostBin(t)
	topoFile := remoteDumbbell(t, hosts, client)
	exp := writeFile(t, "remote-faults.yaml", `name: remote-faults
claim: An experiment's faults apply on the host of their target and are reverted there.
topology: {file: `+topoFile+`}
warmup: 1s
duration: 9s
roles:
  sink: {role: traffic, node: h3, params: {mode: server}}
  flow: {role: traffic, node: h1, after: [sink], params: {mode: tcp, target: h3}}
faults:
  - {name: rate, code: net.rate, target: "rr:eth1", params: {mbps: 20}, at: 1s, for: 2s}
  - {name: hang, code: role.hang, target: sink, at: 5s, for: 2s}
expect:
  - flow.before_rate_mbps > 50
  - flow.during_rate_mbps < 25
  - flow.during_hang_mbps < 5
  - flow.after_hang_mbps > 10
`)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", exp, "--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "remote-faults")
	var idx struct{ Runs []struct{ Dir string } }
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var s struct {
		Lab    string
		Faults []struct {
			ID, Code, State string
			Verified        bool
		}
	}
	readJSON(t, filepath.Join(dir, idx.Runs[0].Dir, "summary.json"), &s)
	require.Len(t, s.Faults, 2)
	for _, f := range s.Faults {
		want := map[string]string{"net.rate": "b/", "role.hang": "c/"}[f.Code]
		require.True(t, strings.HasPrefix(f.ID, want), "%s applied by host %s: ID %s", f.Code, want, f.ID)
		require.True(t, f.Verified, f.Code)
		require.Equal(t, "reverted", f.State, f.Code)
	}
	requireNoTraceOnHosts(t, hosts, s.Lab)
}

// nodeAddr is a node's first data-plane (eth1) IPv4 address.
func nodeAddr(t *testing.T, labName, node string) string {
	t.Helper()
	out, _, code := cli(t, "", nil, "exec", labName, node, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth1")
	require.Equal(t, 0, code, out)
	f := strings.Fields(out)
	require.GreaterOrEqual(t, len(f), 4, out)
	return strings.Split(f[3], "/")[0]
}

// destroyRemote destroys a remote lab and checks that nothing of it is
// left, here or on any host.
func destroyRemote(t *testing.T, hosts []sshHost, name string) {
	t.Helper()
	_, stderr, code := cli(t, "", nil, "destroy", name)
	require.Equal(t, 0, code, stderr)
	requireNoTrace(t, name)
	requireNoTraceOnHosts(t, hosts, name)
}
