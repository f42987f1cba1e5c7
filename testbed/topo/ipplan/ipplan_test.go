package ipplan

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

var bridges = map[string]string{"s1": topo.KindBridge, "s2": topo.KindBridge, "s3": topo.KindBridge}

func TestP2PThirty(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "b:eth2-c:eth1")
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/30", addrOf(lab, "a:eth1"))
	assert.Equal(t, "198.18.0.2/30", addrOf(lab, "b:eth1"))
	assert.Equal(t, "198.18.0.5/30", addrOf(lab, "b:eth2"))
	assert.Equal(t, "198.18.0.6/30", addrOf(lab, "c:eth1"))
}

func TestP2PThirtyOne(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "b:eth2-c:eth1")
	lab.Addressing.P2PLength = 31
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.0/31", addrOf(lab, "a:eth1"))
	assert.Equal(t, "198.18.0.1/31", addrOf(lab, "b:eth1"))
	assert.Equal(t, "198.18.0.2/31", addrOf(lab, "b:eth2"))
	assert.Equal(t, "198.18.0.3/31", addrOf(lab, "c:eth1"))
}

func TestNoAutoLeavesAddressesAlone(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1")
	lab.Addressing.Auto = false
	require.NoError(t, Apply(lab))
	assert.Empty(t, addrOf(lab, "a:eth1"))
}

func TestDefaultsWhenPlanUnset(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1")
	lab.Addressing = topo.Addressing{Auto: true}
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/30", addrOf(lab, "a:eth1"))
}

func TestSmallLANGetsLANLength(t *testing.T) {
	lab := newLab(bridges, "h1:eth1-s1:eth1", "h2:eth1-s1:eth2")
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/24", addrOf(lab, "h1:eth1"), "two hosts on a bridge are a LAN, not p2p")
	assert.Equal(t, "198.18.0.2/24", addrOf(lab, "h2:eth1"))
	assert.Empty(t, addrOf(lab, "s1:eth1"), "bridge ports get no address")
}

func TestLANSizedForItsHosts(t *testing.T) {
	var links []string
	for i := 1; i <= 300; i++ {
		links = append(links, fmt.Sprintf("h%03d:eth1-s%d:eth%d", i, (i-1)/100+1, i))
	}
	links = append(links, "s1:eth401-s2:eth401", "s2:eth402-s3:eth402")
	lab := newLab(bridges, links...)
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/23", addrOf(lab, "h001:eth1"))
	assert.Equal(t, "198.18.1.44/23", addrOf(lab, "h300:eth1"))
	segs := Segments(lab)
	require.Len(t, segs, 1)
	assert.Len(t, segs[0].Ifaces, 300)
	assert.Equal(t, netip.MustParsePrefix("198.18.0.0/23"), segs[0].Subnet)
}

func TestLinkedBridgesAreOneSegment(t *testing.T) {
	lab := newLab(bridges,
		"h1:eth1-s1:eth1", "h2:eth1-s1:eth2",
		"s1:eth3-s2:eth3",
		"h3:eth1-s2:eth1", "h4:eth1-s2:eth2",
		"h4:eth2-r:eth1")
	segs := Segments(lab)
	require.Len(t, segs, 2)
	assert.True(t, segs[0].Bridged)
	assert.Len(t, segs[0].Ifaces, 4)
	assert.False(t, segs[1].Bridged)
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.4/24", addrOf(lab, "h4:eth1"))
	assert.Equal(t, "198.18.1.1/30", addrOf(lab, "h4:eth2"))
}

func TestSkipsExplicitAndMgmtSubnets(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "c:eth1-d:eth1", "e:eth1-f:eth1")
	lab.Mgmt.IPv4Subnet = netip.MustParsePrefix("198.18.0.0/30")
	setAddr(lab, "c:eth1", "198.18.0.5/30")
	setAddr(lab, "d:eth1", "198.18.0.6/30")
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.9/30", addrOf(lab, "a:eth1"))
	assert.Equal(t, "198.18.0.5/30", addrOf(lab, "c:eth1"))
	assert.Equal(t, "198.18.0.13/30", addrOf(lab, "e:eth1"))
}

func TestPoolExhausted(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "b:eth2-c:eth1", "c:eth2-d:eth1", "d:eth2-e:eth1")
	lab.Addressing.Pool = netip.MustParsePrefix("10.9.0.0/29")
	ps := problems(t, Apply(lab))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Msg, "10.9.0.0/29")
	assert.Contains(t, ps[0].Msg, "2 segment(s)")
	assert.Contains(t, ps[0].Hint, "widen")
	assert.Equal(t, topo.Pos{File: "lab.yml", Line: 3, Col: 5}, ps[0].Pos)
}

