package netns

import (
	"context"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Inspect reads every node's interfaces and addresses from the kernel and
// completes them with the peers written in the topology.
func (p *Provider) Inspect(ctx context.Context, l *lab.Lab, rec *lab.Record) (*provider.Inspection, error) {
	t := rec.Topology
	out := &provider.Inspection{Name: rec.Name, Provider: Name, State: rec.State, MgmtNet: rec.MgmtNet, MgmtIPv4: rec.MgmtIPv4, Mechanisms: rec.Mechanisms}
	peers := peerMap(t)
	pinned := map[uint64]string{}
	for _, n := range t.Nodes {
		ns := NodeStateOf(rec, n, peers)
		if inNamespace(n.Kind) {
			if ino, err := nsInode(namespacePath(rec, n.Name)); err == nil {
				pinned[ino] = n.Name
			}
		}
		out.Nodes = append(out.Nodes, ns)
	}
	byNode := map[string][]int{}
	for _, pid := range processesIn(boolSet(pinned)) {
		if node, ok := nodeOfPID(pid, pinned); ok {
			byNode[node] = append(byNode[node], pid)
		}
	}
	for i := range out.Nodes {
		out.Nodes[i].PIDs = byNode[out.Nodes[i].Name]
	}
	for _, link := range t.Links {
		ls := provider.LinkState{Type: link.Type, A: link.A.String()}
		if link.B.Node != "" {
			ls.B = link.B.String()
		}
		out.Links = append(out.Links, ls)
	}
	return out, nil
}

// NodeStateOf reads one node's live interfaces. For host nodes, whose
// namespace is the host's, it shows only the interfaces the topology gave
// them.
func NodeStateOf(rec *lab.Record, n *topo.Node, peers map[string]string) provider.NodeState {
	st := provider.NodeState{Name: n.Name, Kind: n.Kind}
	var ns *nodeNS
	var err error
	if inNamespace(n.Kind) {
		st.Namespace = lab.NamespaceName(rec.Prefix, rec.Name, n.Name)
		ns, err = openNS(namespacePath(rec, n.Name))
	} else {
		ns, err = rootNS()
	}
	if err != nil {
		return st
	}
	defer ns.Close()
	links, err := consistent(ns.nl.LinkList)
	if err != nil {
		return st
	}
	for _, link := range links {
		a := link.Attrs()
		if a.Name == "lo" || (!inNamespace(n.Kind) && n.Interface(a.Name) == nil) {
			continue
		}
		ifc := provider.IfaceState{Name: a.Name, MAC: a.HardwareAddr.String(), MTU: a.MTU, State: a.OperState.String(), Peer: peers[n.Name+":"+a.Name]}
		addrs, _ := consistent(func() ([]netlink.Addr, error) { return ns.nl.AddrList(link, netlink.FAMILY_V4) })
		for _, ad := range addrs {
			ifc.Addrs = append(ifc.Addrs, ad.IPNet.String())
			if a.Name == "eth0" && rec.MgmtBr != "" && inNamespace(n.Kind) {
				st.MgmtIPv4 = ad.IP.String()
				ifc.Peer = "mgmt"
			}
		}
		st.Interfaces = append(st.Interfaces, ifc)
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	return st
}

// peerMap maps "node:iface" to the far end of its link.
func peerMap(t *topo.Topology) map[string]string {
	m := map[string]string{}
	for _, l := range t.Links {
		if l.B.Node == "" {
			continue
		}
		m[l.A.String()] = l.B.String()
		m[l.B.String()] = l.A.String()
	}
	return m
}

func boolSet(m map[uint64]string) map[uint64]bool {
	s := map[uint64]bool{}
	for k := range m {
		s[k] = true
	}
	return s
}

func nodeOfPID(pid int, pinned map[uint64]string) (string, bool) {
	for _, kind := range []string{"net", "mnt"} {
		if ino, err := nsInode("/proc/" + strconv.Itoa(pid) + "/ns/" + kind); err == nil {
			if n, ok := pinned[ino]; ok {
				return n, true
			}
		}
	}
	return "", false
}
