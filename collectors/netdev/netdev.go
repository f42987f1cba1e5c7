// Package netdev reads the counters of every interface of a node through
// netlink: bytes, packets, drops and errors in each direction. It only
// reads.
package netdev

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors"
)

// Node is a node to sample: its name and network namespace path.
type Node struct {
	Name string
	NS   string
}

// Sampler keeps a netlink socket open in each node's namespace.
type Sampler struct {
	nodes   []Node
	handles []*netlink.Handle
}

// Open opens a netlink socket in every node's namespace.
func Open(nodes []Node) (*Sampler, error) {
	s := &Sampler{nodes: nodes}
	for _, n := range nodes {
		fd, err := netns.GetFromPath(n.NS)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
		fd.Close()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("node %s: netlink: %w", n.Name, err)
		}
		s.handles = append(s.handles, h)
	}
	return s, nil
}

// Close releases the sockets.
func (s *Sampler) Close() {
	for _, h := range s.handles {
		h.Close()
	}
}

// Sample reads every interface's counters once (loopback left out).
func (s *Sampler) Sample() ([]collectors.Sample, error) {
	var out []collectors.Sample
	for i, h := range s.handles {
		links, err := h.LinkList()
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, fmt.Errorf("node %s: %w", s.nodes[i].Name, err)
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Name == "lo" || a.Statistics == nil {
				continue
			}
			st := a.Statistics
			for _, m := range []struct {
				name string
				v    uint64
			}{
				{"rx_bytes", st.RxBytes}, {"tx_bytes", st.TxBytes},
				{"rx_packets", st.RxPackets}, {"tx_packets", st.TxPackets},
				{"rx_dropped", st.RxDropped}, {"tx_dropped", st.TxDropped},
				{"rx_errors", st.RxErrors}, {"tx_errors", st.TxErrors},
			} {
				out = append(out, collectors.Sample{Source: "netdev", Node: s.nodes[i].Name, Object: a.Name, Metric: m.name, Value: float64(m.v)})
			}
		}
	}
	return out, nil
}
