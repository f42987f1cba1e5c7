package clab

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/ipplan"
)

const sample = `name: x
addressing: {}
topology:
  nodes:
    h1: {kind: linux, exec: ["tc qdisc show"], sysctls: {net.ipv4.tcp_ecn: "1"}}
    s1: {kind: bridge}
    r1: {kind: nokia_srlinux, image: srl:24.10, exec: ["echo hi"]}
    app: {kind: linux, image: alpine:3, cmd: "sleep 1d", binds: ["/tmp:/data:ro"]}
  links:
    - endpoints: ["h1:eth1", "s1:p1"]
    - endpoints: ["app:eth1", "s1:p2"]
    - endpoints: ["r1:e1-1", "h1:eth2"]
      mtu: 1400
    - type: host
      endpoint: {node: app, interface: eth2}
      host-interface: app-host
`

func parse(t *testing.T, src string) *topo.Topology {
	t.Helper()
	top, err := topo.Parse([]byte(src), "x.yaml", topo.Options{Provider: Name})
	require.NoError(t, err)
	require.NoError(t, ipplan.Apply(top))
	return top
}

func TestTranslate(t *testing.T) {
	top := parse(t, sample)
	rec := &lab.Record{Name: "x", Prefix: "tb"}
	data, adopt, err := translate(rec, top, "tbctl-node:abc", "198.19.7.0/24")
	require.NoError(t, err)
	var f file
	require.NoError(t, yaml.Unmarshal(data, &f))
	assert.Equal(t, "tb-x", f.Name)
	assert.Equal(t, mgmt{Network: "tb-x-mgmt", IPv4Subnet: "198.19.7.0/24"}, f.Mgmt)

	// tbctl's own nodes run its image and are configured by tbctl.
	h1 := f.Topology.Nodes["h1"]
	assert.Equal(t, node{Kind: "linux", Image: "tbctl-node:abc", ImagePullPolicy: "never"}, *h1, "exec and sysctls stay with tbctl")
	assert.Equal(t, "linux", f.Topology.Nodes["s1"].Kind, "a bridge node is a container holding a bridge")
	// Nodes with an image of their own are passed through.
	r1 := f.Topology.Nodes["r1"]
	assert.Equal(t, "nokia_srlinux", r1.Kind)
	assert.Equal(t, []string{"echo hi"}, r1.Exec)
	app := f.Topology.Nodes["app"]
	assert.Equal(t, "sleep 1d", app.Cmd)
	assert.Equal(t, []string{"/tmp:/data:ro"}, app.Binds)
	assert.Equal(t, "IfNotPresent", app.ImagePullPolicy)

	assert.Equal(t, []link{
		{Endpoints: []string{"h1:eth1", "s1:p1"}},
		{Endpoints: []string{"app:eth1", "s1:p2"}},
		{Endpoints: []string{"r1:e1-1", "h1:eth2"}, MTU: 1400},
		{Endpoints: []string{"app:eth2", "host:app-host"}},
	}, f.Topology.Links)

	// What tbctl configures: its own nodes keep exec and sysctls; others
	// lose them to containerlab.
	byName := map[string]*topo.Node{}
	for _, n := range adopt.Nodes {
		byName[n.Name] = n
	}
	assert.Equal(t, []string{"tc qdisc show"}, byName["h1"].Exec)
	assert.NotEmpty(t, byName["h1"].Sysctls)
	assert.Empty(t, byName["r1"].Exec)
	assert.Empty(t, byName["app"].Cmd)
	assert.NotEmpty(t, byName["h1"].Interface("eth1").Addrs, "addresses are planned for tbctl to set")
}

func TestCheckRefuses(t *testing.T) {
	top := parse(t, "name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n    r: {kind: ceos}\n  links:\n    - type: dummy\n      endpoint: {node: a, interface: d0}\n")
	err := check(top)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.yaml:5:5: node r: kind ceos runs from its own image")
	assert.Contains(t, err.Error(), `link type "dummy" is not supported by the containerlab provider`)
}
