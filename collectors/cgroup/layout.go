package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Mechanism names.
const (
	V1 = "cgroup1"
	V2 = "cgroup2"
)

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	version int    // 1 or 2
	root    string // mount point
	// shared: the fault engine's CPU-cap groups (testbed/fault) are made
	// in this hierarchy too, so a node's processes can be moved out of
	// its group into one of them (cgroup v2, or v1 with cpu and cpuacct
	// mounted together).
	shared bool
}

// layout is where a machine keeps CPU and memory accounting.
type layout struct {
	mech string
	cpu  hierarchy  // cpu usage: cgroup v2, or v1 cpuacct
	mem  *hierarchy // memory; nil when there is none (v1 without memory)
}

// hierarchies returns the distinct hierarchies of the layout.
func (l layout) hierarchies() []hierarchy {
	hs := []hierarchy{l.cpu}
	if l.mem != nil && l.mem.root != l.cpu.root {
		hs = append(hs, *l.mem)
	}
	return hs
}

// mount is one cgroup line of /proc/self/mountinfo.
type mount struct {
	point  string
	fstype string   // cgroup or cgroup2
	opts   []string // super options: v1 lists its controllers there
}

// parseMountinfo returns the cgroup and cgroup2 mounts of a mountinfo
// table (proc(5)), in order.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+4 {
			continue
		}
		fstype := f[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		out = append(out, mount{point: unescape(f[4]), fstype: fstype, opts: strings.Split(f[sep+3], ",")})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

func has(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

// chooseLayout picks the hierarchies to use: cgroup v2 when a cgroup2
// mount offers both the cpu and the memory controller, else the v1
// hierarchies with cpuacct (required) and memory (used if there is one).
// A cgroup2 mount without controllers, as systemd's "hybrid" mode mounts
// at /sys/fs/cgroup/unified, does not count.
func chooseLayout(mounts []mount) (layout, error) {
	var found []string
	for _, m := range mounts {
		if m.fstype != "cgroup2" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(m.point, "cgroup.controllers"))
		if err != nil {
			continue
		}
		ctl := strings.Fields(string(data))
		found = append(found, fmt.Sprintf("cgroup2 at %s with controllers [%s]", m.point, strings.Join(ctl, " ")))
		if has(ctl, "cpu") && has(ctl, "memory") {
			h := hierarchy{version: 2, root: m.point, shared: true}
			return layout{mech: V2, cpu: h, mem: &h}, nil
		}
	}
	var l layout
	for _, m := range mounts {
		if m.fstype != "cgroup" {
			continue
		}
		found = append(found, fmt.Sprintf("cgroup v1 at %s (%s)", m.point, strings.Join(m.opts, ",")))
		if has(m.opts, "cpuacct") && l.cpu.root == "" {
			l.cpu = hierarchy{version: 1, root: m.point, shared: has(m.opts, "cpu")}
		}
		if has(m.opts, "memory") && l.mem == nil {
			l.mem = &hierarchy{version: 1, root: m.point, shared: has(m.opts, "cpu")}
		}
	}
	if l.cpu.root == "" {
		if len(found) == 0 {
			return layout{}, fmt.Errorf("%w: no cgroup hierarchy is mounted", ErrUnavailable)
		}
		return layout{}, fmt.Errorf("%w: no cgroup hierarchy accounts CPU time (cgroup2 with cpu and memory, or v1 cpuacct); found %s", ErrUnavailable, strings.Join(found, "; "))
	}
	l.mech = V1
	return l, nil
}

// ErrUnavailable says that this process sees no cgroup hierarchy it can
// use (none is mounted in its mount namespace, or none accounts CPU time).
var ErrUnavailable = errors.New("cgroups unavailable")

// detect reads this process's mount table and picks the layout.
func detect() (layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return layout{}, err
	}
	defer f.Close()
	mounts, err := parseMountinfo(f)
	if err != nil {
		return layout{}, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return chooseLayout(mounts)
}

// Mechanism says which cgroup version this machine's node groups use:
// "cgroup2" or "cgroup1".
func Mechanism() (string, error) {
	l, err := detect()
	return l.mech, err
}
