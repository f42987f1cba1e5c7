// Package facts reads what a run records about a host in its manifest: the
// host's identity (hostname, machine and boot IDs), its kernel and OS, its
// CPUs and memory, its network interfaces with the RDMA ports behind them,
// and (see Estimate and Measure) the offset of its clock from the
// controller's.
//
// Read runs on the host itself, normally as part of the tbctl binary copied
// there, and reads Linux's procfs and sysfs. Missing files leave their
// fields empty: a container, a VM or an older kernel lacks some of them.
package facts

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Facts is what a run records about one host.
type Facts struct {
	Hostname      string `json:"hostname"`
	MachineID     string `json:"machine_id,omitempty"`     // /etc/machine-id
	BootID        string `json:"boot_id,omitempty"`        // /proc/sys/kernel/random/boot_id
	Kernel        string `json:"kernel"`                   // uname release, e.g. 6.1.0-18-amd64
	KernelVersion string `json:"kernel_version,omitempty"` // uname version string
	Arch          string `json:"arch"`                     // uname machine, e.g. x86_64
	OS            string `json:"os,omitempty"`             // PRETTY_NAME from /etc/os-release
	CPUs          int    `json:"cpus"`                     // online CPUs
	MemoryBytes   uint64 `json:"memory_bytes,omitempty"`   // MemTotal from /proc/meminfo
	NICs          []NIC  `json:"nics"`                     // sorted by name
}

// NIC is one network interface of a host.
type NIC struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac,omitempty"`
	MTU       int      `json:"mtu,omitempty"`
	SpeedMbps int      `json:"speed_mbps,omitempty"` // /sys/class/net/X/speed; omitted when unknown (-1 or unreadable)
	Driver    string   `json:"driver,omitempty"`     // basename of /sys/class/net/X/device/driver link
	State     string   `json:"state,omitempty"`      // operstate: up, down, unknown, ...
	Addrs     []string `json:"addresses,omitempty"`  // CIDR strings
	RDMA      *RDMA    `json:"rdma,omitempty"`
}

// RDMA is the RDMA device port whose traffic goes through a NIC.
type RDMA struct {
	Device string `json:"device"` // e.g. mlx5_0
	Port   int    `json:"port"`   // from 1
}

// Read reads the facts of the machine it runs on. root is prepended to
// every path under /proc, /sys and /etc: "" on a host, a directory that
// fakes them in tests.
//
// With root "" the hostname and kernel come from uname(2); otherwise from
// root/proc/sys/kernel/{hostname,osrelease,version}, and the architecture
// is the one the binary was built for.
//
// The NICs are every entry of /sys/class/net except lo, virtual ones
// included. Their addresses are the kernel's, so they are read only with
// root "". Only an unreadable /sys/class/net is an error.
func Read(root string) (*Facts, error) {
	path := func(p string) string { return filepath.Join(root, p) }
	f := &Facts{
		MachineID: readString(path("/etc/machine-id")),
		BootID:    readString(path("/proc/sys/kernel/random/boot_id")),
		OS:        osRelease(path("/etc/os-release"), path("/usr/lib/os-release")),
		CPUs:      cpuCount(path("/sys/devices/system/cpu/online")),
	}
	if root == "" {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			f.Hostname = unix.ByteSliceToString(u.Nodename[:])
			f.Kernel = unix.ByteSliceToString(u.Release[:])
			f.KernelVersion = unix.ByteSliceToString(u.Version[:])
			f.Arch = unix.ByteSliceToString(u.Machine[:])
		}
		if f.CPUs == 0 {
			f.CPUs = runtime.NumCPU()
		}
	} else {
		f.Hostname = readString(path("/proc/sys/kernel/hostname"))
		f.Kernel = readString(path("/proc/sys/kernel/osrelease"))
		f.KernelVersion = readString(path("/proc/sys/kernel/version"))
		f.Arch = unameMachine(runtime.GOARCH)
	}
	if kb, ok := memTotalKB(path("/proc/meminfo")); ok {
		f.MemoryBytes = kb * 1024
	}
	nics, err := readNICs(root)
	if err != nil {
		return nil, err
	}
	f.NICs = nics
	return f, nil
}

