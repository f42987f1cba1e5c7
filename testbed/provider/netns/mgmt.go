package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"net"
	"net/netip"
	"os"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// mgmtPool is where management subnets are chosen from when the topology
// names none: inside the benchmarking range, apart from the data-plane
// default pool (198.18.0.0/16).
var mgmtPool = netip.MustParsePrefix("198.19.0.0/16")

// ipamDir is where the host-local IPAM plugin keeps a lab's management
// address allocations: inside the lab's directory, keyed by lab and not by
// network name, as two labs may name their management networks alike.
func ipamDir(labName string) string { return lab.Open(labName).Path("ipam") }

// mgmtBridgeName is the root-namespace bridge of a lab's management network:
// short enough for IFNAMSIZ and stable for a lab name.
func mgmtBridgeName(labName string) string {
	h := fnv.New32a()
	h.Write([]byte(labName))
	return fmt.Sprintf("tbm-%08x", h.Sum32())
}

// mgmtNodes are the nodes that get eth0 on the management network: linux
// nodes. Bridge nodes are plain L2 switches; host nodes are the host.
func (d *deployment) mgmtNodes() []*topo.Node {
	if d.rec.MgmtBr == "" {
		return nil
	}
	return nodesOfKind(d.topo, topo.KindLinux)
}

// prepareMgmt chooses the management subnet, creates the management bridge
// with its gateway address and records both. It runs under the global lock
// so two labs never choose the same subnet.
func prepareMgmt(root *nodeNS, rec *lab.Record, t *topo.Topology, save func() error) error {
	if t.Mgmt.Disabled {
		return nil
	}
	unlock, err := lab.LockAll()
	if err != nil {
		return err
	}
	defer unlock()

	subnet := t.Mgmt.IPv4Subnet
	if !subnet.IsValid() {
		if subnet, err = freeSubnet(root, countKind(t, topo.KindLinux)+3); err != nil {
			return err
		}
	}
	rec.MgmtNet = t.Mgmt.Network
	rec.MgmtIPv4 = subnet.String()
	rec.MgmtBr = mgmtBridgeName(rec.Name)
	if err := save(); err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: rec.MgmtBr, Alias: aliasOf(rec.Name)}}
	if err := root.nl.LinkAdd(br); err != nil {
		return fmt.Errorf("create management bridge %s: %w", rec.MgmtBr, err)
	}
	if err := root.nl.LinkSetAlias(br, aliasOf(rec.Name)); err != nil {
		return fmt.Errorf("mark management bridge: %w", err)
	}
	gw := netip.PrefixFrom(subnet.Addr().Next(), subnet.Bits())
	if err := root.nl.AddrAdd(br, &netlink.Addr{IPNet: prefixToIPNet(gw)}); err != nil {
		return fmt.Errorf("management bridge %s: add %s: %w (does another interface use this subnet? set mgmt.ipv4-subnet)", rec.MgmtBr, gw, err)
	}
	if !t.IPv6 {
		if err := disableIPv6On(rec.MgmtBr); err != nil {
			return err
		}
	}
	if err := root.nl.LinkSetUp(br); err != nil {
		return fmt.Errorf("set management bridge up: %w", err)
	}
	return nil
}

// freeSubnet returns the first subnet of mgmtPool large enough for n
// addresses that overlaps no route of the root namespace.
func freeSubnet(root *nodeNS, n int) (netip.Prefix, error) {
	routes, err := consistent(func() ([]netlink.Route, error) { return root.nl.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list routes: %w", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst != nil {
			if p, ok := ipNetToPrefix(r.Dst); ok && p.Bits() > 0 {
				used = append(used, p)
			}
		}
	}
	return firstFree(mgmtPool, n, used)
}

// firstFree returns the first subnet of pool that holds n addresses (at
// least a /24) and overlaps none of used.
func firstFree(pool netip.Prefix, n int, used []netip.Prefix) (netip.Prefix, error) {
	length := min(24, 32-bits.Len(uint(n)))
	size := uint32(1) << (32 - length)
	base := ip4ToUint(pool.Addr())
	for off := uint64(0); off+uint64(size) <= 1<<(32-pool.Bits()); off += uint64(size) {
		cand := netip.PrefixFrom(uintToIP4(base+uint32(off)), length)
		if !overlapsAny(cand, used) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in %s for the management network: destroy unused labs or set mgmt.ipv4-subnet", length, pool)
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// cniConfList is the management network as a CNI network list: the standard
// bridge plugin on the lab's bridge with host-local IPAM and no masquerade.
func cniConfList(rec *lab.Record) (*libcni.NetworkConfigList, error) {
	subnet := netip.MustParsePrefix(rec.MgmtIPv4)
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       rec.MgmtNet,
		"plugins": []any{map[string]any{
			"type":      "bridge",
			"bridge":    rec.MgmtBr,
			"isGateway": true,
			"ipMasq":    false,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": ipamDir(rec.Name),
				"ranges": [][]map[string]string{{{
					"subnet":  subnet.String(),
					"gateway": subnet.Addr().Next().String(),
				}}},
			},
		}},
	}
	data, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(data)
}

func (d *deployment) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(CNIPath(), d.lab.Path("cni-cache"), nil)
}

// attachMgmt gives a node eth0 on the management network through CNI.
func (d *deployment) attachMgmt(ctx context.Context, n *topo.Node) error {
	list, err := cniConfList(d.rec)
	if err != nil {
		return err
	}
	rt := &libcni.RuntimeConf{
		ContainerID: lab.NamespaceName(d.rec.Prefix, d.rec.Name, n.Name),
		NetNS:       namespacePath(d.rec, n.Name),
		IfName:      "eth0",
	}
	if n.MgmtIPv4.IsValid() {
		rt.Args = [][2]string{{"IgnoreUnknown", "1"}, {"IP", n.MgmtIPv4.String()}}
	}
	res, err := d.cni().AddNetworkList(ctx, list, rt)
	if err != nil {
		return fmt.Errorf("node %s: attach management network: %w", n.Name, err)
	}
	if d.topo.IPv6 {
		return nil
	}
	// The host-side end is a bridge port in the root namespace. With IPv6
	// on, the kernel spends seconds per few hundred such ports removing
	// their IPv6 state when the lab's namespaces are freed.
	result, err := current.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("node %s: read CNI result: %w", n.Name, err)
	}
	for _, ifc := range result.Interfaces {
		if ifc.Sandbox == "" && ifc.Name != d.rec.MgmtBr {
			if err := disableIPv6On(ifc.Name); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

// disableIPv6On turns IPv6 off on one interface of the root namespace.
func disableIPv6On(name string) error {
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0o644)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disable IPv6 on %s: %w", name, err)
	}
	return nil
}

// removeMgmt deletes the management bridge and the lab's address store.
func removeMgmt(root *nodeNS, rec *lab.Record) error {
	if rec.MgmtBr != "" {
		if link, err := root.nl.LinkByName(rec.MgmtBr); err == nil {
			if err := root.nl.LinkDel(link); err != nil {
				return fmt.Errorf("delete management bridge %s: %w", rec.MgmtBr, err)
			}
		}
	}
	return os.RemoveAll(ipamDir(rec.Name))
}

func countKind(t *topo.Topology, kind string) int { return len(nodesOfKind(t, kind)) }

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func ip4ToUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToIP4(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
