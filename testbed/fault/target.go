package fault

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/suggest"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// end is one interface of the lab: the namespace it lives in ("" for the
// host's own) and its name.
type end struct {
	Node  string
	NS    string
	Iface string
}

func (e end) String() string { return e.Node + ":" + e.Iface }

// resolver finds targets in a deployed lab.
type resolver struct {
	rec *lab.Record
}

func (r resolver) nsOf(node string) string {
	n := r.rec.Topology.Node(node)
	if n == nil || n.Kind == topo.KindHost {
		return ""
	}
	return filepath.Join("/run/netns", lab.NamespaceName(r.rec.Prefix, r.rec.Name, node))
}

func (r resolver) node(name string) (*topo.Node, error) {
	n := r.rec.Topology.Node(name)
	if n == nil {
		var names []string
		for _, x := range r.rec.Topology.Nodes {
			names = append(names, x.Name)
		}
		return nil, fmt.Errorf("lab %s has no node %q (%s)", r.rec.Name, name, suggest.Hint(name, names, "nodes"))
	}
	return n, nil
}

// iface resolves "node:iface".
func (r resolver) iface(target string) (end, error) {
	node, ifc, ok := strings.Cut(target, ":")
	if !ok {
		return end{}, fmt.Errorf("target %q: write NODE:INTERFACE", target)
	}
	n, err := r.node(node)
	if err != nil {
		return end{}, err
	}
	if n.Interface(ifc) == nil && ifc != "eth0" {
		var names []string
		for _, i := range n.Interfaces {
			names = append(names, i.Name)
		}
		return end{}, fmt.Errorf("node %s has no interface %q (%s)", node, ifc, suggest.Hint(ifc, names, "interfaces"))
	}
	return end{Node: node, NS: r.nsOf(node), Iface: ifc}, nil
}

// link resolves "node:iface" to both ends of its link (one end for dummy
// links).
func (r resolver) link(target string) ([]end, error) {
	a, err := r.iface(target)
	if err != nil {
		return nil, err
	}
	for _, l := range r.rec.Topology.Links {
		var far topo.Endpoint
		switch {
		case l.A.Node == a.Node && l.A.Iface == a.Iface:
			far = l.B
		case l.B.Node == a.Node && l.B.Iface == a.Iface:
			far = l.A
		default:
			continue
		}
		ends := []end{a}
		if far.Node != "" {
			ends = append(ends, end{Node: far.Node, NS: r.nsOf(far.Node), Iface: far.Iface})
		}
		return ends, nil
	}
	return nil, fmt.Errorf("interface %s is on no link of the topology", target)
}

// nodeSets resolves "a,b|c,d" into two sets of nodes.
func (r resolver) nodeSets(target string) ([][]string, error) {
	left, right, ok := strings.Cut(target, "|")
	if !ok {
		return nil, fmt.Errorf("target %q: write two sets of nodes, NODE,NODE|NODE,NODE", target)
	}
	var sets [][]string
	for _, side := range []string{left, right} {
		var set []string
		for _, name := range strings.Split(side, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if _, err := r.node(name); err != nil {
				return nil, err
			}
			set = append(set, name)
		}
		if len(set) == 0 {
			return nil, fmt.Errorf("target %q: each side needs at least one node", target)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// addrs returns a node's data-plane addresses as host prefixes.
func (r resolver) addrs(node string) []netip.Prefix {
	var out []netip.Prefix
	for _, i := range r.rec.Topology.Node(node).Interfaces {
		for _, a := range i.Addrs {
			out = append(out, netip.PrefixFrom(a.Addr(), 32))
		}
	}
	return out
}

// proc is a process identified across PID reuse.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// nodeProcs returns the processes living in a node's network namespace.
func nodeProcs(ns string) ([]proc, error) {
	if ns == "" {
		return nil, fmt.Errorf("refusing to signal the processes of the host's own namespace")
	}
	var st unix.Stat_t
	if err := unix.Stat(ns, &st); err != nil {
		return nil, err
	}
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var pst unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &pst) == nil && pst.Ino == st.Ino {
			out = append(out, proc{PID: pid, Start: startTime(pid)})
		}
	}
	return out, nil
}

// roleProcs returns the processes of a role instance of the lab.
func roleProcs(labName, instance string) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		s := string(cmdline)
		if strings.Contains(s, "role\x00run\x00") && strings.Contains(s, `"lab":"`+labName+`"`) && strings.Contains(s, `"instance":"`+instance+`"`) {
			out = append(out, proc{PID: pid, Start: startTime(pid)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// prefix resolves a destination in the lab's topology.
func (r resolver) prefix(dst string) (netip.Prefix, error) {
	if _, err := netip.ParsePrefix(dst); err != nil {
		if _, err := netip.ParseAddr(dst); err != nil {
			node, _, _ := strings.Cut(dst, ":")
			if _, err := r.node(node); err != nil {
				return netip.Prefix{}, err
			}
		}
	}
	return Destination(r.rec.Topology, dst)
}

// Destination resolves a fault's destination: a prefix, an address, NODE
// (its first data-plane address, by interface name) or NODE:IFACE.
func Destination(t *topo.Topology, dst string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(dst); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(dst); err == nil {
		return netip.PrefixFrom(a, 32), nil
	}
	node, ifc, _ := strings.Cut(dst, ":")
	n := t.Node(node)
	if n == nil {
		return netip.Prefix{}, fmt.Errorf("no node called %q", node)
	}
	ifaces := append([]*topo.Interface(nil), n.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for _, i := range ifaces {
		if (ifc == "" || i.Name == ifc) && len(i.Addrs) > 0 {
			return netip.PrefixFrom(i.Addrs[0].Addr(), 32), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%s has no data-plane address", dst)
}
