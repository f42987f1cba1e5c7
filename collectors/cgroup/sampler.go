package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors"
)

// Sampler reads the CPU time and memory of node groups. It keeps each
// group's files open and reads them with pread into one buffer, so a
// sample costs two or three system calls per node.
type Sampler struct {
	nodes []*nodeFiles
	buf   []byte
	// scanRoot is the root of the hierarchy to look for the fault
	// engine's CPU-cap groups in ("" when they cannot hold a node's
	// processes out of its CPU accounting).
	scanRoot string
	scanV2   bool
}

type nodeFiles struct {
	name   string
	v2     bool
	cpu    int // cpu.stat (v2) or cpuacct.usage (v1)
	mem    int // memory.current (v2) or memory.usage_in_bytes (v1); -1 if none
	max    int // memory.max (v2) or memory.limit_in_bytes (v1); -1 if none
	prefix string
	// The fault engine's CPU-cap groups holding this node's processes:
	// last values read, and the CPU time of those that are gone.
	extra   map[string]extraGroup
	carried uint64
}

type extraGroup struct{ cpu, mem uint64 }

// Open opens the accounting files of each group.
func Open(groups []*Group) (*Sampler, error) {
	s := &Sampler{buf: make([]byte, 4096)}
	for _, g := range groups {
		n := &nodeFiles{name: g.Node, v2: g.cpu.version == 2, cpu: -1, mem: -1, max: -1,
			prefix: fmt.Sprintf("tbctl-%s-%s-", g.Lab, g.Node)}
		s.nodes = append(s.nodes, n)
		var err error
		if n.cpu, err = openFile(g.dir(g.cpu), cpuFile(n.v2)); err != nil {
			s.Close()
			return nil, fmt.Errorf("node %s: %w", g.Node, err)
		}
		if g.mem != nil {
			current, max := memFiles(g.mem.version == 2)
			if n.mem, err = openFile(g.dir(*g.mem), current); err != nil {
				s.Close()
				return nil, fmt.Errorf("node %s: %w", g.Node, err)
			}
			if n.max, err = openFile(g.dir(*g.mem), max); err != nil {
				s.Close()
				return nil, fmt.Errorf("node %s: %w", g.Node, err)
			}
		}
		if g.cpu.shared {
			s.scanRoot, s.scanV2 = g.cpu.root, g.cpu.version == 2
		}
	}
	return s, nil
}

func cpuFile(v2 bool) string {
	if v2 {
		return "cpu.stat"
	}
	return "cpuacct.usage"
}

func memFiles(v2 bool) (current, max string) {
	if v2 {
		return "memory.current", "memory.max"
	}
	return "memory.usage_in_bytes", "memory.limit_in_bytes"
}

