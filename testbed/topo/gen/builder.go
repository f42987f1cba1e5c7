package gen

import (
	"fmt"

	"github.com/tbctl/tbctl/testbed/topo"
)

// builder accumulates the nodes and links of a generated file.
type builder struct {
	f *topo.File
}

func newBuilder(p Params) *builder {
	f := &topo.File{
		Name:       p.Name,
		Addressing: &topo.AddressingDef{},
		Topology:   topo.TopologyDef{Nodes: map[string]topo.NodeDef{}},
	}
	if !p.Mgmt {
		f.Mgmt = &topo.MgmtDef{Disabled: true}
	}
	return &builder{f: f}
}

func (b *builder) node(name, kind string) {
	b.f.Topology.Nodes[name] = topo.NodeDef{Kind: kind}
}

func (b *builder) host(name string)   { b.node(name, topo.KindLinux) }
func (b *builder) bridge(name string) { b.node(name, topo.KindBridge) }
func (b *builder) router(name string) { b.node(name, topo.KindLinux) }

// link joins interface ethAI of node a to interface ethBI of node z.
func (b *builder) link(a string, ai int, z string, zi int) {
	b.f.Topology.Links = append(b.f.Topology.Links, topo.LinkDef{Endpoints: []topo.EndpointDef{
		{Short: endpoint(a, ai)}, {Short: endpoint(z, zi)},
	}})
}

func (b *builder) staticRouting() { b.f.Routing = topo.RoutingStatic }

func endpoint(node string, port int) string {
	return fmt.Sprintf("%s:eth%d", node, port)
}

func name(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }
