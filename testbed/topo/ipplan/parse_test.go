package ipplan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

const routedLine = `name: line
mgmt: {disabled: true}
addressing: {}
routing: static
topology:
  nodes:
    r1: {kind: linux}
    r2: {kind: linux}
    r3: {kind: linux}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
`

func TestParsedLineIsPlanned(t *testing.T) {
	lab, err := topo.Parse([]byte(routedLine), "line.yml", topo.Options{})
	require.NoError(t, err)
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/30", addrOf(lab, "r1:eth1"))
	assert.Equal(t, []string{"198.18.0.2@eth1"}, hops(routeTo(lab, "r1", "198.18.0.4/30")))
	assert.Equal(t, []string{"r2"}, Forwarders(lab))
}

const overlapping = `name: overlap
mgmt: {disabled: true}
topology:
  nodes:
    a: {kind: linux, interfaces: {eth1: {ipv4: [10.0.0.1/24]}}}
    b: {kind: linux}
    c: {kind: linux}
    d: {kind: linux}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - type: veth
      endpoints:
        - node: c
          interface: eth1
          ipv4: [10.0.0.130/25]
        - d:eth1
`

func TestParsedOverlapNamesBothLinks(t *testing.T) {
	lab, err := topo.Parse([]byte(overlapping), "overlap.yml", topo.Options{})
	require.NoError(t, err)
	ps := problems(t, Apply(lab))
	require.Len(t, ps, 1)
	assert.Equal(t, "overlapping address plans: a:eth1 10.0.0.1/24 (link at overlap.yml:10:7) and c:eth1 10.0.0.130/25 (link at overlap.yml:11:7)", ps[0].Msg)
	assert.Equal(t, "overlap.yml", ps[0].Pos.File)
	assert.Equal(t, 13, ps[0].Pos.Line, "the position of the later interface")
}
