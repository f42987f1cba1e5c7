package netns

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFirstFreeSizesAndSkipsUsedSubnets(t *testing.T) {
	pool := netip.MustParsePrefix("198.19.0.0/16")
	p, err := firstFree(pool, 10, nil)
	require.NoError(t, err)
	require.Equal(t, "198.19.0.0/24", p.String(), "small labs get a /24")

	p, err = firstFree(pool, 503, nil)
	require.NoError(t, err)
	require.Equal(t, "198.19.0.0/23", p.String(), "503 addresses need a /23")

	used := []netip.Prefix{netip.MustParsePrefix("198.19.0.0/24"), netip.MustParsePrefix("198.19.1.128/25")}
	p, err = firstFree(pool, 10, used)
	require.NoError(t, err)
	require.Equal(t, "198.19.2.0/24", p.String())

	_, err = firstFree(netip.MustParsePrefix("198.19.0.0/24"), 10, used)
	require.ErrorContains(t, err, "no free /24")
}

func TestMgmtBridgeNameFitsAndIsStable(t *testing.T) {
	a := mgmtBridgeName("a-very-long-lab-name-that-goes-on-and-on")
	require.LessOrEqual(t, len(a), 15)
	require.Equal(t, a, mgmtBridgeName("a-very-long-lab-name-that-goes-on-and-on"))
	require.NotEqual(t, a, mgmtBridgeName("other"))
}
