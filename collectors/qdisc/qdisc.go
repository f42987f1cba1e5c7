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
	stats []qdiscStats // reused between samples
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
			name, err := s.socks[i].Name(q.ifindex)
			if err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", s.nodes[i].Name, err))
				break
			}
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
