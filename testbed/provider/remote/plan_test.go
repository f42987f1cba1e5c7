package remote

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/provider/remote/inventory"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/ipplan"
)

const testInventory = `hosts:
  a: {address: 192.0.2.1, user: root, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", labels: {rack: r1}}
  b: {address: 192.0.2.2, user: root, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", labels: {rack: r1}}
  c: {address: 192.0.2.3, user: root, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", labels: {rack: r2}}
`

// dumbbell is the quickstart's topology with a remote section: the left
// hosts on a, the routers on b, the right hosts on c.
func dumbbell(t *testing.T, remote string) (*topo.Topology, *inventory.Inventory) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hosts.yaml"), []byte(testInventory), 0o644))
	src, err := os.ReadFile("../../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	file := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(file, append(src, []byte(remote)...), 0o644))
	tp, err := topo.Load(file, topo.Options{Provider: Name, Kinds: (&Provider{}).Kinds()})
	require.NoError(t, err)
	require.NoError(t, ipplan.Apply(tp))
	inv, err := inventory.Load(tp.Remote.Inventory)
	require.NoError(t, err)
	return tp, inv
}

const threeHosts = `
remote:
  inventory: hosts.yaml
  place: {h1: a, h2: a, sl: a, rl: b, rr: b, h3: c, h4: c, sr: c}
`

func TestSubTopologiesKeepTheWholePlan(t *testing.T) {
	tp, inv := dumbbell(t, threeHosts)
	pl, err := newPlan("qs-1", tp, inv)
	require.NoError(t, err)
	require.Len(t, pl.hosts, 3)
	underlay := map[string]netip.Addr{"a": netip.MustParseAddr("192.0.2.1"), "b": netip.MustParseAddr("192.0.2.2"), "c": netip.MustParseAddr("192.0.2.3")}
	files, err := pl.subTopologies(tp, underlay)
	require.NoError(t, err)

	subs := map[string]*topo.Topology{}
	for host, data := range files {
		st, err := topo.Parse(data, host+".yaml", topo.Options{Provider: "netns"})
		require.NoError(t, err, "%s:\n%s", host, data)
		require.NoError(t, ipplan.Apply(st))
		subs[host] = st
		require.Equal(t, "qs-1."+host, st.Name)
		require.True(t, st.Mgmt.Disabled)
	}
	// Every node keeps its addresses and routes, with MTUs that fit VXLAN.
	for _, n := range tp.Nodes {
		hp := pl.node[n.Name]
		sn := subs[hp.host.Name].Node(n.Name)
		require.NotNil(t, sn, n.Name)
		require.Len(t, sn.Interfaces, len(n.Interfaces), n.Name)
		for _, i := range n.Interfaces {
			si := sn.Interface(i.Name)
			require.NotNil(t, si, "%s:%s", n.Name, i.Name)
			require.Equal(t, i.Addrs, si.Addrs, "%s:%s", n.Name, i.Name)
			require.Equal(t, UnderlayMTU-50, si.MTU)
		}
		require.Equal(t, len(n.Routes), len(sn.Routes), n.Name)
		for k, r := range n.Routes {
			require.Equal(t, r.Dst, sn.Routes[k].Dst)
			require.Equal(t, r.NextHops[0].Via, sn.Routes[k].NextHops[0].Via)
		}
	}
	// rl:eth1-sl:p3 (a-b) and rr:eth1-sr:p3 (b-c) cross hosts: each end is
	// a host link to a tunnel whose remote is the other host.
	require.Len(t, pl.hostPlan("a").tunnels, 1)
	require.Len(t, pl.hostPlan("b").tunnels, 2)
	require.Len(t, pl.hostPlan("c").tunnels, 1)
	ta, tc := pl.hostPlan("a").tunnels[0], pl.hostPlan("c").tunnels[0]
	require.Equal(t, "192.0.2.2", ta.Remote)
	require.Equal(t, "192.0.2.2", tc.Remote)
	vnis := map[int]int{}
	for _, tb := range pl.hostPlan("b").tunnels {
		require.Equal(t, "192.0.2.", tb.Remote[:8])
		require.NotEqual(t, "192.0.2.2", tb.Remote)
		vnis[tb.VNI]++
	}
	vnis[ta.VNI]++
	vnis[tc.VNI]++
	require.Len(t, vnis, 2, "each cross link has one VNI, used at both ends")
	for _, n := range vnis {
		require.Equal(t, 2, n)
	}
	for _, tn := range append(pl.hostPlan("b").tunnels, ta, tc) {
		for _, name := range []string{tn.Veth, tn.Bridge, tn.VXLAN} {
			require.LessOrEqual(t, len(name), 15)
		}
	}
	// The host links are in the sub-topologies, with the tunnel's veth.
	var hostLinks int
	for _, st := range subs {
		for _, l := range st.Links {
			if l.Type == topo.LinkHost {
				hostLinks++
				require.True(t, strings.HasPrefix(l.B.Iface, "tbv"), l.B.Iface)
			}
		}
	}
	require.Equal(t, 4, hostLinks)
}