func openFile(dir, name string) (int, error) {
	fd, err := unix.Open(filepath.Join(dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	return fd, nil
}

// Close closes the files.
func (s *Sampler) Close() {
	for _, n := range s.nodes {
		for _, fd := range []int{n.cpu, n.mem, n.max} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		n.cpu, n.mem, n.max = -1, -1, -1
	}
}

// read reads a whole small file from its start.
func (s *Sampler) read(fd int) ([]byte, error) {
	n, err := unix.Pread(fd, s.buf, 0)
	if err != nil {
		return nil, err
	}
	return s.buf[:n], nil
}

// Sample reads every group once: cpu_usage_ns (cumulative CPU time of the
// group's processes, in nanoseconds), memory_bytes, and memory_max_bytes
// when the group's memory is limited. A node that cannot be read does not
// stop the others: its error is returned, joined with any others, along
// with every sample read.
func (s *Sampler) Sample() ([]collectors.Sample, error) {
	out := make([]collectors.Sample, 0, 3*len(s.nodes))
	var errs []error
	var extra []string
	if s.scanRoot != "" {
		var err error
		if extra, err = listFaultGroups(s.scanRoot); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range s.nodes {
		b, err := s.read(n.cpu)
		var cpu uint64
		if err == nil {
			cpu, err = parseCPU(b, n.v2)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: cpu: %w", n.name, err))
			continue
		}
		var extraMem uint64
		if s.scanRoot != "" {
			c, m := s.faultGroups(n, extra)
			cpu += c
			if n.v2 {
				extraMem = m
			}
		}
		out = append(out, collectors.Sample{Source: "cgroup", Node: n.name, Metric: "cpu_usage_ns", Value: float64(cpu)})
		if n.mem < 0 {
			continue
		}
		b, err = s.read(n.mem)
		var mem uint64
		if err == nil {
			mem, err = parseUint(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: memory: %w", n.name, err))
			continue
		}
		out = append(out, collectors.Sample{Source: "cgroup", Node: n.name, Metric: "memory_bytes", Value: float64(mem + extraMem)})
		// v2 says "max" when unlimited, v1 a number near 2^63.
		if b, err := s.read(n.max); err == nil {
			if max, err := parseUint(b); err == nil && max < 1<<62 {
				out = append(out, collectors.Sample{Source: "cgroup", Node: n.name, Metric: "memory_max_bytes", Value: float64(max)})
			}
		}
	}
	return out, errors.Join(errs...)
}

// listFaultGroups lists the groups at the root of a hierarchy that may be
// the fault engine's CPU caps ("tbctl-<lab>-<node>-<nanoseconds>").
func listFaultGroups(root string) ([]string, error) {
	f, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "tbctl-") {
			out = append(out, n)
		}
	}
	return out, err
}

// faultGroups adds up the CPU time and memory of the fault engine's
// CPU-cap groups of a node: while a node is a straggler its processes are
// in such a group, outside the node's. The CPU time of a cap group that
// has been removed is carried on, so that the node's count never goes
// back; what it used between the last sample and its removal is lost.
func (s *Sampler) faultGroups(n *nodeFiles, names []string) (cpu, mem uint64) {
	seen := map[string]bool{}
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, n.prefix)
		if !ok || !allDigits(rest) {
			continue
		}
		dir := filepath.Join(s.scanRoot, name)
		c, err := readOnce(filepath.Join(dir, cpuFile(s.scanV2)), s.buf, func(b []byte) (uint64, error) { return parseCPU(b, s.scanV2) })
		if err != nil {
			continue // removed since the listing: counted as gone below
		}
		var m uint64
		if s.scanV2 {
			m, _ = readOnce(filepath.Join(dir, "memory.current"), s.buf, parseUint)
		}
		if n.extra == nil {
			n.extra = map[string]extraGroup{}
		}
		n.extra[name] = extraGroup{cpu: c, mem: m}
		seen[name] = true
	}
	for name, e := range n.extra {
		if !seen[name] {
			n.carried += e.cpu
			delete(n.extra, name)
		}
	}
	cpu = n.carried
	for _, e := range n.extra {
		cpu += e.cpu
		mem += e.mem
	}
	return cpu, mem
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// readOnce opens, reads and parses a file.
func readOnce(path string, buf []byte, parse func([]byte) (uint64, error)) (uint64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	return parse(buf[:n])
}

// parseCPU reads cpuacct.usage (nanoseconds) or the usage_usec line of
// cpu.stat, in nanoseconds.
func parseCPU(b []byte, v2 bool) (uint64, error) {
	if !v2 {
		return parseUint(b)
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("usage_usec ")); ok {
			us, err := parseUint(v)
			return us * 1000, err
		}
	}
	return 0, errors.New("cpu.stat has no usage_usec")
}

// parseUint reads a decimal number, ignoring surrounding space; "max"
// reads as the largest value.
func parseUint(b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 1<<64 - 1, nil
	}
	var v uint64
	if len(b) == 0 {
		return 0, errors.New("empty")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a number: %q", b)
		}
		v = v*10 + uint64(c-'0')
	}
	return v, nil
}
