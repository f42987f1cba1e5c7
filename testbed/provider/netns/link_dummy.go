package netns

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/topo"
)

// createDummy makes a dummy interface in a node: an interface with no far
// end, useful for loopback-style addresses.
func (d *deployment) createDummy(l *topo.Link) error {
	a := d.iface(l.A)
	ns := d.ns(l.A.Node)
	dummy := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: a.Name, MTU: a.MTU, HardwareAddr: a.MAC}}
	if err := ns.nl.LinkAdd(dummy); err != nil {
		return fmt.Errorf("create dummy: %w", err)
	}
	if d.isRootSide(l.A) {
		if err := d.markRoot(a.Name); err != nil {
			return err
		}
	}
	return d.setupEnd(ns, a, dummy)
}