func TestPlacementErrors(t *testing.T) {
	tp, inv := dumbbell(t, `
remote:
  inventory: hosts.yaml
  place: {h1: x}
  default: rack=r1
`)
	_, err := newPlan("qs", tp, inv)
	require.ErrorContains(t, err, `node h1`)
	require.ErrorContains(t, err, `no host named "x"`)

	// A label selector spreads its nodes over the hosts it matches.
	tp, inv = dumbbell(t, `
remote:
  inventory: hosts.yaml
  default: rack=r1
`)
	pl, err := newPlan("qs", tp, inv)
	require.NoError(t, err)
	require.Len(t, pl.hosts, 2)
	require.Equal(t, "a", pl.node["h1"].host.Name)
	require.Equal(t, "b", pl.node["h2"].host.Name)

	tp, inv = dumbbell(t, `
remote:
  inventory: hosts.yaml
  mode: physical
  default: rack=r1
`)
	_, err = newPlan("qs", tp, inv)
	require.ErrorContains(t, err, "place one node per host")
}

func TestTopologyRemoteSectionErrors(t *testing.T) {
	src, err := os.ReadFile("../../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	_, err = topo.Parse(append(src, []byte(`
remote:
  mode: virtual
  place: {h9: a, h1: a}
`)...), "lab.yaml", topo.Options{Provider: Name})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{`unknown remote mode "virtual"`, "inventory or cloud is required", `no node called "h9"`, "no host for node(s) h2, h3, h4, rl, rr, sl, sr"} {
		require.Contains(t, msg, want)
	}
}

func TestSubLabNamesFit(t *testing.T) {
	require.Equal(t, "qs-1.a", subLabName("qs-1", "a"))
	long := subLabName(strings.Repeat("x", 38), "gpu-node-17")
	require.LessOrEqual(t, len(long), topo.MaxLabName)
	require.NoError(t, topo.CheckLabName(long))
	require.NotEqual(t, long, subLabName(strings.Repeat("x", 38), "gpu-node-18"))
}

func TestTopologyRemoteCloud(t *testing.T) {
	src, err := os.ReadFile("../../../topologies/dumbbell-bottleneck.yaml")
	require.NoError(t, err)
	tp, err := topo.Parse(append(src, []byte(`
remote:
  cloud: {module: ../cloud/local, vars: {hosts: {}}}
  default: a
`)...), "/x/topologies/lab.yaml", topo.Options{Provider: Name})
	require.NoError(t, err)
	require.Equal(t, "/x/cloud/local", tp.Remote.Cloud.Module)
	require.Equal(t, map[string]any{"hosts": map[string]any{}}, tp.Remote.Cloud.Vars)
	require.Empty(t, tp.Remote.Inventory)

	_, err = topo.Parse(append(src, []byte(`
remote:
  inventory: hosts.yaml
  cloud: {module: m}
  default: a
`)...), "lab.yaml", topo.Options{Provider: Name})
	require.ErrorContains(t, err, "both inventory and cloud are set")
}
