package artifact

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/proc"
	"github.com/tbctl/tbctl/testbed/run"
)

// ToolInfo is a tbctl build: the version it was given and the VCS revision
// the Go toolchain recorded.
type ToolInfo struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
}

// Self is the running tbctl (its version is run.Version, which the CLI
// sets from its build).
func Self() ToolInfo {
	t := ToolInfo{Name: "tbctl", Version: run.Version, Revision: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				t.Revision = s.Value
			case "vcs.modified":
				t.Modified = s.Value == "true"
			}
		}
	}
	return t
}

// Environment is what the packing machine offers tbctl: enough for an
// evaluator to compare with their own machine before rerunning.
type Environment struct {
	Note     string    `json:"note"`
	Tbctl    ToolInfo  `json:"tbctl"`
	Kernel   Kernel    `json:"kernel"`
	OS       OSRelease `json:"os"`
	CPU      CPU       `json:"cpu"`
	MemoryKB int64     `json:"memoryKB"`
	Root     bool      `json:"root"` // whether tbctl packed as root (labs need root)
	Features []Feature `json:"features"`
	Tools    []Tool    `json:"tools"`
}

// Kernel is uname's release, version and machine.
type Kernel struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// OSRelease is from /etc/os-release.
type OSRelease struct {
	PrettyName string `json:"prettyName,omitempty"`
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"versionId,omitempty"`
}

// CPU is the processor model and how many CPUs the kernel offers.
type CPU struct {
	Model string `json:"model"`
	Count int    `json:"count"`
}

// Feature is a kernel feature tbctl uses and whether this kernel has it.
type Feature struct {
	Name    string `json:"name"`
	Present *bool  `json:"present"` // null when it cannot be told
	Detail  string `json:"detail"`
	UsedFor string `json:"usedFor"`
}

// Tool is a program on PATH that tbctl or its topologies use.
type Tool struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	UsedFor string `json:"usedFor"`
}

// kernelFeatures are the kernel parts a lab and its faults rely on, with
// the config option that builds them in.
var kernelFeatures = []struct{ name, config, usedFor string }{
	{"veth", "CONFIG_VETH", "links between nodes"},
	{"bridge", "CONFIG_BRIDGE", "bridge nodes"},
	{"sch_netem", "CONFIG_NET_SCH_NETEM", "delay, loss and corruption faults (tbctl falls back to a userspace emulator without it)"},
	{"sch_tbf", "CONFIG_NET_SCH_TBF", "rate limits (net.rate, topologies' tbf qdiscs)"},
	{"sch_htb", "CONFIG_NET_SCH_HTB", "rate limits"},
	{"nf_tables", "CONFIG_NF_TABLES", "partitions and nftables-based faults"},
}

// procFiles are files under /proc and /sys whose presence tbctl relies on.
var procFiles = []struct{ name, path, usedFor string }{
	{"network namespaces", "/proc/self/ns/net", "every lab"},
	{"/proc/net/dev", "/proc/net/dev", "interface counters"},
	{"/proc/net/psched", "/proc/net/psched", "traffic control"},
	{"/proc/net/snmp", "/proc/net/snmp", "protocol counters"},
	{"IPv6", "/proc/net/if_inet6", "IPv6 addresses"},
	{"cgroup v2", "/sys/fs/cgroup/cgroup.controllers", "per-node CPU and memory"},
}

// toolsUsed are the programs tbctl, its roles or its sample topologies run.
var toolsUsed = []struct {
	name    string
	args    []string
	usedFor string
}{
	{"ip", []string{"-V"}, "topology exec lines and inspection"},
	{"tc", []string{"-V"}, "topology exec lines (qdiscs)"},
	{"nft", []string{"--version"}, "inspecting nftables faults"},
	{"iperf3", []string{"--version"}, "roles that drive iperf3"},
	{"ping", []string{"-V"}, "reachability checks"},
}

// CaptureEnvironment describes this machine. It reads /proc, /sys,
// /etc/os-release and the kernel's config and runs each tool's version
// option; it never fails, recording what it cannot tell as unknown.
func CaptureEnvironment() Environment {
	e := Environment{
		Note:  "The machine this artifact was packed on (each run's manifest.json records the machine it ran on).",
		Tbctl: Self(),
		CPU:   CPU{Model: proc.Field("/proc/cpuinfo", "model name"), Count: runtime.NumCPU()},
		Root:  os.Geteuid() == 0,
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		e.Kernel = Kernel{Release: unix.ByteSliceToString(u.Release[:]), Version: unix.ByteSliceToString(u.Version[:]), Machine: unix.ByteSliceToString(u.Machine[:])}
	}
	if f := strings.Fields(proc.Field("/proc/meminfo", "MemTotal")); len(f) > 0 {
		e.MemoryKB, _ = strconv.ParseInt(f[0], 10, 64)
	}
	e.OS = osRelease()
	cfg := kernelConfig(e.Kernel.Release)
	mods := moduleIndex(e.Kernel.Release)
	for _, kf := range kernelFeatures {
		present, detail := moduleState(kf.name, kf.config, cfg, mods)
		e.Features = append(e.Features, Feature{Name: kf.name, Present: present, Detail: detail, UsedFor: kf.usedFor})
	}
	for _, pf := range procFiles {
		_, err := os.Stat(pf.path)
		ok := err == nil
		detail := pf.path + " present"
		if !ok {
			detail = pf.path + " missing"
		}
		e.Features = append(e.Features, Feature{Name: pf.name, Present: &ok, Detail: detail, UsedFor: pf.usedFor})
	}
	if data, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control"); err == nil {
		ok := true
		e.Features = append(e.Features, Feature{Name: "TCP congestion control", Present: &ok, Detail: "available: " + strings.TrimSpace(string(data)), UsedFor: "the traffic role's cc parameter"})
	}
	for _, t := range toolsUsed {
		e.Tools = append(e.Tools, toolVersion(t.name, t.args, t.usedFor))
	}
	return e
}

func toolVersion(name string, args []string, usedFor string) Tool {
	t := Tool{Name: name, UsedFor: usedFor}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Version = "not on PATH"
		return t
	}
	t.Path = p
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, p, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	t.Version = strings.TrimSpace(line)
	if t.Version == "" {
		t.Version = "unknown"
	}
	return t
}

func osRelease() OSRelease {
	var r OSRelease
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return r
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		switch k {
		case "PRETTY_NAME":
			r.PrettyName = v
		case "ID":
			r.ID = v
		case "VERSION_ID":
			r.VersionID = v
		}
	}
	return r
}

// kernelConfig reads the running kernel's build configuration, from
// /proc/config.gz or /boot/config-RELEASE; nil when neither is there.
func kernelConfig(release string) map[string]string {
	var r io.Reader
	if data, err := os.ReadFile("/proc/config.gz"); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			r = zr
		}
	}
	if r == nil {
		f, err := os.Open(filepath.Join("/boot", "config-"+release))
		if err != nil {
			return nil
		}
		defer f.Close()
		r = f
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = v
		} else if rest, ok := strings.CutPrefix(line, "# "); ok && strings.HasSuffix(rest, " is not set") {
			cfg[strings.TrimSuffix(rest, " is not set")] = "n"
		}
	}
	return cfg
}

// modules is what /lib/modules/RELEASE says: modules built in and modules
// that can be loaded.
type modules struct {
	known             bool
	builtin, loadable map[string]bool
}

func moduleIndex(release string) modules {
	m := modules{builtin: map[string]bool{}, loadable: map[string]bool{}}
	dir := filepath.Join("/lib/modules", release)
	read := func(file string, into map[string]bool) {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			return
		}
		defer f.Close()
		m.known = true
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p, _, _ := strings.Cut(sc.Text(), ":")
			base := filepath.Base(p)
			if i := strings.Index(base, ".ko"); i > 0 {
				into[strings.ReplaceAll(base[:i], "-", "_")] = true
			}
		}
	}
	read("modules.builtin", m.builtin)
	read("modules.dep", m.loadable)
	return m
}

// moduleState tells whether a kernel module is loaded, built in or
// loadable.
func moduleState(name, config string, cfg map[string]string, mods modules) (*bool, string) {
	yes, no := true, false
	if _, err := os.Stat(filepath.Join("/sys/module", name)); err == nil {
		return &yes, "loaded (/sys/module/" + name + ")"
	}
	switch {
	case mods.builtin[name]:
		return &yes, "built into the kernel (modules.builtin)"
	case mods.loadable[name]:
		return &yes, "loadable module (modules.dep)"
	}
	switch cfg[config] {
	case "y":
		return &yes, "built into the kernel (" + config + "=y)"
	case "m":
		if mods.known {
			return &no, config + "=m but the module is not installed"
		}
		return &yes, "module (" + config + "=m)"
	case "n":
		return &no, config + " is not set"
	}
	if mods.known {
		return &no, "not loaded, not built in, no module installed"
	}
	return nil, "unknown: not loaded, and no kernel config or module index to tell"
}
