// Package qdisc reads the statistics of every queueing discipline of a
// node through netlink: bytes and packets sent, drops, overlimits,
// requeues and the current queue (backlog in bytes and length in packets).
// These show where a lab's traffic queues and is dropped, such as in the
// token bucket of a shaped link. It only reads.
package qdisc

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

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
	names []map[int32]string // per node: interface index → name
	stats []qdiscStats       // reused between samples
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

// Sample reads every qdisc's statistics once (loopback's left out). The
// object of a sample is "<interface>:<kind>:<handle>", the handle as
// major:minor in hex like tc prints it ("eth0:tbf:1:0"). Qdiscs the kernel
// attaches by itself have handle 0:0, and a multiqueue device has one per
// transmit queue: those with a parent other than the root get the parent
// appended ("eth0:fq_codel:0:0@0:1") so that every object is unique.
//
// A node that cannot be read does not stop the others: its error is
// returned, joined with any others, along with every sample read.
func (s *Sampler) Sample() ([]collectors.Sample, error) {
	var out []collectors.Sample
	var errs []error
	for i := range s.socks {
		var err error
		s.stats, err = dumpQdiscs(s.socks[i], s.stats[:0])
		if err != nil {
			// What was read is still good.
			errs = append(errs, fmt.Errorf("node %s: %w", s.nodes[i].Name, err))
		}
		for _, q := range s.stats {
			if _, known := s.names[i][q.ifindex]; !known {
				if err := s.refreshNames(i); err != nil {
					errs = append(errs, fmt.Errorf("node %s: %w", s.nodes[i].Name, err))
				}
				break
			}
		}
		for _, q := range s.stats {
			name := s.names[i][q.ifindex]
			if name == "" || name == "lo" {
				continue // gone since the dump, or loopback
			}
			object := Object(name, q.kind, q.handle, q.parent)
			for _, m := range []struct {
				name string
				v    uint64
			}{
				{"bytes", q.bytes}, {"packets", q.packets},
				{"drops", uint64(q.drops)}, {"overlimits", uint64(q.overlimits)},
				{"requeues", uint64(q.requeues)},
				{"backlog_bytes", uint64(q.backlog)}, {"qlen", uint64(q.qlen)},
			} {
				out = append(out, collectors.Sample{Source: "qdisc", Node: s.nodes[i].Name, Object: object, Metric: m.name, Value: float64(m.v)})
			}
		}
	}
	return out, errors.Join(errs...)
}

// Object names a qdisc: "<interface>:<kind>:<major>:<minor>" in hex, with
// "@<parent major>:<parent minor>" appended to a handle of 0:0 below a
// parent other than the root.
func Object(iface, kind string, handle, parent uint32) string {
	o := fmt.Sprintf("%s:%s:%x:%x", iface, kind, handle>>16, handle&0xffff)
	if handle == 0 && parent != netlink.HANDLE_ROOT {
		o += fmt.Sprintf("@%x:%x", parent>>16, parent&0xffff)
	}
	return o
}