func TestOverlapReportedWithPositions(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "c:eth1-d:eth1")
	lab.Addressing.Auto = false
	setAddr(lab, "a:eth1", "10.0.0.1/24")
	setAddr(lab, "b:eth1", "10.0.0.2/24")
	setAddr(lab, "c:eth1", "10.0.0.129/25")
	ps := problems(t, Apply(lab))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Msg, "overlapping address plans")
	assert.Contains(t, ps[0].Msg, "a:eth1 10.0.0.1/24 (link at lab.yml:1:5)")
	assert.Contains(t, ps[0].Msg, "c:eth1 10.0.0.129/25 (link at lab.yml:2:5)")
	assert.Equal(t, 2, ps[0].Pos.Line)
}

func TestDifferentSubnetsOnOneSegment(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1")
	setAddr(lab, "a:eth1", "10.0.0.1/30")
	setAddr(lab, "b:eth1", "10.0.1.2/30")
	ps := problems(t, Apply(lab))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Msg, "different subnets")
}

func TestMixedExplicitAndAuto(t *testing.T) {
	lab := newLab(bridges, "h1:eth1-s1:eth1", "h2:eth1-s1:eth2", "h3:eth1-s1:eth3", "h4:eth1-s1:eth4")
	setAddr(lab, "h2:eth1", "10.1.0.1/24")
	setAddr(lab, "h3:eth1", "10.1.0.3/24")
	require.NoError(t, Apply(lab))
	assert.Equal(t, "10.1.0.2/24", addrOf(lab, "h1:eth1"))
	assert.Equal(t, "10.1.0.1/24", addrOf(lab, "h2:eth1"))
	assert.Equal(t, "10.1.0.4/24", addrOf(lab, "h4:eth1"))
}

func TestMixedSegmentWithoutRoom(t *testing.T) {
	lab := newLab(bridges, "h1:eth1-s1:eth1", "h2:eth1-s1:eth2", "h3:eth1-s1:eth3")
	setAddr(lab, "h1:eth1", "10.1.0.1/30")
	setAddr(lab, "h2:eth1", "10.1.0.2/30")
	ps := problems(t, Apply(lab))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Msg, "no free address left in 10.1.0.0/30 for h3:eth1")
}

func TestHostLinksAreNotAutoAddressedButRouted(t *testing.T) {
	lab := newLab(nil, "r1:eth1-r2:eth1")
	addHostLink(lab, "r1:eth9")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	assert.Empty(t, addrOf(lab, "r1:eth9"))

	lab = newLab(nil, "r1:eth1-r2:eth1")
	addHostLink(lab, "r1:eth9")
	setAddr(lab, "r1:eth9", "172.30.0.1/24")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	assert.Equal(t, []string{"198.18.0.1@eth1"}, hops(routeTo(lab, "r2", "172.30.0.0/24")))
}

func TestRoutesOnALine(t *testing.T) {
	lab := newLab(nil, "r1:eth1-r2:eth1", "r2:eth2-r3:eth1")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	assert.Equal(t, []string{"198.18.0.2@eth1"}, hops(routeTo(lab, "r1", "198.18.0.4/30")))
	assert.Equal(t, []string{"198.18.0.5@eth1"}, hops(routeTo(lab, "r3", "198.18.0.0/30")))
	assert.Empty(t, lab.Node("r2").Routes)
	assert.Len(t, lab.Node("r1").Routes, 1)
	assert.Equal(t, []string{"r2"}, Forwarders(lab))
}

func TestNoRoutesWithoutStaticRouting(t *testing.T) {
	lab := newLab(nil, "r1:eth1-r2:eth1", "r2:eth2-r3:eth1")
	require.NoError(t, Apply(lab))
	assert.Empty(t, lab.Node("r1").Routes)
	assert.Empty(t, Forwarders(lab))
}

func TestECMPOnADiamond(t *testing.T) {
	lab := newLab(bridges,
		"a:eth1-b:eth1", "a:eth2-c:eth1", "b:eth2-d:eth1", "c:eth2-d:eth2",
		"d:eth3-s1:eth1", "h1:eth1-s1:eth2", "h2:eth1-s1:eth3")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	lan := Segments(lab)[4].Subnet
	require.Equal(t, "198.18.1.0/24", lan.String())
	assert.Equal(t, []string{"198.18.0.2@eth1", "198.18.0.6@eth2"}, hops(routeTo(lab, "a", lan.String())))
	assert.Equal(t, []string{"198.18.1.1@eth1"}, hops(routeTo(lab, "h1", "198.18.0.0/30")))
	assert.Equal(t, []string{"a", "b", "c", "d"}, Forwarders(lab))
}

