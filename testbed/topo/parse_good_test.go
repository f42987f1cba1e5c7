package topo

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"
)

func load(t *testing.T, name string) *Topology {
	t.Helper()
	topo, err := Load(filepath.Join("testdata", "good", name), Options{})
	require.NoError(t, err)
	return topo
}

func iface(t *testing.T, topo *Topology, node, name string) *Interface {
	t.Helper()
	n := topo.Node(node)
	require.NotNil(t, n, "node %s", node)
	i := n.Interface(name)
	require.NotNil(t, i, "interface %s:%s", node, name)
	return i
}

func TestGoodFilesParseAndMatchSchema(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sch, err := compiledSchema()
	require.NoError(t, err)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f, Options{})
			require.NoError(t, err)

			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var root yaml.Node
			require.NoError(t, yaml.Unmarshal(data, &root))
			var probs problemList
			doc := newSource(f).index(root.Content[0], "", &probs)
			require.Empty(t, probs.list)
			assert.NoError(t, sch.Validate(normalizeJSON(doc)))
		})
	}
}

func TestSchemaCompilesAndIsDraft2020(t *testing.T) {
	_, err := compiledSchema()
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(SchemaJSON(), &doc))
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
	assert.Equal(t, false, doc["additionalProperties"])

	b := SchemaJSON()
	b[0] = 'x'
	assert.True(t, bytes.HasPrefix(SchemaJSON(), []byte("{")), "SchemaJSON returns a copy")
}

func TestContainerlabStyleLab(t *testing.T) {
	topo := load(t, "clab.yaml")
	assert.Equal(t, "clab1", topo.Name)
	assert.Equal(t, "clab", topo.Prefix)
	assert.Equal(t, "testdata/good/clab.yaml", topo.File)
	assert.Equal(t, Mgmt{Network: "clab-mgmt", IPv4Subnet: netip.MustParsePrefix("172.20.20.0/24")}, topo.Mgmt)
	assert.False(t, topo.Addressing.Auto)

	var names []string
	for _, n := range topo.Nodes {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"br1", "myhost", "r1", "r2"}, names)

	r1 := topo.Node("r1")
	assert.Equal(t, KindLinux, r1.Kind)
	assert.Equal(t, "alpine:3", r1.Image)
	assert.Equal(t, "sleep infinity", r1.Cmd)
	assert.Equal(t, netip.MustParseAddr("172.20.20.11"), r1.MgmtIPv4)
	assert.Equal(t, []string{"ip link set eth1 up", "sysctl -w net.ipv4.ip_forward=1"}, r1.Exec)
	assert.Equal(t, map[string]string{"ROLE": "router", "ASN": "65001"}, r1.Env)
	assert.Equal(t, []Bind{{Host: "/tmp/r1", Node: "/data", ReadOnly: true}, {Host: "/srv/shared", Node: "/shared"}}, r1.Binds)
	assert.Equal(t, map[string]string{"tier": "core"}, r1.Labels)
	assert.Equal(t, Pos{File: "testdata/good/clab.yaml", Line: 10, Col: 5}, r1.Pos)
	assert.Equal(t, KindBridge, topo.Node("br1").Kind)
	assert.Equal(t, KindHost, topo.Node("myhost").Kind)

	want := []struct {
		typ  string
		a, b Endpoint
		mtu  int
	}{
		{LinkVeth, Endpoint{"r1", "eth1"}, Endpoint{"r2", "eth1"}, 0},
		{LinkVeth, Endpoint{"r1", "eth2"}, Endpoint{"br1", "r1-port"}, 0},
		{LinkHost, Endpoint{"r2", "eth2"}, Endpoint{"host", "r2-host"}, 0},
		{LinkMgmtNet, Endpoint{"r2", "eth3"}, Endpoint{"mgmt-net", "r2-mgmt"}, 0},
		{LinkVeth, Endpoint{"r1", "eth4"}, Endpoint{"r2", "eth4"}, 9000},
		{LinkHost, Endpoint{"r1", "eth5"}, Endpoint{"host", "r1-eth5"}, 0},
		{LinkMgmtNet, Endpoint{"r2", "eth5"}, Endpoint{"mgmt-net", "r2-eth5"}, 0},
		{LinkDummy, Endpoint{"r1", "dummy0"}, Endpoint{}, 0},
		{LinkVeth, Endpoint{"r1", "eth6"}, Endpoint{"myhost", "veth-r1"}, 0},
	}
	require.Len(t, topo.Links, len(want))
	for i, w := range want {
		l := topo.Links[i]
		assert.Equal(t, w.typ, l.Type, "link %d", i)
		assert.Equal(t, w.a, l.A, "link %d", i)
		assert.Equal(t, w.b, l.B, "link %d", i)
		assert.Equal(t, w.mtu, l.MTU, "link %d", i)
	}
	assert.Equal(t, 35, topo.Links[0].Pos.Line)

	var r1Ifaces []string
	for _, i := range r1.Interfaces {
		r1Ifaces = append(r1Ifaces, i.Name)
		assert.Equal(t, "r1", i.Node)
	}
	assert.Equal(t, []string{"eth1", "eth2", "eth4", "eth5", "dummy0", "eth6"}, r1Ifaces)

	eth4 := iface(t, topo, "r1", "eth4")
	assert.Equal(t, "02:00:00:00:01:04", eth4.MAC.String())
	assert.Equal(t, 9000, eth4.MTU, "link mtu applies")
	assert.Same(t, topo.Links[4], eth4.Link)
	assert.Equal(t, 1500, iface(t, topo, "r2", "eth4").MTU, "endpoint mtu wins over link mtu")
	assert.Equal(t, Pos{File: "testdata/good/clab.yaml", Line: 35, Col: 30}, iface(t, topo, "r2", "eth1").Pos)
	assert.Len(t, topo.Node("myhost").Interfaces, 1)
	assert.Nil(t, topo.Node("r2").Interface("r2-host"), "host side is not a node interface")

	assert.Equal(t, []string{`image "alpine:3" is not used by the netns provider (nodes: r1, r2)`}, topo.Notes)
}

