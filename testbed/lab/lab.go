// Package lab names labs and finds them again. A lab's anchor is its
// directory under /run/tbctl/<lab>/, written before any kernel object is
// made; it holds the record of what was asked for, the lab's lock and the
// logs of processes started in its nodes. Kernel objects are named from the
// lab's name, so a lab whose tbctl was killed can still be found and removed.
// This package touches only files under the run directory.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/topo"
)

// RunDir is where lab directories live; a tmpfs, so it is emptied at boot
// together with every namespace it describes. Tests may change it.
var RunDir = "/run/tbctl"

// Record is what a lab directory remembers of a deployment.
type Record struct {
	Name      string            `json:"name"`
	Provider  string            `json:"provider"`
	Prefix    string            `json:"prefix"`
	File      string            `json:"file,omitempty"`
	Created   time.Time         `json:"created"`
	PID       int               `json:"pid"` // the tbctl that deployed it
	State     string            `json:"state"`
	MgmtNet   string            `json:"mgmtNetwork,omitempty"`
	MgmtIPv4  string            `json:"mgmtSubnet,omitempty"`
	MgmtBr    string            `json:"mgmtBridge,omitempty"`
	Topology  *topo.Topology    `json:"topology"`
	Namespace map[string]string `json:"namespaces"` // node → namespace name

	// Mechanisms records how each feature was served on this machine
	// (feature → mechanism), as kernels differ.
	Mechanisms map[string]string `json:"mechanisms,omitempty"`
	// Machines are the hosts other than this one that the lab runs on
	// (the remote provider's), as they were found at deploy.
	Machines []*Machine `json:"machines,omitempty"`
	mu       sync.Mutex
}

// Machine is a host a lab runs on, other than the controller.
type Machine struct {
	Name    string   `json:"name"`    // in the inventory
	Address string   `json:"address"` // as SSH reached it
	Nodes   []string `json:"nodes"`
	// Facts are the host's identity, kernel and NICs as it read them.
	Facts json.RawMessage `json:"facts,omitempty"`
	// ClockOffsetNS is the host's clock minus the controller's, within
	// ClockErrorNS either way.
	ClockOffsetNS int64 `json:"clockOffsetNS"`
	ClockErrorNS  int64 `json:"clockErrorNS"`
	// Deploy is how long each deploy step took on the host.
	Deploy map[string]string `json:"deploy,omitempty"`
}

// SetMechanism records which mechanism served a feature.
func (r *Record) SetMechanism(feature, mechanism string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Mechanisms == nil {
		r.Mechanisms = map[string]string{}
	}
	r.Mechanisms[feature] = mechanism
}

// States of a lab.
const (
	StateDeploying = "deploying"
	StateRunning   = "running"
	StateFailed    = "failed"
)

// Lab is a handle on one lab's directory.
type Lab struct {
	Name string
	Dir  string
}

// Open returns the handle of the lab called name, whether or not it exists.
func Open(name string) *Lab {
	return &Lab{Name: name, Dir: filepath.Join(RunDir, name)}
}

// Path joins elem onto the lab's directory.
func (l *Lab) Path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

// Exists reports whether the lab has a directory.
func (l *Lab) Exists() bool {
	_, err := os.Stat(l.Path("lab.json"))
	return err == nil
}

// Create makes the lab's directory and writes its first record. It fails
// with a user error when the lab is already there.
func (l *Lab) Create(rec *Record) error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", RunDir, err)
	}
	if err := os.Mkdir(l.Dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lab %q is already deployed (%s exists): destroy it first with `tbctl destroy %s`, or deploy under another name with --name", l.Name, l.Dir, l.Name)
		}
		return fmt.Errorf("create lab directory: %w", err)
	}
	return l.Save(rec)
}

// Save writes the record atomically.
func (l *Lab) Save(rec *Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.Path("lab.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	return os.Rename(tmp, l.Path("lab.json"))
}

// Load reads the lab's record.
func (l *Lab) Load() (*Record, error) {
	data, err := os.ReadFile(l.Path("lab.json"))
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read %s: %w", l.Path("lab.json"), err)
	}
	return &rec, nil
}

// Remove deletes the lab's directory.
func (l *Lab) Remove() error { return os.RemoveAll(l.Dir) }

// Lock takes the lab's exclusive lock, waiting for it. Release with the
// returned function.
func (l *Lab) Lock() (func(), error) {
	return lockFile(filepath.Join(RunDir, "."+l.Name+".lock"))
}

// LockAll takes the lock that serialises choices shared by all labs, such as
// management subnets.
func LockAll() (func(), error) {
	return lockFile(filepath.Join(RunDir, ".global.lock"))
}

func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// List returns the names of all labs that have a directory, sorted. Every
// folder of RunDir is a lab's; tbctl keeps nothing else there but lock files.
func List() ([]string, error) {
	entries, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// NamespaceName is the name of a node's network namespace.
func NamespaceName(prefix, lab, node string) string {
	if prefix == "" {
		return lab + "-" + node
	}
	return prefix + "-" + lab + "-" + node
}

// Owner returns which of labs a namespace called ns belongs to, by the
// longest lab name that, with prefix, starts it. ok is false when none does.
func Owner(ns, prefix string, labs []string) (string, bool) {
	best := ""
	for _, l := range labs {
		if strings.HasPrefix(ns, NamespaceName(prefix, l, "")) && len(l) > len(best) {
			best = l
		}
	}
	return best, best != ""
}
