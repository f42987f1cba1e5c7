package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/experiment"
)

func TestResolveRefFindsDataPlaneAddresses(t *testing.T) {
	top, _, err := testbed.ResolveData([]byte(`name: x
addressing: {}
topology:
  nodes: {a: {}, b: {interfaces: {eth2: {ipv4: [198.18.9.1/24]}}}, c: {}}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - endpoints: ["b:eth2", "c:eth1"]
`), "x.yaml", "")
	require.NoError(t, err)
	addr, err := resolveRef(top, "b")
	require.NoError(t, err)
	require.Equal(t, top.Node("b").Interface("eth1").Addrs[0].Addr().String(), addr, "the first interface by name")
	addr, err = resolveRef(top, "b:eth2")
	require.NoError(t, err)
	require.Equal(t, "198.18.9.1", addr)
	addr, err = resolveRef(top, "198.18.7.7")
	require.NoError(t, err)
	require.Equal(t, "198.18.7.7", addr, "an address stays as written")
	_, err = resolveRef(top, "d")
	require.ErrorContains(t, err, `no node "d"`)
	_, err = resolveRef(top, "b:eth9")
	require.ErrorContains(t, err, `no addressed interface "eth9"`)
}

func TestSubdirAndLabels(t *testing.T) {
	p := &Plan{Exp: &experiment.Experiment{Repetitions: 2}, Point: experiment.Point{Index: 2, Label: "streams=4,cc=reno"}, Rep: 2}
	require.Equal(t, "p03-streams=4,cc=reno/r02", p.Subdir(8))
	require.Equal(t, ".", p.Subdir(1))
	require.Equal(t, "streams=4,cc=reno rep 2", p.Label())
	require.Equal(t, "run", (&Plan{Exp: &experiment.Experiment{Repetitions: 1}}).Label())
	name := labName("a-very-long-experiment-name", "20261123T000000Z-beef", 12)
	require.Equal(t, "a-very-long-experime-beef-12", name)
	require.LessOrEqual(t, len(name), 40)
}