// readNICs lists /sys/class/net. Its entries are links to the devices; a
// regular file there (bonding_masters) is not a device.
func readNICs(root string) ([]NIC, error) {
	dir := filepath.Join(root, "/sys/class/net")
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("facts: list network interfaces: %w", err)
	}
	rdma := rdmaPorts(root)
	nics := []NIC{}
	for _, e := range entries {
		name := e.Name()
		if name == "lo" || !(e.IsDir() || e.Type()&os.ModeSymlink != 0) {
			continue
		}
		d := filepath.Join(dir, name)
		n := NIC{
			Name:  name,
			MAC:   readString(filepath.Join(d, "address")),
			State: readString(filepath.Join(d, "operstate")),
		}
		n.MTU, _ = readInt(filepath.Join(d, "mtu"))
		if s, ok := readInt(filepath.Join(d, "speed")); ok && s > 0 {
			n.SpeedMbps = s
		}
		if l, err := os.Readlink(filepath.Join(d, "device/driver")); err == nil {
			n.Driver = filepath.Base(l)
		}
		if r, ok := rdma[name]; ok {
			n.RDMA = &r
		}
		if root == "" {
			n.Addrs = addrs(name)
		}
		nics = append(nics, n)
	}
	return nics, nil
}

func addrs(name string) []string {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// rdmaPorts maps netdev names to the RDMA ports behind them. It looks at
// each device of /sys/class/infiniband in name order, and in each:
//
//   - each port P in number order, whose netdev (RoCE) is named in
//     ports/P/gid_attrs/ndevs/0;
//   - then each netdev in device/net (IPoIB, and the Ethernet function of
//     a RoCE device), whose port is its dev_port plus one, or the device's
//     first port when dev_port is unreadable or names no port.
//
// The first match of a netdev wins.
func rdmaPorts(root string) map[string]RDMA {
	dir := filepath.Join(root, "/sys/class/infiniband")
	devs, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := map[string]RDMA{}
	add := func(netdev, dev string, port int) {
		if _, ok := m[netdev]; !ok && netdev != "" {
			m[netdev] = RDMA{Device: dev, Port: port}
		}
	}
	for _, d := range devs {
		dev := d.Name()
		var ports []int
		pes, _ := os.ReadDir(filepath.Join(dir, dev, "ports"))
		for _, p := range pes {
			if n, err := strconv.Atoi(p.Name()); err == nil {
				ports = append(ports, n)
			}
		}
		slices.Sort(ports)
		for _, p := range ports {
			add(readString(filepath.Join(dir, dev, "ports", strconv.Itoa(p), "gid_attrs/ndevs/0")), dev, p)
		}
		if len(ports) == 0 {
			continue
		}
		nes, _ := os.ReadDir(filepath.Join(dir, dev, "device/net"))
		for _, ne := range nes {
			port := ports[0]
			if dp, ok := readInt(filepath.Join(dir, dev, "device/net", ne.Name(), "dev_port")); ok && slices.Contains(ports, dp+1) {
				port = dp + 1
			}
			add(ne.Name(), dev, port)
		}
	}
	return m
}

// readString returns a file's contents without surrounding white space, or
// "" when it cannot be read (sysfs refuses some reads with EINVAL).
func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(path string) (int, bool) {
	n, err := strconv.Atoi(readString(path))
	return n, err == nil
}

// osRelease returns PRETTY_NAME from the first os-release file that exists.
func osRelease(paths ...string) string {
	for _, p := range paths {
		if v, ok := prettyName(p); ok {
			return v
		}
	}
	return ""
}

// prettyName returns PRETTY_NAME from an os-release file, and whether the
// file could be opened.
func prettyName(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == "PRETTY_NAME" {
			return unquote(v), true
		}
	}
	return "", true
}

// unquote undoes os-release's shell-style quoting.
func unquote(v string) string {
	if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
		return u
	}
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	return v
}

// cpuCount counts the CPUs in a list such as "0-3,8-11"; 0 when unreadable.
func cpuCount(path string) int {
	s := readString(path)
	if s == "" {
		return 0
	}
	n := 0
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

func memTotalKB(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       16318392 kB
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fs[1], 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// unameMachine is uname's name for a Go architecture.
func unameMachine(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	case "loong64":
		return "loongarch64"
	}
	return goarch
}
