// Package netdev reads the counters of every interface of a node through
// netlink: bytes, packets, drops and errors in each direction. It only
// reads.
package netdev

import (
	"fmt"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/collectors/internal/nldump"
)

// Node is a node to sample: its name and network namespace path.
type Node struct {
	Name string
	NS   string
}

// Sampler keeps a netlink socket open in each node's namespace.
type Sampler struct {
	nodes []Node
	socks []*nldump.Conn
	stats map[int32]linkStats // reused between samples
}

// Open opens a netlink socket in every node's namespace.
func Open(nodes []Node) (*Sampler, error) {
	paths := make([]string, len(nodes))
	for i, n := range nodes {
		paths[i] = n.NS
	}
	socks, bad, err := nldump.OpenAll(paths)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", nodes[bad].Name, err)
	}
	return &Sampler{nodes: nodes, socks: socks}, nil
}

// Close releases the sockets.
func (s *Sampler) Close() {
	nldump.CloseAll(s.socks)
	s.socks = nil
}

// Sample reads every interface's counters once (loopback left out).
func (s *Sampler) Sample() ([]collectors.Sample, error) {
	var out []collectors.Sample
	for i := range s.socks {
		if s.stats == nil {
			s.stats = map[int32]linkStats{}
		}
		stats := s.stats
		if err := dumpStats(s.socks[i], stats); err != nil {
			return out, fmt.Errorf("node %s: %w", s.nodes[i].Name, err)
		}
		for index, st := range stats {
			name, err := s.socks[i].Name(index)
			if err != nil {
				return out, fmt.Errorf("node %s: %w", s.nodes[i].Name, err)
			}
			if name == "" || name == "lo" {
				continue
			}
			for _, m := range []struct {
				name string
				v    uint64
			}{
				{"rx_bytes", st.rxBytes}, {"tx_bytes", st.txBytes},
				{"rx_packets", st.rxPackets}, {"tx_packets", st.txPackets},
				{"rx_dropped", st.rxDropped}, {"tx_dropped", st.txDropped},
				{"rx_errors", st.rxErrors}, {"tx_errors", st.txErrors},
			} {
				out = append(out, collectors.Sample{Source: "netdev", Node: s.nodes[i].Name, Object: name, Metric: m.name, Value: float64(m.v)})
			}
		}
	}
	return out, nil
}
