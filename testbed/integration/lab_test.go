package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

func TestDemoLabConnectsEveryHost(t *testing.T) {
	needRoot(t)
	rec := deploy(t, "../../topologies/demo.yaml", "it-demo")
	pingAll(t, rec.Name, []string{"h1", "h2", "h3", "r1"})

	insp, err := testbed.Inspect(context.Background(), rec.Name)
	require.NoError(t, err)
	require.Len(t, insp.Nodes, 5)
	require.NotEmpty(t, insp.MgmtIPv4)
	for _, n := range insp.Nodes {
		if n.Kind == "linux" {
			assert.NotEmpty(t, n.MgmtIPv4, "node %s has a management address", n.Name)
			assert.Equal(t, "tb-it-demo-"+n.Name, n.Namespace)
		}
	}
	h1 := insp.Nodes[0]
	require.Equal(t, "h1", h1.Name)
	require.Equal(t, "s1:p1", h1.Interfaces[1].Peer)
}

// The host reaches every node's management address.
func TestManagementNetworkReachableFromHost(t *testing.T) {
	needRoot(t)
	rec := deploy(t, "../../topologies/demo.yaml", "it-mgmt")
	insp, err := testbed.Inspect(context.Background(), rec.Name)
	require.NoError(t, err)
	for _, n := range insp.Nodes {
		if n.MgmtIPv4 == "" {
			continue
		}
		out, err := exec.Command("ping", "-c", "1", "-W", "2", "-q", n.MgmtIPv4).CombinedOutput()
		require.NoError(t, err, "host -> %s (%s): %s", n.Name, n.MgmtIPv4, out)
	}
}

// Every generated shape deploys and every host reaches every other host.
// Pings between all host pairs cross every link of a bridged shape (each
// link lies on some host-to-host path); routed shapes also get a ping across
// each addressed link.
func TestGeneratedShapesConnectEveryHost(t *testing.T) {
	needRoot(t)
	cases := []struct {
		shape string
		p     gen.Params
	}{
		{"single", gen.Params{Hosts: 3}},
		{"linear", gen.Params{Hosts: 4}},
		{"tree", gen.Params{Depth: 2, Fanout: 2}},
		{"dumbbell", gen.Params{Hosts: 2}},
		{"leaf-spine", gen.Params{Spines: 2, Leaves: 3, Hosts: 2}},
		{"fat-tree", gen.Params{K: 4}},
	}
	for _, c := range cases {
		t.Run(c.shape, func(t *testing.T) {
			c.p.Name, c.p.Mgmt = "it-"+c.shape, true
			rec := deploy(t, generated(t, c.shape, c.p), "")
			var hosts []string
			for _, n := range rec.Topology.Nodes {
				if strings.HasPrefix(n.Name, "h") && n.Kind == "linux" {
					hosts = append(hosts, n.Name)
				}
			}
			require.NotEmpty(t, hosts)
			pingAll(t, rec.Name, hosts)
			pingEveryLink(t, rec.Name)
		})
	}
}

// pingEveryLink pings across every veth link whose two ends are addressed.
func pingEveryLink(t *testing.T, labName string) {
	t.Helper()
	_, rec, _, err := testbed.Open(labName)
	require.NoError(t, err)
	checked := 0
	for _, l := range rec.Topology.Links {
		a := rec.Topology.Node(l.A.Node).Interface(l.A.Iface)
		bn := rec.Topology.Node(l.B.Node)
		if bn == nil || len(a.Addrs) == 0 {
			continue
		}
		b := bn.Interface(l.B.Iface)
		if len(b.Addrs) == 0 {
			continue
		}
		ping(t, labName, l.A.Node, b.Addrs[0].Addr().String())
		checked++
	}
	t.Logf("pinged across %d addressed links", checked)
}

func TestTwoLabsSideBySide(t *testing.T) {
	needRoot(t)
	a := deploy(t, "../../topologies/demo.yaml", "it-side-a")
	b := deploy(t, "../../topologies/demo.yaml", "it-side-b")
	require.NotEqual(t, a.MgmtIPv4, b.MgmtIPv4, "each lab has its own management subnet")
	pingAll(t, a.Name, []string{"h1", "h3"})
	pingAll(t, b.Name, []string{"h1", "h3"})
}

