package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Adopt configures a lab whose nodes and links another backend made: each
// node's network namespace is pinned already at its usual place (see
// NamespacePath) and its link interfaces exist there. Adopt does the rest
// of what Deploy does, with the same code: a Linux bridge inside each
// bridge node with its ports attached, the addresses of every interface,
// loopback and forwarding, IPv6 off unless asked for, sysctls, routes,
// node commands and exec lines (run from the host inside the node's
// network namespace). The containerlab provider uses it, so that a
// topology means the same on both providers.
func Adopt(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, prog provider.Progress) error {
	root, err := rootNS()
	if err != nil {
		return fmt.Errorf("open root namespace: %w", err)
	}
	d := &deployment{lab: l, rec: rec, topo: t, root: root, nss: map[string]*nodeNS{}, linkNo: map[*topo.Link]int{}}
	defer d.close()
	var ends []*topo.Interface
	for _, link := range t.Links {
		if link.Type != topo.LinkVeth {
			continue
		}
		for _, e := range []topo.Endpoint{link.A, link.B} {
			if n := t.Node(e.Node); n != nil && adoptable(n) {
				ends = append(ends, d.iface(e))
			}
		}
	}
	nodes := nodesWhere(t, adoptable)
	bridges := nodesOfKind(t, topo.KindBridge)
	withRoutes := nodesWhere(t, func(n *topo.Node) bool { return adoptable(n) && len(n.Routes) > 0 })
	withSysctls := nodesWhere(t, func(n *topo.Node) bool { return adoptable(n) && len(n.Sysctls) > 0 })
	withCmd := nodesWhere(t, func(n *topo.Node) bool { return adoptable(n) && n.Cmd != "" })
	withExec := nodesWhere(t, func(n *topo.Node) bool { return adoptable(n) && len(n.Exec) > 0 })
	actions := []action{
		{"open namespaces", len(nodes), func(ctx context.Context, i int) error { return d.adoptNode(nodes[i]) }},
		{"create bridges", len(bridges), func(ctx context.Context, i int) error { return d.createBridge(bridges[i]) }},
		{"configure interfaces", len(ends), func(ctx context.Context, i int) error { return d.adoptEnd(ends[i]) }},
		{"set sysctls", len(withSysctls), func(ctx context.Context, i int) error { return d.setSysctls(withSysctls[i]) }},
		{"install routes", len(withRoutes), func(ctx context.Context, i int) error { return d.installRoutes(withRoutes[i]) }},
		{"start node commands", len(withCmd), func(ctx context.Context, i int) error { return d.startCmd(withCmd[i]) }},
		{"run exec commands", len(withExec), func(ctx context.Context, i int) error { return d.runExec(ctx, withExec[i]) }},
	}
	return runActions(ctx, actions, prog)
}

// adoptable nodes are those Adopt configures: linux and bridge nodes.
// Other kinds (a router's operating system in a container) configure
// themselves.
func adoptable(n *topo.Node) bool { return n.Kind == topo.KindLinux || n.Kind == topo.KindBridge }

// adoptNode opens a node's pinned namespace and prepares it as createNS
// does a new one: loopback up, IPv6 off unless asked for, forwarding on
// routers.
func (d *deployment) adoptNode(n *topo.Node) error {
	path := namespacePath(d.rec, n.Name)
	ns, err := openNS(path)
	if err != nil {
		return fmt.Errorf("node %s: open its namespace %s: %w", n.Name, path, err)
	}
	d.mu.Lock()
	d.nss[n.Name] = ns
	d.mu.Unlock()
	lo, err := ns.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("node %s: find lo: %w", n.Name, err)
	}
	if err := ns.nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("node %s: set lo up: %w", n.Name, err)
	}
	return d.inNodeNS(n.Name, func() error {
		if !d.topo.IPv6 {
			if err := namespace.DisableIPv6(); err != nil {
				return err
			}
		}
		if needsForwarding(d.topo, n) {
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("node %s: enable forwarding: %w", n.Name, err)
			}
		}
		return nil
	})
}

// adoptEnd configures an interface that exists already: MTU, MAC, its
// bridge, its addresses, up.
func (d *deployment) adoptEnd(ifc *topo.Interface) error {
	ns := d.ns(ifc.Node)
	link, err := ns.nl.LinkByName(ifc.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("%s:%s: the interface is not in the node", ifc.Node, ifc.Name)
		}
		return fmt.Errorf("%s:%s: %w", ifc.Node, ifc.Name, err)
	}
	if ifc.MTU != 0 && link.Attrs().MTU != ifc.MTU {
		if err := ns.nl.LinkSetMTU(link, ifc.MTU); err != nil {
			return fmt.Errorf("%s:%s: set MTU %d: %w", ifc.Node, ifc.Name, ifc.MTU, err)
		}
	}
	if ifc.MAC != nil && link.Attrs().HardwareAddr.String() != ifc.MAC.String() {
		if err := ns.nl.LinkSetHardwareAddr(link, ifc.MAC); err != nil {
			return fmt.Errorf("%s:%s: set MAC %s: %w", ifc.Node, ifc.Name, ifc.MAC, err)
		}
	}
	return d.setupEnd(ns, ifc, link)
}

// NamespacePath is where a node's network namespace is pinned.
func NamespacePath(rec *lab.Record, node string) string { return namespacePath(rec, node) }

// PinProcess pins the network namespace of process pid at path, as `ip
// netns attach` does, so that a container's namespace is found, and kept,
// where a node's is.
func PinProcess(path string, pid int) error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("namespace %s already exists: another lab uses this name; destroy it first", filepath.Base(path))
		}
		return err
	}
	f.Close()
	src := fmt.Sprintf("/proc/%d/ns/net", pid)
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin %s at %s: %w", src, path, err)
	}
	return nil
}

// FreeMgmtSubnet returns a management subnet for n addresses that no route
// of the host uses. Call it holding lab.LockAll until the subnet is in use.
func FreeMgmtSubnet(n int) (netip.Prefix, error) {
	root, err := rootNS()
	if err != nil {
		return netip.Prefix{}, err
	}
	defer root.Close()
	return freeSubnet(root, n)
}
