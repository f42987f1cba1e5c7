package instance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed"
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
