package gen

import "fmt"

var single = shape{
	Shape:    Shape{Name: "single", Summary: "one bridge s1 with --hosts hosts (default 2) on one LAN", Params: []string{"hosts"}},
	defaults: func(p *Params) { orDefault(&p.Hosts, 2) },
	validate: func(p Params) error { return atLeast(1, "hosts", p.Hosts) },
	nodes:    func(p Params) int { return p.Hosts + 1 },
	name:     func(p Params) string { return fmt.Sprintf("single-%d", p.Hosts) },
	build: func(b *builder, p Params) {
		b.bridge("s1")
		for i := 1; i <= p.Hosts; i++ {
			b.host(name("h", i))
			b.link(name("h", i), 1, "s1", i)
		}
	},
}

// linear is Mininet's `--topo linear,N`: switch sI has host hI on eth1,
// the next switch on eth2 and the previous one on eth3.
var linear = shape{
	Shape:    Shape{Name: "linear", Summary: "a chain of --hosts bridges (default 4), one host on each, one LAN", Params: []string{"hosts"}},
	defaults: func(p *Params) { orDefault(&p.Hosts, 4) },
	validate: func(p Params) error { return atLeast(1, "hosts", p.Hosts) },
	nodes:    func(p Params) int { return 2 * p.Hosts },
	name:     func(p Params) string { return fmt.Sprintf("linear-%d", p.Hosts) },
	build: func(b *builder, p Params) {
		for i := 1; i <= p.Hosts; i++ {
			b.bridge(name("s", i))
			b.host(name("h", i))
			b.link(name("h", i), 1, name("s", i), 1)
			if i > 1 {
				b.link(name("s", i-1), 2, name("s", i), 3)
			}
		}
	},
}

// tree is Mininet's TreeTopo: switches numbered depth first, hosts at the
// leaves. A switch reaches its children on eth1..ethF and its parent on
// eth(F+1).
var tree = shape{
	Shape: Shape{Name: "tree", Summary: "a tree of bridges --depth deep (default 2), --fanout children each (default 2), hosts at the leaves", Params: []string{"depth", "fanout"}},
	defaults: func(p *Params) {
		orDefault(&p.Depth, 2)
		orDefault(&p.Fanout, 2)
	},
	validate: func(p Params) error {
		return firstError(atLeast(1, "depth", p.Depth), atLeast(1, "fanout", p.Fanout))
	},
	nodes: func(p Params) int { return treeNodes(p.Depth, p.Fanout) },
	name:  func(p Params) string { return fmt.Sprintf("tree-%d-%d", p.Depth, p.Fanout) },
	build: func(b *builder, p Params) {
		t := &treeBuilder{builder: b, fanout: p.Fanout}
		t.add(p.Depth)
	},
}

// treeNodes counts the nodes of a tree, stopping once past MaxNodes.
func treeNodes(depth, fanout int) int {
	total, level := 0, 1
	for d := 0; d <= depth && total <= MaxNodes; d++ {
		total += level
		level = min(level*fanout, MaxNodes+1)
	}
	return total
}

type treeBuilder struct {
	*builder
	fanout          int
	switches, hosts int
}

// add makes a subtree of the given depth and returns its root.
func (t *treeBuilder) add(depth int) string {
	if depth == 0 {
		t.hosts++
		h := name("h", t.hosts)
		t.host(h)
		return h
	}
	t.switches++
	s := name("s", t.switches)
	t.bridge(s)
	for port := 1; port <= t.fanout; port++ {
		child := t.add(depth - 1)
		t.link(s, port, child, t.uplink(depth-1))
	}
	return s
}

func (t *treeBuilder) uplink(depth int) int {
	if depth == 0 {
		return 1
	}
	return t.fanout + 1
}

