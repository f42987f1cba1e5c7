package netns

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/topo"
)

// createLink makes one link of any type.
func (d *deployment) createLink(l *topo.Link) error {
	var err error
	switch l.Type {
	case topo.LinkVeth:
		err = d.createVeth(l)
	case topo.LinkHost:
		err = d.createHostLink(l)
	case topo.LinkMgmtNet:
		err = d.createMgmtNetLink(l)
	case topo.LinkDummy:
		err = d.createDummy(l)
	default:
		err = fmt.Errorf("link type %q is not supported by the netns provider", l.Type)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", linkName(l), err)
	}
	return nil
}

func linkName(l *topo.Link) string {
	if l.B.Node == "" {
		return l.A.String()
	}
	return l.A.String() + " - " + l.B.String()
}

// createVeth joins two node interfaces with a veth pair created directly in
// both namespaces, then attaches each end to its node.
func (d *deployment) createVeth(l *topo.Link) error {
	a, b := d.iface(l.A), d.iface(l.B)
	if err := d.vethPair(d.ifindexFor(l), a, d.ns(l.A.Node), b, d.ns(l.B.Node)); err != nil {
		return err
	}
	// Ends on host nodes live in the root namespace, which destroy does not
	// delete: mark them so it finds them.
	for _, e := range []topo.Endpoint{l.A, l.B} {
		if d.isRootSide(e) {
			if err := d.markRoot(e.Iface); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstIfindex starts the interface indexes tbctl chooses for the end of a
// veth pair it creates; the kernel numbers the other end from 1 up. The two
// ends of a pair then never share an index, which matters: the kernel
// delays carrier changes of a veth whose index equals its peer's by up to a
// second, and a bridge forwards on a port only once its carrier is seen.
const firstIfindex = 1 << 16

// ifindexFor returns a lab-wide unique index for the near end of link i.
func (d *deployment) ifindexFor(l *topo.Link) int {
	return firstIfindex + d.linkNo[l]
}

// vethPair makes a veth pair with end a in namespace nsA and end b in nsB
// and configures both ends.
func (d *deployment) vethPair(index int, a *topo.Interface, nsA *nodeNS, b *topo.Interface, nsB *nodeNS) error {
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: a.Name, Index: index, MTU: a.MTU, HardwareAddr: a.MAC},
		PeerName:         b.Name,
		PeerMTU:          uint32(b.MTU),
		PeerHardwareAddr: b.MAC,
		PeerNamespace:    netlink.NsFd(nsB.fd),
	}
	if err := nsA.nl.LinkAdd(veth); err != nil {
		return kernelLacks("veth", err)
	}
	if err := d.setupEnd(nsA, a, veth); err != nil {
		return err
	}
	peer, err := nsB.nl.LinkByName(b.Name)
	if err != nil {
		return fmt.Errorf("find %s: %w", b.Name, err)
	}
	return d.setupEnd(nsB, b, peer)
}

// setupEnd attaches an interface to its node: to the node's bridge for
// bridge nodes, its addresses otherwise; then sets it up.
func (d *deployment) setupEnd(ns *nodeNS, ifc *topo.Interface, link netlink.Link) error {
	if n := d.topo.Node(ifc.Node); n != nil && n.Kind == topo.KindBridge {
		br, err := ns.nl.LinkByName(n.Name)
		if err != nil {
			return fmt.Errorf("find bridge %s: %w", n.Name, err)
		}
		if err := ns.nl.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", ifc.Name, n.Name, err)
		}
	}
	for _, p := range ifc.Addrs {
		addr := &netlink.Addr{IPNet: prefixToIPNet(p)}
		if err := ns.nl.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %s to %s:%s: %w", p, ifc.Node, ifc.Name, err)
		}
	}
	if err := ns.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s:%s up: %w", ifc.Node, ifc.Name, err)
	}
	return nil
}

// iface returns the topology's description of an endpoint, or a bare one
// for the far side of host and mgmt-net links.
func (d *deployment) iface(e topo.Endpoint) *topo.Interface {
	if n := d.topo.Node(e.Node); n != nil {
		if i := n.Interface(e.Iface); i != nil {
			return i
		}
	}
	return &topo.Interface{Node: e.Node, Name: e.Iface}
}
