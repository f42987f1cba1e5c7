// Package ipplan assigns interface addresses from a pool and computes static
// routes for a resolved topology.
package ipplan

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/tbctl/tbctl/testbed/topo"
)

// Defaults used when the topology leaves the address plan unset.
var (
	DefaultPool      = netip.MustParsePrefix("198.18.0.0/16")
	DefaultP2PLength = 30
	DefaultLANLength = 24
)

// Apply fills in automatic addresses (when t.Addressing.Auto) and static
// routes (when t.Routing == topo.RoutingStatic). It returns topo.Problems for
// conflicts; on problems no route is computed.
func Apply(t *topo.Topology) error {
	p := newPlan(t)
	p.checkSegments()
	if t.Addressing.Auto {
		p.autoAddress()
	}
	p.refreshSubnets()
	p.checkOverlaps()
	if len(p.problems) > 0 {
		return p.problems
	}
	if t.Routing == topo.RoutingStatic {
		p.staticRoutes()
	}
	return nil
}

func (p *plan) add(pos topo.Pos, hint, format string, args ...any) {
	p.problems = append(p.problems, topo.Problem{Pos: pos, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// checkSegments reports segments whose members are addressed in different
// subnets.
func (p *plan) checkSegments() {
	for _, s := range p.segs {
		first := firstAddressed(s.Ifaces)
		for _, i := range s.Ifaces {
			if len(i.Addrs) == 0 {
				continue
			}
			if _, ok := addrIn(i, s.Subnet); !ok {
				p.add(p.posOf(i), "give every interface of one link or bridge an address in the same subnet",
					"%s and %s share a segment but are in different subnets",
					p.describe(i, i.Addrs[0]), p.describe(first, first.Addrs[0]))
			}
		}
	}
}

func firstAddressed(ifaces []*topo.Interface) *topo.Interface {
	for _, i := range ifaces {
		if len(i.Addrs) > 0 {
			return i
		}
	}
	return nil
}

func (p *plan) refreshSubnets() {
	for _, s := range p.segs {
		s.Subnet = primarySubnet(s.Ifaces)
	}
}

// subnetUse is one subnet used by one segment, with the member that uses it.
type subnetUse struct {
	subnet netip.Prefix
	seg    *segment
	iface  *topo.Interface
	addr   netip.Prefix
}

// checkOverlaps reports subnets of different segments that overlap.
func (p *plan) checkOverlaps() {
	uses := p.subnetUses()
	sort.SliceStable(uses, func(i, j int) bool { return prefixLess(uses[i].subnet, uses[j].subnet) })
	var open *subnetUse
	for k := range uses {
		u := &uses[k]
		if open != nil && open.subnet.Contains(u.subnet.Addr()) {
			if open.seg != u.seg {
				p.add(p.posOf(u.iface), "give each link or bridge its own subnet",
					"overlapping address plans: %s and %s",
					p.describe(open.iface, open.addr), p.describe(u.iface, u.addr))
			}
			if lastAddr(u.subnet).Compare(lastAddr(open.subnet)) <= 0 {
				continue
			}
		}
		open = u
	}
}

// subnetUses lists each distinct subnet of each segment once.
func (p *plan) subnetUses() []subnetUse {
	var uses []subnetUse
	for _, s := range p.segs {
		seen := make(map[netip.Prefix]bool)
		for _, i := range s.Ifaces {
			for _, a := range i.Addrs {
				if !seen[a.Masked()] {
					seen[a.Masked()] = true
					uses = append(uses, subnetUse{subnet: a.Masked(), seg: s, iface: i, addr: a})
				}
			}
		}
	}
	return uses
}
