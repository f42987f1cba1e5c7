package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/lab"
)

// Adopt takes this host as a node of a lab in physical mode: it checks
// that every interface the record gives the node exists, is up and holds
// the addresses the topology writes, then records the lab and applies its
// links' static impairments (testbed.Adopt). It changes nothing else.
func Adopt(ctx context.Context, rec *lab.Record) error {
	if rec.Topology == nil || len(rec.Topology.Nodes) != 1 {
		return fmt.Errorf("adopt: the record must hold exactly one node")
	}
	n := rec.Topology.Nodes[0]
	var probs []string
	for _, i := range n.Interfaces {
		link, err := netlink.LinkByName(i.Name)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: no interface %s", n.Name, i.Name))
			continue
		}
		if link.Attrs().OperState != netlink.OperUp && link.Attrs().OperState != netlink.OperUnknown {
			probs = append(probs, fmt.Sprintf("%s: interface %s is %s, not up", n.Name, i.Name, link.Attrs().OperState))
		}
		have := map[netip.Prefix]bool{}
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		for _, a := range addrs {
			if p, ok := netip.AddrFromSlice(a.IP); ok {
				ones, _ := a.Mask.Size()
				have[netip.PrefixFrom(p.Unmap(), ones)] = true
			}
		}
		for _, want := range i.Addrs {
			if want.Addr().Is4() && !have[want] {
				probs = append(probs, fmt.Sprintf("%s: interface %s does not hold %s", n.Name, i.Name, want))
			}
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("this host does not match the topology: %s", strings.Join(probs, "; "))
	}
	return testbed.Adopt(ctx, rec)
}
