package ipplan

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/tbctl/tbctl/testbed/topo"
)

// autoAddress gives addresses to the linux interfaces of every segment with
// at least two of them.
func (p *plan) autoAddress() {
	alloc, ok := p.newAllocator()
	if !ok {
		return
	}
	var exhausted []*segment
	for _, s := range p.segs {
		members := p.addressable(s)
		if len(members) < 2 {
			continue
		}
		explicit := firstAddressed(members)
		switch {
		case explicit == nil && len(exhausted) > 0:
			exhausted = append(exhausted, s)
		case explicit == nil:
			if !p.allocate(alloc, s, members) {
				exhausted = append(exhausted, s)
			}
		default:
			p.fillFrom(s, members)
		}
	}
	if len(exhausted) > 0 {
		p.reportExhausted(alloc.pool, exhausted)
	}
}

// addressable lists the members that automatic addressing may number:
// interfaces of linux nodes on veth links.
func (p *plan) addressable(s *segment) []*topo.Interface {
	var out []*topo.Interface
	for _, i := range s.Ifaces {
		if p.kind(i) == topo.KindLinux && !p.external[i] {
			out = append(out, i)
		}
	}
	return out
}

func (p *plan) newAllocator() (*allocator, bool) {
	a := p.t.Addressing
	pool := a.Pool
	if !pool.IsValid() {
		pool = DefaultPool
	}
	if !pool.Addr().Is4() {
		p.add(topo.Pos{File: p.t.File}, "use an IPv4 prefix such as 198.18.0.0/16",
			"addressing pool %s is not IPv4", pool)
		return nil, false
	}
	alloc := &allocator{pool: pool.Masked(), p2p: orDefault(a.P2PLength, DefaultP2PLength), lan: orDefault(a.LANLength, DefaultLANLength)}
	alloc.next = uint64(toUint(alloc.pool.Addr()))
	if m := p.t.Mgmt.IPv4Subnet; m.IsValid() {
		alloc.reserved = append(alloc.reserved, m.Masked())
	}
	for _, n := range p.t.Nodes {
		for _, i := range n.Interfaces {
			for _, addr := range i.Addrs {
				alloc.reserved = append(alloc.reserved, addr.Masked())
			}
		}
	}
	return alloc, true
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// allocate takes a subnet for a segment whose members have no address.
func (p *plan) allocate(alloc *allocator, s *segment, members []*topo.Interface) bool {
	length := alloc.lanLength(len(members))
	if len(members) == 2 && !s.Bridged {
		length = alloc.p2p
	}
	subnet, ok := alloc.take(length)
	if !ok {
		return false
	}
	for k, i := range members {
		i.Addrs = append(i.Addrs, netip.PrefixFrom(hostAddr(subnet, k), subnet.Bits()))
	}
	return true
}

// fillFrom numbers the unaddressed members of a segment from the subnet its
// other members already use.
func (p *plan) fillFrom(s *segment, members []*topo.Interface) {
	if !s.Subnet.IsValid() || !s.Subnet.Addr().Is4() || p.hasMixedSubnets(s) {
		return // reported by checkSegments
	}
	used := make(map[netip.Addr]bool)
	for _, i := range s.Ifaces {
		if a, ok := addrIn(i, s.Subnet); ok {
			used[a] = true
		}
	}
	k := 0
	for _, i := range members {
		if len(i.Addrs) > 0 {
			continue
		}
		for ; k < hostCount(s.Subnet) && used[hostAddr(s.Subnet, k)]; k++ {
		}
		if k == hostCount(s.Subnet) {
			p.add(p.posOf(i), "write a wider subnet on this segment, or give this interface an address",
				"no free address left in %s for %s", s.Subnet, p.describe(i, netip.Prefix{}))
			return
		}
		i.Addrs = append(i.Addrs, netip.PrefixFrom(hostAddr(s.Subnet, k), s.Subnet.Bits()))
		k++
	}
}

func (p *plan) hasMixedSubnets(s *segment) bool {
	for _, i := range s.Ifaces {
		if _, ok := addrIn(i, s.Subnet); len(i.Addrs) > 0 && !ok {
			return true
		}
	}
	return false
}

func (p *plan) reportExhausted(pool netip.Prefix, segs []*segment) {
	first := segs[0].Ifaces[0]
	p.add(p.posOf(first), "widen addressing.pool (a shorter prefix), or raise p2p-length / lan-length",
		"addressing pool %s is exhausted: %d segment(s) left without addresses, the first at %s",
		pool, len(segs), p.describe(first, netip.Prefix{}))
}

// allocator hands out aligned IPv4 subnets from a pool in increasing order,
// skipping reserved ones.
type allocator struct {
	pool     netip.Prefix
	p2p, lan int
	next     uint64 // first address not yet considered
	reserved []netip.Prefix
}

// lanLength is the prefix length for a LAN of n hosts: lan, or shorter when
// n hosts plus network and broadcast addresses do not fit.
func (a *allocator) lanLength(n int) int {
	hostBits := bits.Len(uint(n + 1)) // smallest h with 2^h >= n+2
	return min(a.lan, 32-hostBits)
}

func (a *allocator) take(length int) (netip.Prefix, bool) {
	if length < a.pool.Bits() || length > 32 {
		return netip.Prefix{}, false
	}
	size := uint64(1) << (32 - length)
	end := uint64(toUint(a.pool.Addr())) + uint64(1)<<(32-a.pool.Bits())
	for start := alignUp(a.next, size); start+size <= end; start += size {
		candidate := netip.PrefixFrom(fromUint(uint32(start)), length)
		if !a.isReserved(candidate) {
			a.next = start + size
			return candidate, true
		}
	}
	return netip.Prefix{}, false
}

func (a *allocator) isReserved(candidate netip.Prefix) bool {
	for _, r := range a.reserved {
		if r.Overlaps(candidate) {
			return true
		}
	}
	return false
}

func alignUp(v, size uint64) uint64 {
	return (v + size - 1) / size * size
}

// hostCount is how many host addresses a subnet has.
func hostCount(subnet netip.Prefix) int {
	size := 1 << (32 - subnet.Bits())
	if subnet.Bits() >= 31 {
		return size
	}
	return size - 2
}

// hostAddr is the k-th host address of a subnet (0-based): .1, .2, ... or,
// in a /31 or /32, .0, .1.
func hostAddr(subnet netip.Prefix, k int) netip.Addr {
	first := uint32(1)
	if subnet.Bits() >= 31 {
		first = 0
	}
	return fromUint(toUint(subnet.Masked().Addr()) + first + uint32(k))
}

func toUint(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func fromUint(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// lastAddr is the highest address of a prefix, in either family.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
