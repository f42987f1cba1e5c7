package ipplan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

// newLab builds a topology from "a:eth1-b:eth1" veth links. Nodes are linux
// unless kinds says otherwise; link N is written at lab.yml:N:5.
func newLab(kinds map[string]string, links ...string) *topo.Topology {
	t := &topo.Topology{
		Name: "test",
		File: "lab.yml",
		Addressing: topo.Addressing{
			Auto: true, Pool: netip.MustParsePrefix("198.18.0.0/16"), P2PLength: 30, LANLength: 24,
		},
	}
	for _, spec := range links {
		a, b, ok := strings.Cut(spec, "-")
		if !ok {
			panic("bad link " + spec)
		}
		link := &topo.Link{Type: topo.LinkVeth, A: endpoint(a), B: endpoint(b)}
		addLink(t, link, kinds)
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Name < t.Nodes[j].Name })
	return t
}

func endpoint(s string) topo.Endpoint {
	node, iface, _ := strings.Cut(s, ":")
	return topo.Endpoint{Node: node, Iface: iface}
}

// addLink appends a link and the interfaces of its ends that name nodes.
func addLink(t *topo.Topology, link *topo.Link, kinds map[string]string) {
	link.Pos = topo.Pos{File: t.File, Line: len(t.Links) + 1, Col: 5}
	t.Links = append(t.Links, link)
	for _, end := range []topo.Endpoint{link.A, link.B} {
		if end.Node == "" || (link.Type == topo.LinkHost && end == link.B) {
			continue
		}
		n := t.Node(end.Node)
		if n == nil {
			kind := kinds[end.Node]
			if kind == "" {
				kind = topo.KindLinux
			}
			n = &topo.Node{Name: end.Node, Kind: kind}
			t.Nodes = append(t.Nodes, n)
		}
		n.Interfaces = append(n.Interfaces, &topo.Interface{Node: end.Node, Name: end.Iface, Link: link})
	}
}

// addHostLink links a node's interface to the root namespace.
func addHostLink(t *topo.Topology, end string) {
	addLink(t, &topo.Link{Type: topo.LinkHost, A: endpoint(end), B: topo.Endpoint{Node: "host", Iface: "v-" + end[:2]}}, nil)
}

func iface(t *topo.Topology, end string) *topo.Interface {
	e := endpoint(end)
	n := t.Node(e.Node)
	if n == nil {
		panic("no node " + e.Node)
	}
	i := n.Interface(e.Iface)
	if i == nil {
		panic("no interface " + end)
	}
	return i
}

func setAddr(t *topo.Topology, end, addr string) {
	i := iface(t, end)
	i.Addrs = append(i.Addrs, netip.MustParsePrefix(addr))
}

func addrOf(t *topo.Topology, end string) string {
	i := iface(t, end)
	if len(i.Addrs) == 0 {
		return ""
	}
	parts := make([]string, len(i.Addrs))
	for k, a := range i.Addrs {
		parts[k] = a.String()
	}
	return strings.Join(parts, ",")
}

func routeTo(t *topo.Topology, node, dst string) *topo.Route {
	for k, r := range t.Node(node).Routes {
		if r.Dst == netip.MustParsePrefix(dst) {
			return &t.Node(node).Routes[k]
		}
	}
	return nil
}

func hops(r *topo.Route) []string {
	if r == nil {
		return nil
	}
	out := make([]string, len(r.NextHops))
	for k, h := range r.NextHops {
		out[k] = h.Via.String() + "@" + h.Dev
	}
	return out
}

func problems(tb testing.TB, err error) topo.Problems {
	tb.Helper()
	var ps topo.Problems
	require.ErrorAs(tb, err, &ps)
	return ps
}

func chain(prefix string, n int) []string {
	var links []string
	for i := 1; i < n; i++ {
		links = append(links, fmt.Sprintf("%s%d:eth2-%s%d:eth1", prefix, i, prefix, i+1))
	}
	return links
}
