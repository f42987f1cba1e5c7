package ipplan

import (
	"math"
	"net/netip"
	"sort"

	"github.com/tbctl/tbctl/testbed/topo"
)

// Segment is one layer-2 broadcast domain: the two ends of a veth link, or
// every interface reached through one bridge or a chain of linked bridges.
type Segment struct {
	Ifaces  []*topo.Interface // non-bridge members, sorted by node then interface name
	Bridged bool              // at least one bridge port is part of the segment
	Subnet  netip.Prefix      // subnet of the first member address; zero when unaddressed
}

// segment is a Segment with what planning needs to know about its members.
type segment struct {
	Segment
	order int // index in t.Links of the first link touching the segment
}

// plan holds a topology and the indexes built over it.
type plan struct {
	t        *topo.Topology
	nodes    map[string]*topo.Node
	linkOf   map[*topo.Interface]*topo.Link
	external map[*topo.Interface]bool // ends of host, mgmt-net and dummy links
	segs     []*segment
	problems topo.Problems
}

// Segments returns the layer-2 segments of t in order of their first link
// in t.Links.
func Segments(t *topo.Topology) []Segment {
	p := newPlan(t)
	out := make([]Segment, len(p.segs))
	for i, s := range p.segs {
		out[i] = s.Segment
	}
	return out
}

func newPlan(t *topo.Topology) *plan {
	p := &plan{
		t:        t,
		nodes:    make(map[string]*topo.Node, len(t.Nodes)),
		linkOf:   make(map[*topo.Interface]*topo.Link),
		external: make(map[*topo.Interface]bool),
	}
	for _, n := range t.Nodes {
		p.nodes[n.Name] = n
	}
	p.buildSegments()
	return p
}

func (p *plan) kind(i *topo.Interface) string {
	if n := p.nodes[i.Node]; n != nil {
		return n.Kind
	}
	return ""
}

func (p *plan) buildSegments() {
	var ifaces []*topo.Interface
	index := make(map[*topo.Interface]int)
	byEnd := make(map[topo.Endpoint]*topo.Interface)
	for _, n := range p.t.Nodes {
		for _, i := range n.Interfaces {
			index[i] = len(ifaces)
			ifaces = append(ifaces, i)
			byEnd[topo.Endpoint{Node: n.Name, Iface: i.Name}] = i
		}
	}
	sets := newUnionFind(len(ifaces))
	order := make([]int, len(ifaces))
	for i := range order {
		order[i] = math.MaxInt
	}
	for li, l := range p.t.Links {
		a, b := byEnd[l.A], byEnd[l.B]
		for _, end := range []*topo.Interface{a, b} {
			if end == nil {
				continue
			}
			order[index[end]] = min(order[index[end]], li)
			p.linkOf[end] = l
			if !isVeth(l) {
				p.external[end] = true
			}
		}
		if isVeth(l) && a != nil && b != nil {
			sets.union(index[a], index[b])
		}
	}
	for _, n := range p.t.Nodes {
		if n.Kind != topo.KindBridge {
			continue
		}
		for _, i := range n.Interfaces[min(1, len(n.Interfaces)):] {
			sets.union(index[n.Interfaces[0]], index[i])
		}
	}
	p.segs = p.groupSegments(ifaces, sets, order)
}

func isVeth(l *topo.Link) bool {
	return l.Type == "" || l.Type == topo.LinkVeth
}

func (p *plan) groupSegments(ifaces []*topo.Interface, sets *unionFind, order []int) []*segment {
	byRoot := make(map[int]*segment)
	var segs []*segment
	for idx, i := range ifaces {
		root := sets.find(idx)
		s := byRoot[root]
		if s == nil {
			s = &segment{order: math.MaxInt}
			byRoot[root] = s
			segs = append(segs, s)
		}
		s.order = min(s.order, order[idx])
		if p.kind(i) == topo.KindBridge {
			s.Bridged = true
			continue
		}
		s.Ifaces = append(s.Ifaces, i)
	}
	kept := segs[:0]
	for _, s := range segs {
		if len(s.Ifaces) > 0 {
			sortIfaces(s.Ifaces)
			s.Subnet = primarySubnet(s.Ifaces)
			kept = append(kept, s)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].order < kept[j].order })
	return kept
}

func sortIfaces(ifaces []*topo.Interface) {
	sort.Slice(ifaces, func(i, j int) bool {
		if ifaces[i].Node != ifaces[j].Node {
			return ifaces[i].Node < ifaces[j].Node
		}
		return ifaces[i].Name < ifaces[j].Name
	})
}

// primarySubnet is the subnet of the first address found among ifaces.
func primarySubnet(ifaces []*topo.Interface) netip.Prefix {
	for _, i := range ifaces {
		if len(i.Addrs) > 0 {
			return i.Addrs[0].Masked()
		}
	}
	return netip.Prefix{}
}

// addrIn returns the interface's first address inside subnet.
func addrIn(i *topo.Interface, subnet netip.Prefix) (netip.Addr, bool) {
	for _, a := range i.Addrs {
		if a.Masked() == subnet {
			return a.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// posOf is where the interface was written: its own position, or its link's.
func (p *plan) posOf(i *topo.Interface) topo.Pos {
	if i.Pos.Line == 0 {
		if l := p.linkOf[i]; l != nil {
			return l.Pos
		}
	}
	return i.Pos
}

// describe names an interface and where its link was written, for messages.
func (p *plan) describe(i *topo.Interface, addr netip.Prefix) string {
	s := i.Node + ":" + i.Name
	if addr.IsValid() {
		s += " " + addr.String()
	}
	if l := p.linkOf[i]; l != nil && l.Pos.Line != 0 {
		return s + " (link at " + l.Pos.String() + ")"
	}
	if i.Pos.Line != 0 {
		return s + " (at " + i.Pos.String() + ")"
	}
	return s
}

type unionFind struct{ parent []int }

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n)}
	for i := range u.parent {
		u.parent[i] = i
	}
	return u
}

func (u *unionFind) find(x int) int {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[max(ra, rb)] = min(ra, rb)
	}
}