func TestLeafSpineHasOneNextHopPerSpine(t *testing.T) {
	lab := newLab(nil,
		"leaf1:eth1-spine1:eth1", "leaf1:eth2-spine2:eth1",
		"leaf2:eth1-spine1:eth2", "leaf2:eth2-spine2:eth2",
		"h1:eth1-leaf1:eth3", "h2:eth1-leaf2:eth3")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	h2net := "198.18.0.20/30"
	require.Equal(t, "198.18.0.21/30", addrOf(lab, "h2:eth1"))
	assert.Equal(t, []string{"198.18.0.2@eth1", "198.18.0.6@eth2"}, hops(routeTo(lab, "leaf1", h2net)))
	assert.Equal(t, []string{"198.18.0.18@eth1"}, hops(routeTo(lab, "h1", h2net)))
	assert.Equal(t, []string{"198.18.0.9@eth2"}, hops(routeTo(lab, "spine1", h2net)))
}

func TestWrittenRoutesWin(t *testing.T) {
	lab := newLab(nil, "r1:eth1-r2:eth1", "r2:eth2-r3:eth1")
	lab.Routing = topo.RoutingStatic
	written := topo.Route{Dst: netip.MustParsePrefix("198.18.0.4/30"), NextHops: []topo.NextHop{{Via: netip.MustParseAddr("198.18.0.2")}}}
	lab.Node("r1").Routes = []topo.Route{written}
	require.NoError(t, Apply(lab))
	assert.Equal(t, []topo.Route{written}, lab.Node("r1").Routes)
}

func TestUnreachableSubnetGetsNoRoute(t *testing.T) {
	lab := newLab(nil, "a:eth1-b:eth1", "c:eth1-d:eth1")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	assert.Empty(t, lab.Node("a").Routes)
}

func TestApplyIsIdempotent(t *testing.T) {
	lab := newLab(nil, "r1:eth1-r2:eth1", "r2:eth2-r3:eth1")
	lab.Routing = topo.RoutingStatic
	require.NoError(t, Apply(lab))
	require.NoError(t, Apply(lab))
	assert.Equal(t, "198.18.0.1/30", addrOf(lab, "r1:eth1"))
	assert.Len(t, lab.Node("r1").Routes, 1)
}

func TestRouterChainIsFast(t *testing.T) {
	lab := newLab(nil, chain("r", 500)...)
	lab.Routing = topo.RoutingStatic
	start := time.Now()
	require.NoError(t, Apply(lab))
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Len(t, lab.Node("r1").Routes, 498)
	assert.Equal(t, []string{"198.18.0.2@eth2"}, hops(routeTo(lab, "r1", "198.18.7.196/30")))
}

func TestFatTreeEightIsFastWithECMP(t *testing.T) {
	lab := fatTree(8)
	start := time.Now()
	require.NoError(t, Apply(lab))
	assert.Less(t, time.Since(start), time.Second)
	h1, h128 := lab.Node("h1"), lab.Node("h128")
	require.NotNil(t, h128)
	dst := h128.Interfaces[0].Addrs[0].Masked()
	assert.Len(t, hops(routeTo(lab, "h1", dst.String())), 1)
	assert.Len(t, hops(routeTo(lab, "p1e1", dst.String())), 4, "one next hop per aggregation router")
	assert.Len(t, hops(routeTo(lab, "p1a1", dst.String())), 4, "one next hop per core router")
	assert.Len(t, h1.Routes, 3*8*8*8/4-1)
}

// fatTree builds a k-ary fat tree of linux routers and hosts.
func fatTree(k int) *topo.Topology {
	var links []string
	half, host := k/2, 0
	for pod := 1; pod <= k; pod++ {
		for e := 1; e <= half; e++ {
			for a := 1; a <= half; a++ {
				links = append(links, fmt.Sprintf("p%de%d:eth%d-p%da%d:eth%d", pod, e, a, pod, a, half+e))
			}
			for h := 1; h <= half; h++ {
				host++
				links = append(links, fmt.Sprintf("h%d:eth1-p%de%d:eth%d", host, pod, e, half+h))
			}
		}
		for a := 1; a <= half; a++ {
			for c := 1; c <= half; c++ {
				links = append(links, fmt.Sprintf("p%da%d:eth%d-c%d:eth%d", pod, a, c, (a-1)*half+c, pod))
			}
		}
	}
	lab := newLab(nil, links...)
	lab.Routing = topo.RoutingStatic
	return lab
}
