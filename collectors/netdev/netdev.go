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
	names []map[int32]string  // per node: interface index → name
}

// Open opens a netlink socket in every node's namespace.
func Open(nodes []Node) (*Sampler, error) {
	s := &Sampler{nodes: nodes}
	for _, n := range nodes {
		sock, err := nldump.Open(n.NS)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		s.socks = append(s.socks, sock)
		s.names = append(s.names, map[int32]string{})
	}
	return s, nil
}

// Close releases the sockets.
func (s *Sampler) Close() {
	for _, sock := range s.socks {
		sock.Close()
	}
	s.socks = nil
}

// refreshNames reads a node's interface names again (interfaces come and
// go, as when the link emulator is spliced in).
func (s *Sampler) refreshNames(i int) error {
	names, err := s.socks[i].LinkNames()
	if err != nil {
		return err
	}
	s.names[i] = names
	return nil
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
		for index := range stats {
			if _, known := s.names[i][index]; !known {
				if err := s.refreshNames(i); err != nil {
					return out, fmt.Errorf("node %s: %w", s.nodes[i].Name, err)
				}
				break
			}
		}
		for index, st := range stats {
			name := s.names[i][index]
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
