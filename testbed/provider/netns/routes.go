package netns

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/topo"
)

// installRoutes adds a node's static routes; several next hops make one
// ECMP route.
func (d *deployment) installRoutes(n *topo.Node) error {
	h := d.ns(n.Name).nl
	for _, r := range n.Routes {
		route := &netlink.Route{Dst: prefixToIPNet(r.Dst)}
		for _, nh := range r.NextHops {
			info := &netlink.NexthopInfo{Gw: nh.Via.AsSlice()}
			if nh.Dev != "" {
				link, err := h.LinkByName(nh.Dev)
				if err != nil {
					return fmt.Errorf("node %s: route to %s: find %s: %w", n.Name, r.Dst, nh.Dev, err)
				}
				info.LinkIndex = link.Attrs().Index
			}
			route.MultiPath = append(route.MultiPath, info)
		}
		if len(route.MultiPath) == 1 {
			route.Gw, route.LinkIndex = route.MultiPath[0].Gw, route.MultiPath[0].LinkIndex
			route.MultiPath = nil
		}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("node %s: add route to %s: %w", n.Name, r.Dst, err)
		}
	}
	return nil
}
