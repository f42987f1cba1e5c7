package fault

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/fault/nft"
)

// lossPlan drops a share of an interface's egress packets: with netem
// where the kernel has it, else with an nftables random-drop rule. Undo
// covers both; apply records which served.
func lossPlan(nic end, pct float64, table string) *plan {
	chosen := ""
	return &plan{
		mechanism: "netem or nftables",
		chosen:    &chosen,
		undo: []Step{
			{Do: "qdisc-delete", NS: nic.NS, Iface: nic.Iface},
			{Do: "nft-delete", NS: nic.NS, Table: table},
		},
		apply: func() error {
			err := addNetemLoss(nic, pct)
			if err == nil {
				chosen = "netem"
				return nil
			}
			if !errors.Is(err, errNoNetem) {
				return err
			}
			mech, err := nft.LossIPv4(nic.NS, table, nic.Iface, pct, "egress")
			chosen = mech + " (no sch_netem in this kernel)"
			return err
		},
		verify: func() (string, error) {
			if strings.HasPrefix(chosen, "netem") {
				return fmt.Sprintf("netem loss %.2f%% on %s", pct, nic), nil
			}
			return nftDetail(nic.NS, table)
		},
	}
}

var errNoNetem = errors.New("the kernel has no sch_netem")

// isNoNetem tells whether adding a netem qdisc failed because the kernel
// has none.
func isNoNetem(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)
}

// addNetemLoss puts a netem qdisc with random loss at an interface's root.
func addNetemLoss(e end, pct float64) error {
	h, l, done, err := linkIn(e)
	if err != nil {
		return err
	}
	defer done()
	if q, err := rootQdisc(h, l); err == nil && q != nil && q.Type() != "noqueue" {
		return fmt.Errorf("%s already has a %s qdisc at its root; tbctl does not replace it", e, q.Type())
	}
	attrs := netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0x7b, 0), Parent: netlink.HANDLE_ROOT}
	netem := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Loss: float32(pct)})
	if err := h.QdiscAdd(netem); err != nil {
		if isNoNetem(err) {
			return errNoNetem
		}
		return fmt.Errorf("%s: add netem: %w", e, err)
	}
	return nil
}

// partitionPlan cuts traffic between two sets of nodes, with a table in
// every node of both sets.
func (e *Engine) partitionPlan(sets [][]string, oneway bool, table string) (*plan, error) {
	var from, to []netip.Prefix
	for _, n := range sets[0] {
		from = append(from, e.r.addrs(n)...)
	}
	for _, n := range sets[1] {
		to = append(to, e.r.addrs(n)...)
	}
	if len(from) == 0 || len(to) == 0 {
		return nil, fmt.Errorf("a side of the partition has no data-plane addresses")
	}
	var nss []string
	p := &plan{mechanism: "nftables"}
	for _, n := range append(append([]string(nil), sets[0]...), sets[1]...) {
		ns := e.r.nsOf(n)
		if ns == "" {
			return nil, fmt.Errorf("node %s is the host itself; tbctl does not change the host's firewall", n)
		}
		nss = append(nss, ns)
		p.undo = append(p.undo, Step{Do: "nft-delete", NS: ns, Table: table})
	}
	p.apply = func() error {
		for _, ns := range nss {
			if err := nft.Partition(ns, table, from, to, oneway); err != nil {
				return err
			}
		}
		return nil
	}
	p.verify = func() (string, error) {
		for _, ns := range nss {
			if ok, err := nft.Exists(ns, table); err != nil || !ok {
				return "", fmt.Errorf("table %s missing in %s: %v", table, ns, err)
			}
		}
		return fmt.Sprintf("nftables table %s in %d nodes: %s", table, len(nss), describeSets(sets, oneway)), nil
	}
	return p, nil
}

func describeSets(sets [][]string, oneway bool) string {
	arrow := "<->"
	if oneway {
		arrow = "->"
	}
	return strings.Join(sets[0], ",") + " " + arrow + " " + strings.Join(sets[1], ",")
}

// blackholePlan drops what a node sends to dst (and proto/port).
func blackholePlan(n end, dst netip.Prefix, proto string, port int, table string) *plan {
	return &plan{
		mechanism: "nftables",
		undo:      []Step{{Do: "nft-delete", NS: n.NS, Table: table}},
		apply: func() error {
			if n.NS == "" {
				return fmt.Errorf("node %s is the host itself; tbctl does not change the host's firewall", n.Node)
			}
			return nft.Blackhole(n.NS, table, dst, proto, port)
		},
		verify: func() (string, error) { return nftDetail(n.NS, table) },
	}
}

// nftDetail reads a fault's table back from the kernel.
func nftDetail(ns, table string) (string, error) {
	rules, err := nft.Rules(ns, table)
	if err != nil {
		return "", err
	}
	return strings.Join(rules, "; "), nil
}
