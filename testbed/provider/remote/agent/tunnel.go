package agent

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// Tunnel makes one end of a cross-host link in this host's root network
// namespace: a bridge joining the node's veth (made by the host's lab) to
// a VXLAN device whose remote is the other host. Both new devices carry
// the host lab's alias.
func Tunnel(t *wire.Tunnel) error {
	alias := netns.Alias(t.Lab)
	veth, err := netlink.LinkByName(t.Veth)
	if err != nil {
		return fmt.Errorf("tunnel %s: find the node's veth %s: %w", t.VXLAN, t.Veth, err)
	}
	remoteIP := net.ParseIP(t.Remote)
	if remoteIP == nil {
		return fmt.Errorf("tunnel %s: remote %q is not an IP address", t.VXLAN, t.Remote)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: t.Bridge, MTU: t.MTU}}
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: t.VXLAN, MTU: t.MTU}, VxlanId: t.VNI, Group: remoteIP, Port: t.Port, Learning: true}
	for _, l := range []netlink.Link{br, vx} {
		if err := netlink.LinkAdd(l); err != nil {
			return fmt.Errorf("tunnel: create %s: %w", l.Attrs().Name, err)
		}
		if err := netlink.LinkSetAlias(l, alias); err != nil {
			return fmt.Errorf("tunnel: mark %s: %w", l.Attrs().Name, err)
		}
	}
	for _, l := range []netlink.Link{vx, veth} {
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("tunnel: add %s to %s: %w", l.Attrs().Name, t.Bridge, err)
		}
	}
	for _, l := range []netlink.Link{br, vx, veth} {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("tunnel: set %s up: %w", l.Attrs().Name, err)
		}
	}
	return nil
}
