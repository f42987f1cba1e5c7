package ipplan

import (
	"net/netip"
	"sort"

	"github.com/tbctl/tbctl/testbed/topo"
)

// port is a linux node's address on one segment.
type port struct {
	node  int
	seg   int
	iface *topo.Interface
	addr  netip.Addr
}

// l3graph joins linux nodes through the segments they have addresses on.
type l3graph struct {
	nodes     []*topo.Node
	nodePorts [][]port // by node
	segPorts  [][]port // by segment
	dsts      []netip.Prefix
	connected map[netip.Prefix][]int // subnet → nodes with an address in it
}

func (p *plan) l3graph() *l3graph {
	g := &l3graph{segPorts: make([][]port, len(p.segs)), connected: make(map[netip.Prefix][]int)}
	index := make(map[string]int)
	for _, n := range p.t.Nodes {
		if n.Kind == topo.KindLinux {
			index[n.Name] = len(g.nodes)
			g.nodes = append(g.nodes, n)
		}
	}
	g.nodePorts = make([][]port, len(g.nodes))
	for si, s := range p.segs {
		for _, i := range s.Ifaces {
			g.addSubnets(i, index)
			node, isLinux := index[i.Node]
			if a, ok := addrIn(i, s.Subnet); ok && isLinux {
				pt := port{node: node, seg: si, iface: i, addr: a}
				g.segPorts[si] = append(g.segPorts[si], pt)
				g.nodePorts[node] = append(g.nodePorts[node], pt)
			}
		}
	}
	sort.Slice(g.dsts, func(i, j int) bool { return prefixLess(g.dsts[i], g.dsts[j]) })
	return g
}

// addSubnets records the subnets of an interface as destinations, and as
// connected to its node when that node is a linux node.
func (g *l3graph) addSubnets(i *topo.Interface, index map[string]int) {
	for _, a := range i.Addrs {
		subnet := a.Masked()
		nodes, known := g.connected[subnet]
		if !known {
			g.dsts = append(g.dsts, subnet)
		}
		if node, ok := index[i.Node]; ok && !containsInt(nodes, node) {
			nodes = append(nodes, node)
		}
		g.connected[subnet] = nodes
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// staticRoutes gives every linux node a route to every subnet it is not
// connected to, along all shortest paths counted in hops.
func (p *plan) staticRoutes() {
	g := p.l3graph()
	computed := make([][]topo.Route, len(g.nodes))
	bfs := newSearch(len(g.nodes), len(p.segs))
	for _, dst := range g.dsts {
		bfs.run(g, g.connected[dst])
		for u := range g.nodes {
			if hops := bfs.nextHops(g, u); len(hops) > 0 {
				computed[u] = append(computed[u], topo.Route{Dst: dst, NextHops: hops})
			}
		}
	}
	for u, n := range g.nodes {
		n.Routes = appendNew(n.Routes, computed[u])
	}
}

// appendNew appends the computed routes whose destination no written route
// already has.
func appendNew(written, computed []topo.Route) []topo.Route {
	have := make(map[netip.Prefix]bool, len(written))
	for _, r := range written {
		have[r.Dst.Masked()] = true
	}
	for _, r := range computed {
		if !have[r.Dst] {
			written = append(written, r)
		}
	}
	return written
}

// search is a breadth-first search from the nodes connected to one
// destination, reused across destinations.
type search struct {
	dist    []int32 // by node; -1 unreached
	segDist []int32 // by segment: distance of its nearest member
	queue   []int
}

func newSearch(nodes, segs int) *search {
	return &search{dist: make([]int32, nodes), segDist: make([]int32, segs)}
}

func (s *search) run(g *l3graph, sources []int) {
	fill(s.dist, -1)
	fill(s.segDist, -1)
	s.queue = s.queue[:0]
	for _, u := range sources {
		s.dist[u] = 0
		s.queue = append(s.queue, u)
	}
	for head := 0; head < len(s.queue); head++ {
		u := s.queue[head]
		for _, pt := range g.nodePorts[u] {
			if s.segDist[pt.seg] >= 0 {
				continue
			}
			s.segDist[pt.seg] = s.dist[u]
			for _, v := range g.segPorts[pt.seg] {
				if s.dist[v.node] < 0 {
					s.dist[v.node] = s.dist[u] + 1
					s.queue = append(s.queue, v.node)
				}
			}
		}
	}
}

// nextHops lists u's neighbours one hop closer to the destination, sorted.
func (s *search) nextHops(g *l3graph, u int) []topo.NextHop {
	d := s.dist[u]
	if d <= 0 {
		return nil
	}
	var hops []topo.NextHop
	for _, own := range g.nodePorts[u] {
		if s.segDist[own.seg] != d-1 {
			continue
		}
		for _, v := range g.segPorts[own.seg] {
			if v.node != u && s.dist[v.node] == d-1 {
				hops = append(hops, topo.NextHop{Via: v.addr, Dev: own.iface.Name})
			}
		}
	}
	sort.Slice(hops, func(i, j int) bool {
		if c := hops[i].Via.Compare(hops[j].Via); c != 0 {
			return c < 0
		}
		return hops[i].Dev < hops[j].Dev
	})
	return hops
}

func fill(s []int32, v int32) {
	for i := range s {
		s[i] = v
	}
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}

// Forwarders returns, sorted, the linux nodes that other nodes' routes
// pass through and that must therefore forward IPv4.
func Forwarders(t *topo.Topology) []string {
	owner := make(map[netip.Addr]string)
	for _, n := range t.Nodes {
		if n.Kind != topo.KindLinux {
			continue
		}
		for _, i := range n.Interfaces {
			for _, a := range i.Addrs {
				owner[a.Addr()] = n.Name
			}
		}
	}
	seen := make(map[string]bool)
	var out []string
	for _, n := range t.Nodes {
		for _, r := range n.Routes {
			for _, h := range r.NextHops {
				if name, ok := owner[h.Via]; ok && !seen[name] {
					seen[name] = true
					out = append(out, name)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
