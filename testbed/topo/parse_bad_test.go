package topo

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// two is a valid pair of nodes to append links to.
const two = `name: lab
topology:
  nodes:
    a: {}
    b: {}
  links:
`

type badCase struct {
	name      string
	yaml      string
	opts      Options
	msg       string // substring of the problem's message
	line, col int
}

var badCases = []badCase{
	{name: "malformed yaml", yaml: "name: x\ntopology:\n  nodes:\n    a: b: c\n", msg: "line 4: mapping values are not allowed", line: 4, col: 1},
	{name: "tab indentation", yaml: "name: x\ntopology:\n\tnodes: {}\n", msg: "found character that cannot start any token", line: 3, col: 1},
	{name: "duplicate key", yaml: "name: x\nname: y\ntopology:\n  nodes: {a: {}}\n", msg: `duplicate key "name" (first defined at t.yaml:1:1)`, line: 2, col: 1},
	{name: "duplicate node", yaml: "name: x\ntopology:\n  nodes:\n    a: {}\n    b: {}\n    a: {}\n", msg: `duplicate key "a"`, line: 6, col: 5},
	{name: "unknown top-level field", yaml: "nmae: x\ntopology:\n  nodes: {a: {}}\n", msg: `unknown field "nmae"`, line: 1, col: 1},
	{name: "unknown node field", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      imgae: alpine\n", msg: `unknown field "imgae"`, line: 5, col: 7},
	{name: "unknown mgmt field", yaml: "name: x\nmgmt:\n  ipv4_subnet: 10.0.0.0/24\ntopology:\n  nodes: {a: {}}\n", msg: `unknown field "ipv4_subnet"`, line: 3, col: 3},
	{name: "unknown addressing field", yaml: "name: x\naddressing:\n  pol: 10.0.0.0/16\ntopology:\n  nodes: {a: {}}\n", msg: `unknown field "pol"`, line: 3, col: 3},
	{name: "unknown link field", yaml: two + "    - endpionts: [a:eth1, b:eth1]\n", msg: `unknown field "endpionts"`, line: 7, col: 7},
	{name: "unknown endpoint field", yaml: two + "    - type: veth\n      endpoints:\n        - {node: a, interface: eth1, nod: x}\n        - b:eth1\n", msg: `unknown field "nod"`, line: 9, col: 38},
	{name: "unknown interface field", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      interfaces:\n        eth1: {ipv6: [x]}\n", msg: `unknown field "ipv6"`, line: 6, col: 16},
	{name: "string instead of list", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      exec: echo hi\n", msg: `topology.nodes.a.exec: expected a list, got the string "echo hi"`, line: 5, col: 13},
	{name: "string instead of integer", yaml: two + "    - endpoints: [a:eth1, b:eth1]\n      mtu: big\n", msg: "topology.links[0].mtu: expected an integer", line: 8, col: 12},
	{name: "list instead of mapping", yaml: "name: x\ntopology:\n  nodes: [a, b]\n", msg: "topology.nodes: expected a mapping, got a list", line: 3, col: 10},
	{name: "no nodes", yaml: "name: x\ntopology:\n  nodes: {}\n", msg: "the topology has no nodes", line: 3, col: 10},
	{name: "missing name", yaml: "topology:\n  nodes: {a: {}}\n", msg: "missing lab name", line: 1, col: 1},
	{name: "empty name", yaml: "name: ''\ntopology:\n  nodes: {a: {}}\n", msg: "lab name is empty", line: 1, col: 7},
	{name: "bad lab name", yaml: "name: my lab\ntopology:\n  nodes: {a: {}}\n", msg: `lab name "my lab" has invalid characters`, line: 1, col: 7},
	{name: "long lab name", yaml: "name: " + strings.Repeat("x", 41) + "\ntopology:\n  nodes: {a: {}}\n", msg: "longer than 40 characters", line: 1, col: 7},
	{name: "bad node name", yaml: "name: x\ntopology:\n  nodes:\n    a/b: {}\n", msg: `node name "a/b" has invalid characters`, line: 4, col: 5},
	{name: "namespace name too long", yaml: "name: x\nprefix: " + strings.Repeat("p", 250) + "\ntopology:\n  nodes:\n    node1: {}\n", msg: "namespace name", line: 5, col: 5},
	{name: "unknown node", yaml: two + "    - endpoints: [a:eth1, c:eth1]\n", msg: `names unknown node "c"`, line: 7, col: 27},
	{name: "malformed endpoint", yaml: two + "    - endpoints: [a-eth1, b:eth1]\n", msg: `malformed endpoint "a-eth1"`, line: 7, col: 19},
	{name: "interface used twice", yaml: two + "    - endpoints: [a:eth1, b:eth1]\n    - endpoints: [a:eth1, b:eth2]\n", msg: "interface a:eth1 is used by two links, at t.yaml:7:19 and t.yaml:8:19", line: 8, col: 19},
	{name: "host interface used twice", yaml: two + "    - endpoints: [a:eth1, host:veth1]\n    - endpoints: [b:eth1, host:veth1]\n", msg: "interface host:veth1 is used by two links", line: 8, col: 27},
	{name: "root namespace shared by host-kind node", yaml: "name: x\ntopology:\n  nodes:\n    a: {}\n    h: {kind: host}\n  links:\n    - endpoints: [a:eth1, h:veth-a]\n    - type: host\n      endpoint: {node: a, interface: eth2}\n      host-interface: veth-a\n", msg: "interface host:veth-a is used by two links", line: 10, col: 23},
	{name: "self link", yaml: two + "    - endpoints: [a:eth1, a:eth2]\n", msg: "link connects node a to itself", line: 7, col: 7},
	{name: "long interface name", yaml: two + "    - endpoints: [a:eth1, b:abcdefghijklmnop]\n", msg: `interface name "abcdefghijklmnop" is longer than 15 bytes`, line: 7, col: 27},
	{name: "colon in interface name", yaml: two + "    - endpoints: [a:eth1, 'b:eth1:x']\n", msg: "contains '/', ':' or whitespace", line: 7, col: 27},
	{name: "dot interface name", yaml: two + "    - type: veth\n      endpoints:\n        - {node: a, interface: ..}\n        - b:eth1\n", msg: `".." is not a valid interface name`, line: 9, col: 32},
	{name: "eth0 with mgmt", yaml: two + "    - endpoints: [a:eth1, b:eth0]\n", msg: "node b: eth0 is reserved for the management network", line: 7, col: 27},
	{name: "unparsable MAC", yaml: two + "    - type: veth\n      endpoints:\n        - {node: a, interface: eth1, mac: 'zz:00'}\n        - b:eth1\n", msg: `bad MAC address "zz:00"`, line: 9, col: 43},
	{name: "multicast MAC", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      interfaces:\n        eth1: {mac: '01:00:5e:00:00:01'}\n    b: {}\n  links:\n    - endpoints: [a:eth1, b:eth1]\n", msg: "is a multicast address", line: 6, col: 21},
	{name: "bad interface CIDR", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      interfaces:\n        eth1:\n          ipv4: [10.0.0.1/33]\n    b: {}\n  links:\n    - endpoints: [a:eth1, b:eth1]\n", msg: `bad CIDR "10.0.0.1/33"`, line: 7, col: 18},
	{name: "bad mgmt subnet", yaml: "name: x\nmgmt:\n  ipv4-subnet: 172.20.20.1/24\ntopology:\n  nodes: {a: {}}\n", msg: "host bits are set", line: 3, col: 16},
	{name: "bad pool", yaml: "name: x\naddressing:\n  pool: banana\ntopology:\n  nodes: {a: {}}\n", msg: `bad CIDR "banana"`, line: 3, col: 9},
	{name: "mgmt-ipv4 outside subnet", yaml: "name: x\nmgmt:\n  ipv4-subnet: 172.20.20.0/24\ntopology:\n  nodes:\n    a:\n      mgmt-ipv4: 10.0.0.5\n", msg: "is outside the management subnet 172.20.20.0/24", line: 7, col: 18},
	{name: "duplicate mgmt-ipv4", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      mgmt-ipv4: 172.20.20.5\n    b:\n      mgmt-ipv4: 172.20.20.5\n", msg: "node b: mgmt-ipv4 172.20.20.5 is also used by node a", line: 7, col: 18},
	{name: "bad mgmt-ipv4", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      mgmt-ipv4: 172.20.20\n", msg: `"172.20.20" is not an IPv4 address`, line: 5, col: 18},
	{name: "MTU out of range", yaml: two + "    - endpoints: [a:eth1, b:eth1]\n      mtu: 70000\n", msg: "MTU 70000 is out of range", line: 8, col: 12},
	{name: "unknown link type", yaml: two + "    - type: vth\n      endpoints: [a:eth1, b:eth1]\n", msg: `unknown link type "vth"`, line: 7, col: 13},
	{name: "unsupported link type", yaml: two + "    - type: macvlan\n      endpoint: {node: a, interface: eth1}\n", msg: `link type "macvlan" is not supported by the netns provider`, line: 7, col: 13},
	{name: "veth with one endpoint", yaml: two + "    - type: veth\n      endpoints: [a:eth1]\n", msg: "a veth link needs exactly 2 endpoints, got 1", line: 8, col: 18},
	{name: "short link with three endpoints", yaml: two + "    - endpoints: [a:eth1, b:eth1, b:eth2]\n", msg: "a link needs exactly 2 endpoints, got 3", line: 7, col: 18},
	{name: "host link without host-interface", yaml: two + "    - type: host\n      endpoint: {node: a, interface: eth1}\n", msg: "a host link needs host-interface:", line: 7, col: 7},
	{name: "host link without endpoint", yaml: two + "    - type: host\n      host-interface: veth-a\n", msg: "a host link needs endpoint:", line: 7, col: 7},
	{name: "long host-interface", yaml: two + "    - type: mgmt-net\n      endpoint: {node: a, interface: eth1}\n      host-interface: a-very-long-host-ifname\n", msg: "is longer than 15 bytes", line: 9, col: 23},
	{name: "macvlan endpoint", yaml: two + "    - endpoints: [a:eth1, macvlan:enp0s3]\n", msg: "macvlan endpoints are not supported", line: 7, col: 27},
	{name: "mgmt-net link with mgmt disabled", yaml: "name: x\nmgmt: {disabled: true}\ntopology:\n  nodes: {a: {}}\n  links:\n    - endpoints: [a:eth1, mgmt-net:a-mgmt]\n", msg: "the management network is disabled", line: 6, col: 7},
	{name: "unsupported kind", yaml: "name: x\ntopology:\n  nodes:\n    srl:\n      kind: nokia_srlinux\n", opts: Options{Kinds: map[string]bool{"linux": true}}, msg: `node srl: kind "nokia_srlinux" is not supported by the netns provider`, line: 5, col: 13},
	{name: "inherited unsupported kind", yaml: "name: x\ntopology:\n  defaults:\n    kind: ceos\n  nodes:\n    a: {}\n", opts: Options{Kinds: map[string]bool{"linux": true}}, msg: `node a: kind "ceos" is not supported`, line: 4, col: 11},
	{name: "long bridge name", yaml: "name: x\ntopology:\n  nodes:\n    bridge-with-long-name:\n      kind: bridge\n", msg: "bridge node name \"bridge-with-long-name\" is longer than 15 bytes", line: 4, col: 5},
	{name: "missing group", yaml: "name: x\ntopology:\n  groups:\n    servers: {}\n  nodes:\n    a:\n      group: server\n", msg: `group "server" is not defined`, line: 7, col: 14},
	{name: "bad routing", yaml: "name: x\nrouting: ospf\ntopology:\n  nodes: {a: {}}\n", msg: `unknown routing "ospf"`, line: 2, col: 10},
	{name: "same address twice", yaml: two + "    - type: veth\n      endpoints:\n        - {node: a, interface: eth1, ipv4: [10.0.0.1/24]}\n        - {node: b, interface: eth1, ipv4: [10.0.0.1/24]}\n", msg: "address 10.0.0.1 is assigned to both a:eth1 and b:eth1", line: 10, col: 45},
	{name: "mgmt subnet overlaps pool", yaml: "name: x\nmgmt:\n  ipv4-subnet: 198.18.0.0/24\naddressing: {}\ntopology:\n  nodes: {a: {}}\n", msg: "overlapping address plans: mgmt ipv4-subnet 198.18.0.0/24 overlaps the addressing pool 198.18.0.0/16", line: 3, col: 16},
	{name: "address overlaps mgmt subnet", yaml: "name: x\nmgmt:\n  ipv4-subnet: 172.20.20.0/24\ntopology:\n  nodes:\n    a:\n      interfaces:\n        eth1: {ipv4: [172.20.20.9/24]}\n    b: {}\n  links:\n    - endpoints: [a:eth1, b:eth1]\n", msg: "overlapping address plans: address 172.20.20.9/24 of a:eth1 overlaps", line: 8, col: 23},
	{name: "bad p2p-length", yaml: "name: x\naddressing:\n  p2p-length: 29\ntopology:\n  nodes: {a: {}}\n", msg: "p2p-length 29 is not supported", line: 3, col: 15},
	{name: "bad lan-length", yaml: "name: x\naddressing:\n  lan-length: 31\ntopology:\n  nodes: {a: {}}\n", msg: "lan-length 31 is out of range", line: 3, col: 15},
	{name: "relative bind node path", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      binds: [/srv:data]\n", msg: "relative or empty node path", line: 5, col: 15},
	{name: "empty bind host path", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      binds:\n        - :/data\n", msg: "has an empty host path", line: 6, col: 11},
	{name: "unused interface entry", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      interfaces:\n        eth9: {mtu: 9000}\n", msg: "interface eth9 of node a is not used by any link", line: 6, col: 9},
	{name: "bad speed", yaml: two + "    - type: veth\n      endpoints:\n        - {node: a, interface: eth1, speed: fast}\n        - b:eth1\n", msg: `bad speed "fast"`, line: 9, col: 45},
	{name: "route dst with host bits", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      routes:\n        - {dst: 10.1.0.1/16, via: [10.0.0.1]}\n", msg: "host bits are set", line: 6, col: 17},
	{name: "route without via", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      routes:\n        - dst: 10.1.0.0/16\n", msg: `route to "10.1.0.0/16" has no via`, line: 6, col: 11},
	{name: "group inside a group", yaml: "name: x\ntopology:\n  groups:\n    g: {group: h}\n  nodes: {a: {group: g}}\n", msg: "an entry of groups cannot name a group", line: 4, col: 16},
	{name: "reserved node name", yaml: "name: x\ntopology:\n  nodes:\n    host: {}\n", msg: `node name "host" is reserved`, line: 4, col: 5},
	{name: "endpoint object without interface", yaml: two + "    - type: dummy\n      endpoint: {node: a}\n", msg: "endpoint needs both node: and interface:", line: 8, col: 17},
	{name: "special end in veth link", yaml: two + "    - type: veth\n      endpoints: [a:eth1, host:veth-a]\n", msg: `"host" is not a node`, line: 8, col: 27},
	{name: "host-interface on veth link", yaml: two + "    - endpoints: [a:eth1, b:eth1]\n      host-interface: x\n", msg: "host-interface applies only to host and mgmt-net links", line: 8, col: 7},
	{name: "impair bad delay", yaml: two + "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      impair: {delay: soon}\n", msg: `impair.delay "soon" is not a duration`, line: 8, col: 23},
	{name: "impair bad loss", yaml: two + "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      impair: {loss: 130}\n", msg: `impair.loss 130 is not a percentage`, line: 8, col: 22},
	{name: "impair unknown field", yaml: two + "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      impair: {dealy: 1ms}\n", msg: `unknown field "dealy"`, line: 8, col: 16},
	{name: "role without role", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      roles:\n        s: {params: {}}\n", msg: `role instance s has no role`, line: 6, col: 9},
	{name: "role after unknown instance", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      roles:\n        s: {role: traffic, after: [t]}\n", msg: `after names unknown instance "t"`, line: 6, col: 9},
	{name: "role instance twice", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      roles: {s: {role: traffic}}\n    b:\n      roles: {s: {role: traffic}}\n", msg: `role instance s is also placed on node a`, line: 7, col: 15},
	{name: "roles in defaults", yaml: "name: x\ntopology:\n  defaults:\n    roles: {s: {role: traffic}}\n  nodes:\n    a: {}\n", msg: `roles are placed on nodes, not inherited from defaults`, line: 4, col: 5},
	{name: "bad sysctl name", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      sysctls:\n        Net.IPv4.ip_forward: 1\n", msg: `invalid sysctl name "Net.IPv4.ip_forward"`, line: 6, col: 9},
	{name: "non-net sysctl", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      sysctls:\n        kernel.shmmax: 1024\n", msg: `sysctl "kernel.shmmax" is not a network sysctl`, line: 6, col: 9},
	{name: "non-net sysctl in defaults", yaml: "name: x\ntopology:\n  defaults:\n    sysctls: {vm.swappiness: 10}\n  nodes:\n    a: {}\n", msg: `sysctl "vm.swappiness" is not a network sysctl`, line: 4, col: 15},
	{name: "sysctl value is a list", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      sysctls:\n        net.ipv4.ip_forward: [1]\n", msg: "expected a string, number or boolean, got a list", line: 6, col: 30},
	{name: "sysctl without value", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      sysctls:\n        net.ipv4.ip_forward:\n", msg: "expected a string, number or boolean, got nothing", line: 6, col: 29},
	{name: "misspelled containerlab field", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      startup-confg: r1.cfg\n", msg: `unknown field "startup-confg"`, line: 5, col: 7},
	{name: "unknown mgmt field beside containerlab ones", yaml: "name: x\nmgmt:\n  ipv6-subnet: 3fff::/64\n  ipv6_gw: 3fff::1\ntopology:\n  nodes: {a: {}}\n", msg: `unknown field "ipv6_gw"`, line: 4, col: 3},
	{name: "containerlab field of the wrong type", yaml: "name: x\ntopology:\n  nodes:\n    a:\n      startup-delay: soon\n", msg: "topology.nodes.a.startup-delay", line: 5, col: 22},
	{name: "unknown top-level field beside containerlab ones", yaml: "name: x\nsetings: {}\ntopology:\n  nodes: {a: {}}\n", msg: `unknown field "setings"`, line: 2, col: 1},
	{name: "bool expected", yaml: "name: x\nmgmt:\n  disabled: maybe\ntopology:\n  nodes: {a: {}}\n", msg: "mgmt.disabled: expected true or false", line: 3, col: 13},
}

func TestParseBadInputs(t *testing.T) {
	require.GreaterOrEqual(t, len(badCases), 30)
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := Parse([]byte(tc.yaml), "t.yaml", tc.opts)
			require.Error(t, err)
			assert.Nil(t, topo)
			var probs Problems
			require.True(t, errors.As(err, &probs), "error is %T", err)
			for _, p := range probs {
				if strings.Contains(p.Msg, tc.msg) {
					assert.Equal(t, Pos{File: "t.yaml", Line: tc.line, Col: tc.col}, p.Pos, "position of %q", p.Msg)
					assert.NotEmpty(t, p.Hint, "hint for %q", p.Msg)
					return
				}
			}
			t.Errorf("no problem containing %q in:\n%v", tc.msg, err)
		})
	}
}

func TestMisspelledContainerlabFieldSuggestsIt(t *testing.T) {
	for in, want := range map[string]string{
		"name: x\ntopology:\n  nodes:\n    a: {startup-confg: r1.cfg}\n":             `t.yaml:4:9: unknown field "startup-confg" (did you mean "startup-config"?)`,
		"name: x\ntopology:\n  defaults: {cap_add: [NET_ADMIN]}\n  nodes: {a: {}}\n": `t.yaml:3:14: unknown field "cap_add" (did you mean "cap-add"?)`,
		"name: x\nmgmt: {ipv6-subent: 3fff::/64}\ntopology:\n  nodes: {a: {}}\n":     `t.yaml:2:8: unknown field "ipv6-subent" (did you mean "ipv6-subnet"?)`,
		"name: x\nsetting: {}\ntopology:\n  nodes: {a: {}}\n":                        `t.yaml:2:1: unknown field "setting" (did you mean "settings"?)`,
	} {
		_, err := Parse([]byte(in), "t.yaml", Options{})
		require.Error(t, err, in)
		assert.Equal(t, want, err.Error(), in)
	}
}

func TestParseReportsAllProblemsAtOnce(t *testing.T) {
	in := `name: lab
routing: rip
topology:
  nodes:
    a:
      imgae: alpine
      exec: echo
    b:
      binds: [data:/data]
      interfaces:
        eth1: {mac: "01:02:03:04:05:06"}
  links:
    - endpoints: [a:eth1, c:eth1]
    - endpoints: [a-eth2, b:eth2]
    - type: vth
    - endpoints: [a:eth3, b:eth1]
      mtu: 12
`
	_, err := Parse([]byte(in), "lab.yaml", Options{})
	require.Error(t, err)
	want := []string{
		`lab.yaml:2:10: unknown routing "rip"`,
		`lab.yaml:6:7: unknown field "imgae" (did you mean "image"?)`,
		`lab.yaml:7:13: topology.nodes.a.exec: expected a list, got the string "echo"`,
		`lab.yaml:9:15: bind "data:/data" has a relative host path`,
		`lab.yaml:11:21: MAC address "01:02:03:04:05:06" is a multicast address`,
		`lab.yaml:13:27: link endpoint c:eth1 names unknown node "c"`,
		`lab.yaml:14:19: malformed endpoint "a-eth2"`,
		`lab.yaml:15:13: unknown link type "vth"`,
		`lab.yaml:17:12: MTU 12 is out of range`,
	}
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(want), err.Error())
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w), "line %d: got %q, want prefix %q", i, lines[i], w)
	}
}

func TestSchemaOnlyProblemHasPosition(t *testing.T) {
	// The schema forbids mtu: 0 explicitly written; the walker cannot tell
	// it from an absent mtu, so this problem comes from the schema.
	in := two + "    - endpoints: [a:eth1, b:eth1]\n      mtu: 0\n"
	_, err := Parse([]byte(in), "t.yaml", Options{})
	require.Error(t, err)
	probs := err.(Problems)
	require.Len(t, probs, 1, err.Error())
	assert.Equal(t, Pos{File: "t.yaml", Line: 8, Col: 12}, probs[0].Pos)
	assert.Contains(t, probs[0].Msg, "topology.links[0].mtu")
}

func TestUnknownFieldReportedOnce(t *testing.T) {
	in := "name: x\ntopology:\n  nodes:\n    a: {imgae: alpine}\n"
	_, err := Parse([]byte(in), "t.yaml", Options{})
	require.Error(t, err)
	assert.Equal(t, `t.yaml:4:9: unknown field "imgae" (did you mean "image"?)`, err.Error())
}

func TestProblemsErrorSortedByPosition(t *testing.T) {
	ps := Problems{
		{Pos: Pos{File: "f", Line: 3, Col: 1}, Msg: "c"},
		{Pos: Pos{File: "f", Line: 1, Col: 9}, Msg: "b", Hint: "do b"},
		{Pos: Pos{File: "f", Line: 1, Col: 2}, Msg: "a"},
	}
	assert.Equal(t, "f:1:2: a\nf:1:9: b (do b)\nf:3:1: c", ps.Error())
	assert.Equal(t, "c", ps[0].Msg, "Error must not reorder the receiver")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml", Options{})
	require.Error(t, err)
	var probs Problems
	assert.False(t, errors.As(err, &probs))
}

func TestEmptyFile(t *testing.T) {
	_, err := Parse(nil, "e.yaml", Options{})
	require.Error(t, err)
	assert.Equal(t, "e.yaml:1:1: the file is empty (write a topology with name: and topology.nodes)", err.Error())
}

func ExampleProblems() {
	_, err := Parse([]byte("name: x\ntopology:\n  nodes:\n    r1: {knid: linux}\n"), "lab.yaml", Options{})
	fmt.Println(err)
	// Output: lab.yaml:4:10: unknown field "knid" (did you mean "kind"?)
}