// dumbbell puts --hosts hosts on each of two bridges, sl and sr, whose
// routers rl and rr are joined by the bottleneck link rl:eth2 — rr:eth2.
var dumbbell = shape{
	Shape:    Shape{Name: "dumbbell", Summary: "--hosts hosts (default 2) on each side of a bottleneck link between routers rl and rr, static routing", Params: []string{"hosts"}},
	defaults: func(p *Params) { orDefault(&p.Hosts, 2) },
	validate: func(p Params) error { return atLeast(1, "hosts", p.Hosts) },
	nodes:    func(p Params) int { return 2*p.Hosts + 4 },
	name:     func(p Params) string { return fmt.Sprintf("dumbbell-%d", p.Hosts) },
	build: func(b *builder, p Params) {
		b.staticRouting()
		for _, side := range []struct {
			bridge, router string
			first          int
		}{{"sl", "rl", 1}, {"sr", "rr", p.Hosts + 1}} {
			b.bridge(side.bridge)
			b.router(side.router)
			for i := 1; i <= p.Hosts; i++ {
				h := name("h", side.first+i-1)
				b.host(h)
				b.link(h, 1, side.bridge, i)
			}
			b.link(side.router, 1, side.bridge, p.Hosts+1)
		}
		b.link("rl", 2, "rr", 2)
	},
}

// leafSpine meshes every leaf with every spine: leafJ:ethI — spineI:ethJ.
// Hosts hang off their leaf on eth(S+1)...
var leafSpine = shape{
	Shape: Shape{Name: "leaf-spine", Summary: "--spines (default 2) and --leaves (default 2) routers in a full mesh, --hosts per leaf (default 2), static ECMP routing", Params: []string{"hosts", "spines", "leaves"}},
	defaults: func(p *Params) {
		orDefault(&p.Hosts, 2)
		orDefault(&p.Spines, 2)
		orDefault(&p.Leaves, 2)
	},
	validate: func(p Params) error {
		return firstError(atLeast(1, "hosts", p.Hosts), atLeast(1, "spines", p.Spines), atLeast(1, "leaves", p.Leaves))
	},
	nodes: func(p Params) int { return p.Spines + p.Leaves + p.Leaves*p.Hosts },
	name:  func(p Params) string { return fmt.Sprintf("leaf-spine-%d-%d-%d", p.Spines, p.Leaves, p.Hosts) },
	build: func(b *builder, p Params) {
		b.staticRouting()
		for s := 1; s <= p.Spines; s++ {
			b.router(name("spine", s))
		}
		host := 0
		for l := 1; l <= p.Leaves; l++ {
			leaf := name("leaf", l)
			b.router(leaf)
			for s := 1; s <= p.Spines; s++ {
				b.link(leaf, s, name("spine", s), l)
			}
			for i := 1; i <= p.Hosts; i++ {
				host++
				b.host(name("h", host))
				b.link(name("h", host), 1, leaf, p.Spines+i)
			}
		}
	},
}

// fatTree is the k-ary fat tree of Al-Fares et al.: pod P has edge routers
// pPeE and aggregation routers pPaA; aggregation router A reaches core
// routers c((A-1)k/2+1) .. c(Ak/2). Each router's uplinks come first
// (eth1..eth(k/2)), its downlinks next; core router ports are numbered by pod.
var fatTree = shape{
	Shape:    Shape{Name: "fat-tree", Summary: "k-ary fat tree of routers (--k even, default 4): k pods, (k/2)^2 cores, k^3/4 hosts, static ECMP routing", Params: []string{"k"}},
	defaults: func(p *Params) { orDefault(&p.K, 4) },
	validate: func(p Params) error {
		if p.K%2 != 0 {
			return fmt.Errorf("--k must be even, got %d", p.K)
		}
		return atLeast(2, "k", p.K)
	},
	nodes: func(p Params) int { return 5*p.K*p.K/4 + p.K*p.K*p.K/4 },
	name:  func(p Params) string { return fmt.Sprintf("fat-tree-%d", p.K) },
	build: func(b *builder, p Params) {
		b.staticRouting()
		half := p.K / 2
		for c := 1; c <= half*half; c++ {
			b.router(name("c", c))
		}
		host := 0
		for pod := 1; pod <= p.K; pod++ {
			for a := 1; a <= half; a++ {
				agg := fmt.Sprintf("p%da%d", pod, a)
				b.router(agg)
				for c := 1; c <= half; c++ {
					b.link(agg, c, name("c", (a-1)*half+c), pod)
				}
			}
			for e := 1; e <= half; e++ {
				edge := fmt.Sprintf("p%de%d", pod, e)
				b.router(edge)
				for a := 1; a <= half; a++ {
					b.link(edge, a, fmt.Sprintf("p%da%d", pod, a), half+e)
				}
				for i := 1; i <= half; i++ {
					host++
					b.host(name("h", host))
					b.link(name("h", host), 1, edge, half+i)
				}
			}
		}
	},
}