func TestInheritance(t *testing.T) {
	topo := load(t, "inherit.yaml")
	assert.Equal(t, "tb", topo.Prefix)
	assert.Equal(t, "tb-inherit-mgmt", topo.Mgmt.Network)

	s1 := topo.Node("s1")
	assert.Equal(t, KindLinux, s1.Kind)
	assert.Equal(t, "servers", s1.Group)
	assert.Equal(t, "ubuntu:24.04", s1.Image, "kind entry beats defaults")
	assert.Equal(t, "group-cmd", s1.Cmd, "group beats defaults")
	assert.Equal(t, []string{"echo group"}, s1.Exec, "nearest list replaces")
	assert.Equal(t, []Bind{{Host: "/kind", Node: "/kind"}}, s1.Binds)
	assert.Equal(t, map[string]string{"A": "defaults", "B": "kind", "C": "group", "D": "node"}, s1.Env)
	assert.Equal(t, map[string]string{"from": "defaults"}, s1.Labels)

	eth1 := iface(t, topo, "s1", "eth1")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, eth1.Addrs, "host bits kept")
	assert.Equal(t, 9000, eth1.MTU, "group interface entry beats defaults")
	assert.True(t, eth1.RDMA)
	assert.Equal(t, 1000, eth1.SpeedMbps, "attributes merge across layers")

	s2 := topo.Node("s2")
	assert.Equal(t, "custom:1", s2.Image, "node beats everything")
	assert.Equal(t, []string{"echo group"}, s2.Exec, "an empty list does not replace")
	assert.Equal(t, "group", s2.Env["D"])
	assert.Empty(t, iface(t, topo, "s2", "eth1").Addrs)

	plain := topo.Node("plain")
	assert.Equal(t, "", plain.Group)
	assert.Equal(t, "default-cmd", plain.Cmd)
	assert.Equal(t, []string{"echo defaults"}, plain.Exec)
	assert.Equal(t, map[string]string{"A": "defaults", "B": "kind", "C": "kind", "D": "kind"}, plain.Env)
	p1 := iface(t, topo, "plain", "eth1")
	assert.Equal(t, 1400, p1.MTU)
	assert.False(t, p1.RDMA)
	assert.Equal(t, 0, iface(t, topo, "s1", "eth2").MTU, "defaults entry is per interface name")
}

func TestKindDefaultsToLinux(t *testing.T) {
	topo, err := Parse([]byte("name: x\ntopology:\n  nodes:\n    a: {}\n"), "x.yaml", Options{Kinds: map[string]bool{"linux": true}})
	require.NoError(t, err)
	assert.Equal(t, KindLinux, topo.Node("a").Kind)
	assert.Empty(t, topo.Links)
	assert.Empty(t, topo.Notes)
}

func TestTbctlAdditions(t *testing.T) {
	topo := load(t, "tbctl.yaml")
	assert.Equal(t, "netns", topo.Provider)
	assert.True(t, topo.Mgmt.Disabled)
	assert.Equal(t, Addressing{Auto: true, Pool: netip.MustParsePrefix("10.10.0.0/16"), P2PLength: 31, LANLength: 26}, topo.Addressing)
	assert.Equal(t, RoutingStatic, topo.Routing)

	h1 := iface(t, topo, "h1", "eth0")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24"), netip.MustParsePrefix("10.1.0.11/24")}, h1.Addrs)
	assert.True(t, h1.RDMA)
	assert.Equal(t, 100_000, h1.SpeedMbps)
	assert.Equal(t, "02:aa:bb:cc:dd:01", h1.MAC.String())

	h2 := iface(t, topo, "h2", "eth0")
	assert.Equal(t, 1_000_000, h2.SpeedMbps, "endpoint speed wins over the node's interfaces entry")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.2/24")}, h2.Addrs)

	assert.Equal(t, []Route{
		{Dst: netip.MustParsePrefix("10.2.0.0/16"), NextHops: []NextHop{{Via: netip.MustParseAddr("10.1.0.254")}}},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), NextHops: []NextHop{
			{Via: netip.MustParseAddr("10.1.0.253")}, {Via: netip.MustParseAddr("10.1.0.252")},
		}},
	}, topo.Node("h1").Routes)
	assert.Equal(t, LinkVeth, topo.Links[1].Type)
	assert.Equal(t, Endpoint{"sw", "p2"}, topo.Links[1].B)
}

