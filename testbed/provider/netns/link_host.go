package netns

import (
	"fmt"

	"github.com/tbctl/tbctl/testbed/topo"
)

// createHostLink joins a node interface to a new interface in the root
// namespace. The root end carries the lab's alias so destroy finds it.
func (d *deployment) createHostLink(l *topo.Link) error {
	a, b := d.iface(l.A), d.iface(l.B)
	if err := d.vethPair(d.ifindexFor(l), a, d.ns(l.A.Node), b, d.root); err != nil {
		return err
	}
	return d.markRoot(b.Name)
}

// markRoot sets the lab's alias on a root-namespace interface.
func (d *deployment) markRoot(name string) error {
	link, err := d.root.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find host interface %s: %w", name, err)
	}
	if err := d.root.nl.LinkSetAlias(link, aliasOf(d.rec.Name)); err != nil {
		return fmt.Errorf("mark host interface %s: %w", name, err)
	}
	return nil
}

// isRootSide reports whether an endpoint lives in the root namespace.
func (d *deployment) isRootSide(e topo.Endpoint) bool {
	n := d.topo.Node(e.Node)
	return n == nil || n.Kind == topo.KindHost
}
