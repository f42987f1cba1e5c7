package instance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/ipplan"
)

func TestResolveRefFindsDataPlaneAddresses(t *testing.T) {
	top, err := topo.Parse([]byte(`name: x
addressing: {}
topology:
  nodes: {a: {}, b: {interfaces: {eth2: {ipv4: [198.18.9.1/24]}}}, c: {}}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - endpoints: ["b:eth2", "c:eth1"]
`), "x.yaml", topo.Options{})
	require.NoError(t, err)
	require.NoError(t, ipplan.Apply(top))
	addr, err := ResolveRef(top, "b")
	require.NoError(t, err)
	require.Equal(t, top.Node("b").Interface("eth1").Addrs[0].Addr().String(), addr, "the first interface by name")
	addr, err = ResolveRef(top, "b:eth2")
	require.NoError(t, err)
	require.Equal(t, "198.18.9.1", addr)
	addr, err = ResolveRef(top, "198.18.7.7")
	require.NoError(t, err)
	require.Equal(t, "198.18.7.7", addr, "an address stays as written")
	_, err = ResolveRef(top, "d")
	require.ErrorContains(t, err, `no node "d"`)
	_, err = ResolveRef(top, "b:eth9")
	require.ErrorContains(t, err, `no addressed interface "eth9"`)
}

func TestOrderMakesWavesAndFindsCycles(t *testing.T) {
	waves, err := Order([]string{"c", "a", "b"}, map[string][]string{"c": {"b"}, "b": {"a"}})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a"}, {"b"}, {"c"}}, waves)
	waves, err = Order([]string{"x", "y"}, nil)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"x", "y"}}, waves)
	_, err = Order([]string{"p", "q", "r"}, map[string][]string{"p": {"q"}, "q": {"p"}})
	require.ErrorContains(t, err, "cycle: p, q")
}
