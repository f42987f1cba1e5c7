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
	"github.com/tbctl/tbctl/collectors/internal/nldump"
)

// Node is a node to sample: its name and network namespace path.
type Node struct {
	Name string
	NS   string
}

// Sampler keeps netlink sockets open in each node's namespace: one for
// link names, one for the counters.
type Sampler struct {
	nodes   []Node
	handles []*netlink.Handle
	socks   []*nldump.Conn
	stats   map[int32]linkStats // reused between samples
	names   []map[int32]string  // per node: interface index → name
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
		if err != nil {
			fd.Close()
			s.Close()
			return nil, fmt.Errorf("node %s: netlink: %w", n.Name, err)
		}
		fd.Close()
		sock, err := nldump.Open(n.NS)
		if err != nil {
			h.Close()
			s.Close()
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		s.handles = append(s.handles, h)
		s.socks = append(s.socks, sock)
		s.names = append(s.names, map[int32]string{})
	}
	return s, nil
}

// refreshNames reads a node's interface names again (interfaces come and
// go, as when the link emulator is spliced in).
func (s *Sampler) refreshNames(i int) error {
	links, err := s.handles[i].LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return err
	}
	names := map[int32]string{}
	for _, l := range links {
		names[int32(l.Attrs().Index)] = l.Attrs().Name
	}
	s.names[i] = names
	return nil
}

// Close releases the sockets.
func (s *Sampler) Close() {
	for _, h := range s.handles {
		h.Close()
	}
	for _, sock := range s.socks {
		sock.Close()
	}
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