func TestDeployingAnExistingNameIsRefused(t *testing.T) {
	needRoot(t)
	deploy(t, "../../topologies/demo.yaml", "it-twice")
	_, err := testbed.Deploy(context.Background(), testbed.DeployOptions{File: "../../topologies/demo.yaml", Name: "it-twice", Progress: quiet{}})
	require.ErrorContains(t, err, "already deployed")
	pingAll(t, "it-twice", []string{"h1", "h3"}) // the running lab is untouched
}

func TestBadInputChangesNothing(t *testing.T) {
	needRoot(t)
	file := writeFile(t, "bad.yaml", `name: it-bad
topology:
  nodes:
    a: {kind: linux}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
`)
	_, err := testbed.Deploy(context.Background(), testbed.DeployOptions{File: file, Progress: quiet{}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "bad.yaml:6:")
	requireNoTrace(t, "it-bad")
}

// A containerlab-style lab: exec with env, a long-lived cmd, binds, host,
// mgmt-net and dummy links, explicit addresses and MACs, an unused image.
func TestContainerlabFeatures(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "hello.txt"), []byte("from the host\n"), 0o644))
	target := t.TempDir()
	suffix := fmt.Sprintf("%d", os.Getpid()%10000)
	hostIf, mgmtIf := "tbh"+suffix, "tbm"+suffix
	file := writeFile(t, "clab.yaml", fmt.Sprintf(`name: it-clab
topology:
  defaults:
    env: {GREETING: hello}
  nodes:
    a:
      kind: linux
      image: alpine:3.20
      binds: ["%s:%s:ro"]
      cmd: sleep 600
      exec:
        - ip addr add 198.18.7.1/24 dev eth1
        - sh -c 'echo $GREETING > /tmp/tbctl-it-greeting-%s'
    b:
      kind: linux
      sysctls: {net.ipv4.ip_forward: 1, net.ipv4.conf.eth1.rp_filter: 2}
      interfaces:
        eth1: {ipv4: [198.18.7.2/24], mac: "02:00:00:00:07:02"}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - type: host
      endpoint: {node: a, interface: eth2}
      host-interface: %s
    - type: mgmt-net
      endpoint: {node: b, interface: eth2}
      host-interface: %s
    - type: dummy
      endpoint: {node: b, interface: dummy0}
`, src, target, suffix, hostIf, mgmtIf))
	rec := deploy(t, file, "")
	defer os.Remove("/tmp/tbctl-it-greeting-" + suffix)

	ping(t, rec.Name, "a", "198.18.7.2")
	out, code := run(t, rec.Name, "b", "cat", "/sys/class/net/eth1/address")
	require.Equal(t, 0, code)
	require.Equal(t, "02:00:00:00:07:02", strings.TrimSpace(out))

	out, _ = run(t, rec.Name, "b", "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/eth1/rp_filter")
	require.Equal(t, "1\n2\n", out, "sysctls are set inside the node")

	greeting, err := os.ReadFile("/tmp/tbctl-it-greeting-" + suffix)
	require.NoError(t, err, "exec ran with the node's env")
	require.Equal(t, "hello\n", string(greeting))

	out, code = run(t, rec.Name, "a", "cat", filepath.Join(target, "hello.txt"))
	require.Equal(t, 0, code, out)
	require.Equal(t, "from the host\n", out, "the bind is visible inside the node")
	_, err = os.Stat(filepath.Join(target, "hello.txt"))
	require.True(t, os.IsNotExist(err), "the bind does not leak to the host")
	_, code = run(t, rec.Name, "a", "touch", filepath.Join(target, "x"))
	require.NotEqual(t, 0, code, "a :ro bind is read-only")

	insp, err := testbed.Inspect(context.Background(), rec.Name)
	require.NoError(t, err)
	require.NotEmpty(t, insp.Nodes[0].PIDs, "cmd runs as the node's long-lived process")

	for _, name := range []string{hostIf, mgmtIf} {
		l, err := netlink.LinkByName(name)
		require.NoError(t, err, "host-side interface %s exists", name)
		require.Equal(t, "tbctl:it-clab", l.Attrs().Alias)
	}
	out, code = run(t, rec.Name, "b", "ip", "-br", "link", "show", "dummy0")
	require.Equal(t, 0, code, out)
	require.Contains(t, rec.Topology.Notes[0], "alpine:3.20")
}