func TestAddressingDefaults(t *testing.T) {
	topo, err := Parse([]byte("name: x\naddressing:\ntopology:\n  nodes: {a: {}}\n"), "x.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, Addressing{Auto: true, Pool: netip.MustParsePrefix("198.18.0.0/16"), P2PLength: 30, LANLength: 24}, topo.Addressing)
	assert.Equal(t, "tb-x-mgmt", topo.Mgmt.Network)
}

func TestEmptyPrefixKept(t *testing.T) {
	topo, err := Parse([]byte("name: x\nprefix: ''\ntopology:\n  nodes: {a: {}}\n"), "x.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, "", topo.Prefix)
	assert.Equal(t, "x-mgmt", topo.Mgmt.Network)
}

func TestNotesOnlyForNetns(t *testing.T) {
	in := []byte("name: x\ntopology:\n  nodes: {a: {image: alpine}}\n")
	topo, err := Parse(in, "x.yaml", Options{Provider: "containerlab"})
	require.NoError(t, err)
	assert.Empty(t, topo.Notes)
	topo, err = Parse(in, "x.yaml", Options{Provider: "netns"})
	require.NoError(t, err)
	assert.Equal(t, []string{`image "alpine" is not used by the netns provider (nodes: a)`}, topo.Notes)
}

func TestYAMLMergeKeys(t *testing.T) {
	in := `name: x
topology:
  defaults: &base
    image: debian
  nodes:
    a:
      <<: *base
      cmd: run
`
	topo, err := Parse([]byte(in), "x.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, "debian", topo.Node("a").Image)
	assert.Equal(t, "run", topo.Node("a").Cmd)
}

func TestSuggest(t *testing.T) {
	fields := []string{"image", "kind", "exec", "mgmt-ipv4"}
	assert.Equal(t, "image", suggest.Closest("imgae", fields))
	assert.Equal(t, "kind", suggest.Closest("knd", fields))
	assert.Equal(t, "mgmt-ipv4", suggest.Closest("mgmt", fields))
	assert.Equal(t, "", suggest.Closest("zzzzzz", fields))
	assert.Equal(t, `valid fields: exec, image`, suggest.Hint("qqqq", []string{"image", "exec"}, "fields"))
	assert.Equal(t, "ab", suggest.Closest("ba", []string{"ab"}))
}

func TestParseSpeed(t *testing.T) {
	for in, want := range map[string]int{"100M": 100, "100Mbps": 100, "25G": 25_000, "25Gbps": 25_000, "1T": 1_000_000} {
		got, err := parseSpeed(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0G", "10", "10 G", "fast", "1Kbps"} {
		_, err := parseSpeed(bad)
		assert.Error(t, err, bad)
	}
}

// A containerlab lab of linux and bridge nodes parses unchanged: fields the
// netns provider does not use become one note per field, sysctls apply.
func TestContainerlabCompatibleLab(t *testing.T) {
	topo := load(t, "clab-compat.yaml")
	assert.Equal(t, "", topo.Prefix)
	assert.Equal(t, Mgmt{Network: "frr-mgmt", IPv4Subnet: netip.MustParsePrefix("172.31.0.0/24")}, topo.Mgmt)
	assert.Equal(t, netip.MustParseAddr("172.31.0.11"), topo.Node("r1").MgmtIPv4)
	assert.Equal(t, []Bind{{Host: "/srv/frr/r1", Node: "/etc/frr"}}, topo.Node("r1").Binds)
	assert.Equal(t, map[string]string{"role": "router"}, topo.Node("r2").Labels)
	assert.Equal(t, KindBridge, topo.Node("sw1").Kind)
	require.Len(t, topo.Links, 4)
	assert.Equal(t, 9000, topo.Links[3].MTU)

	assert.Equal(t, map[string]string{
		"net.ipv4.ip_forward":            "0",                  // node beats defaults
		"net.ipv4.conf.all.rp_filter":    "2",                  // node beats group
		"net.ipv4.tcp_rmem":              "4096 87380 6291456", // strings as written
		"net.ipv6.conf.all.disable_ipv6": "1",                  // true from defaults
	}, topo.Node("r1").Sysctls)
	assert.Equal(t, map[string]string{
		"net.ipv4.ip_forward":            "1",
		"net.ipv4.conf.all.rp_filter":    "0", // from the group
		"net.ipv6.conf.all.disable_ipv6": "1",
	}, topo.Node("r2").Sysctls)
	assert.Equal(t, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.disable_ipv6": "1"}, topo.Node("sw1").Sysctls)

	assert.Equal(t, []string{
		`image "alpine:3.20" is not used by the netns provider (nodes: h1)`,
		`image "quay.io/frrouting/frr:10.2.1" is not used by the netns provider (nodes: r1, r2)`,
		`aliases is not used by the netns provider (nodes: h1)`,
		`cap-add is not used by the netns provider (nodes: h1, r1, r2)`,
		`cpu is not used by the netns provider (nodes: r2)`,
		`dns is not used by the netns provider (nodes: r2)`,
		`enforce-startup-config is not used by the netns provider (nodes: r1)`,
		`env-files is not used by the netns provider (nodes: h1, r1, r2)`,
		`extras is not used by the netns provider (nodes: h1)`,
		`healthcheck is not used by the netns provider (nodes: r1)`,
		`image-pull-policy is not used by the netns provider (nodes: h1, r1, r2, sw1)`,
		`memory is not used by the netns provider (nodes: r2)`,
		`mgmt-ipv6 is not used by the netns provider (nodes: r1)`,
		`network-mode is not used by the netns provider (nodes: r1)`,
		`ports is not used by the netns provider (nodes: r1)`,
		`restart-policy is not used by the netns provider (nodes: r2)`,
		`stages is not used by the netns provider (nodes: r1)`,
		`startup-config is not used by the netns provider (nodes: r1, r2)`,
		`startup-delay is not used by the netns provider (nodes: r1, r2)`,
		`type is not used by the netns provider (nodes: r1)`,
		`user is not used by the netns provider (nodes: r1)`,
		`mgmt.ipv6-subnet is not used by the netns provider`,
		`mgmt.ipv4-gw is not used by the netns provider`,
		`mgmt.mtu is not used by the netns provider`,
		`mgmt.bridge is not used by the netns provider`,
		`mgmt.external-access is not used by the netns provider`,
		`mgmt.driver-opts is not used by the netns provider`,
		`settings is not used by the netns provider`,
	}, topo.Notes)

	other, err := Load("testdata/good/clab-compat.yaml", Options{Provider: "containerlab"})
	require.NoError(t, err)
	assert.Empty(t, other.Notes, "notes are about the netns provider")
}

func TestLinkVarsAndLabelsAcceptedSilently(t *testing.T) {
	in := two + "    - endpoints: [a:eth1, b:eth1]\n      labels: {color: red, weight: 3}\n      vars: {area: 0, peers: [x, y], nested: {k: v}}\n"
	topo, err := Parse([]byte(in), "t.yaml", Options{})
	require.NoError(t, err)
	assert.Empty(t, topo.Notes)
	require.Len(t, topo.Links, 1)
}

func TestUnusedFieldsFromDefaultsNoteEveryNode(t *testing.T) {
	in := "name: x\ndebug: true\ntopology:\n  defaults: {startup-config: base.cfg, SANs: [a.example]}\n" +
		"  kinds:\n    nokia_srlinux: {license: srl.lic}\n  nodes:\n    b: {}\n    a: {startup-config: a.cfg}\n"
	topo, err := Parse([]byte(in), "x.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"SANs is not used by the netns provider (nodes: a, b)",
		"startup-config is not used by the netns provider (nodes: a, b)",
		"debug is not used by the netns provider",
	}, topo.Notes, "a kinds entry no node uses yields no note")
}

func TestSysctlValues(t *testing.T) {
	in := "name: x\ntopology:\n  nodes:\n    a:\n      sysctls:\n        net.ipv4.ip_forward: true\n" +
		"        net.ipv4.conf.all.forwarding: false\n        net.core.somaxconn: 4096\n        net.ipv4.tcp_fastopen: '3'\n" +
		"        net.ipv4.neigh.default.base_reachable_time_ms: 0x10\n        net.ipv4.route.gc_elasticity: 1.5\n" +
		"    h:\n      kind: host\n      sysctls: {net.ipv4.ip_forward: 1}\n"
	topo, err := Parse([]byte(in), "x.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"net.ipv4.ip_forward":                           "1",
		"net.ipv4.conf.all.forwarding":                  "0",
		"net.core.somaxconn":                            "4096",
		"net.ipv4.tcp_fastopen":                         "3",
		"net.ipv4.neigh.default.base_reachable_time_ms": "16",
		"net.ipv4.route.gc_elasticity":                  "1.5",
	}, topo.Node("a").Sysctls)
	assert.Empty(t, topo.Node("h").Sysctls, "a host node is the host itself")
	assert.Equal(t, []string{"sysctls are not applied to host nodes, which are the host's own namespace (nodes: h)"}, topo.Notes)
}
