package netns

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/topo"

	"github.com/tbctl/tbctl/internal/namespace"
)

// createDummy makes a dummy interface in a node: an interface with no far
// end, useful for loopback-style addresses.
func (d *deployment) createDummy(l *topo.Link) error {
	a := d.iface(l.A)
	ns := d.ns(l.A.Node)
	attrs := netlink.LinkAttrs{Name: a.Name, MTU: a.MTU, HardwareAddr: a.MAC}
	var dummy netlink.Link = &netlink.Dummy{LinkAttrs: attrs}
	err := ns.nl.LinkAdd(dummy)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// No dummy driver in this kernel: a persistent TUN device that no
		// process reads behaves the same for local addresses.
		attrs.HardwareAddr = nil
		dummy = &netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TUN, Flags: netlink.TUNTAP_NO_PI}
		err = d.inNodeNS(l.A.Node, func() error { return netlink.LinkAdd(dummy) })
		d.rec.SetMechanism("dummy", "tun (the kernel has no dummy driver)")
	} else if err == nil {
		d.rec.SetMechanism("dummy", "dummy")
	}
	if err != nil {
		return fmt.Errorf("create dummy: %w", err)
	}
	if d.isRootSide(l.A) {
		if err := d.markRoot(a.Name); err != nil {
			return err
		}
	}
	return d.setupEnd(ns, a, dummy)
}

// inNodeNS runs fn on a disposable thread inside a node's namespace, for
// kernel interfaces that act on the caller's namespace (ioctls) rather than
// on a netlink socket's.
func (d *deployment) inNodeNS(node string, fn func() error) error {
	n := d.topo.Node(node)
	if n == nil || !inNamespace(n.Kind) {
		return fn()
	}
	return namespace.InThread(func() error {
		if err := namespace.Enter(namespacePath(d.rec, node), unix.CLONE_NEWNET); err != nil {
			return err
		}
		return fn()
	})
}
