package run

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/filehash"
	"github.com/tbctl/tbctl/internal/proc"
	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/lab"
)

// Manifest describes a run directory: what made it, on what, with which
// inputs, when, how it ended, and the SHA-256 of every file in it.
type Manifest struct {
	Tool       Tool              `json:"tool"`
	Host       Host              `json:"host"`
	Experiment string            `json:"experiment"`
	File       string            `json:"file"`
	FileSHA256 string            `json:"fileSHA256"` // of the experiment file as given
	RunID      string            `json:"runId"`
	Provider   string            `json:"provider"`
	Mechanisms map[string]string `json:"mechanisms,omitempty"` // how the labs were served (emulation, containerlab version, node image)
	Machines   []*lab.Machine    `json:"machines,omitempty"`   // the remote hosts, as the last run found them
	Parameters map[string]any    `json:"parameters"`           // the experiment document after --set
	Seeds      []int64           `json:"seeds"`
	Start      Stamp             `json:"start"`
	End        Stamp             `json:"end"`
	Status     string            `json:"status"`
	Files      map[string]string `json:"files"` // path relative to the run directory → sha256
}

// Tool is the tbctl that made the run.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
}

// Host is the machine the run ran on.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	MemoryKB int64  `json:"memoryKB"`
}

// Stamp is a time on the wall clock and on the host's monotonic clock.
type Stamp struct {
	Wall   time.Time `json:"wall"`
	MonoNS int64     `json:"monoNS"`
}

func now() Stamp { return Stamp{Wall: time.Now().UTC(), MonoNS: roles.MonotonicNS()} }

type manifest struct{ m Manifest }

func newManifest(exp *experiment.Experiment, id, file string) *manifest {
	sum, _ := HashFile(file)
	return &manifest{m: Manifest{FileSHA256: sum,
		Tool: toolInfo(), Host: hostInfo(), Experiment: exp.Name, File: file, RunID: id,
		Provider: providerOr(exp.Provider), Parameters: exp.Doc, Start: now(),
	}}
}

func providerOr(p string) string {
	if p == "" {
		return "netns"
	}
	return p
}

func (m *manifest) finish(res *Result) {
	m.m.End = now()
	m.m.Status = res.Status
	for _, r := range res.Runs {
		m.m.Seeds = append(m.m.Seeds, r.Seed)
		if len(r.Machines) > 0 {
			m.m.Machines = r.Machines
		}
		for k, v := range r.Mechanisms {
			if m.m.Mechanisms == nil {
				m.m.Mechanisms = map[string]string{}
			}
			m.m.Mechanisms[k] = v
		}
	}
}

// write hashes every file of the run directory and writes manifest.json.
func (m *manifest) write(dir string) error {
	m.m.Files = map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "manifest.json" {
			return nil
		}
		sum, err := HashFile(path)
		if err != nil {
			return err
		}
		m.m.Files[rel] = sum
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "manifest.json"), m.m)
}

// HashFile returns the hex SHA-256 of a file.
func HashFile(path string) (string, error) { return filehash.SHA256(path) }

// Version is set by the CLI from its build.
var Version = "dev"

func toolInfo() Tool {
	t := Tool{Name: "tbctl", Version: Version, Revision: "unknown", GoVersion: runtime.Version()}
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

func hostInfo() Host {
	h := Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	h.CPU = proc.Field("/proc/cpuinfo", "model name")
	if f := strings.Fields(proc.Field("/proc/meminfo", "MemTotal")); len(f) > 0 {
		for _, c := range f[0] {
			h.MemoryKB = h.MemoryKB*10 + int64(c-'0')
		}
	}
	return h
}

// writeIndex lists the runs of a sweep with their status and directory.
func writeIndex(dir string, res *Result) error {
	type entry struct {
		Label  string         `json:"label"`
		Values map[string]any `json:"values,omitempty"`
		Rep    int            `json:"rep"`
		Dir    string         `json:"dir"`
		Status string         `json:"status"`
	}
	idx := struct {
		Status  string  `json:"status"`
		Runs    []entry `json:"runs"`
		Compare []Check `json:"compare,omitempty"`
	}{Status: res.Status, Compare: res.Compare}
	for _, r := range res.Runs {
		rel, _ := filepath.Rel(dir, r.Dir)
		idx.Runs = append(idx.Runs, entry{r.Label, r.Values, r.Rep, rel, r.Status})
	}
	return writeJSON(filepath.Join(dir, "index.json"), idx)
}
