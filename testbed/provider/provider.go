// Package provider defines what a backend must do to bring a lab up, show
// it, run commands in it and take it down, and keeps the registry of
// backends. Each backend lives in its own package below this one.
package provider

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"syscall"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Provider is one way of running labs.
type Provider interface {
	// Name is the name users pass to --provider.
	Name() string
	// Kinds lists the node kinds this provider can run.
	Kinds() map[string]bool
	// Preflight checks the environment (privileges, kernel features,
	// helper binaries) before anything is changed. Failures are
	// errkind.EnvError.
	Preflight(ctx context.Context, t *topo.Topology) error
	// Deploy creates the lab. The lab's directory and record exist already.
	// On error the caller destroys whatever was made.
	Deploy(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, p Progress) error
	// Destroy removes everything of the lab, whether or not Deploy
	// finished. It is idempotent.
	Destroy(ctx context.Context, l *lab.Lab, rec *lab.Record) error
	// Inspect reports the live state of a deployed lab.
	Inspect(ctx context.Context, l *lab.Lab, rec *lab.Record) (*Inspection, error)
	// Exec runs a command inside a node and returns its exit status.
	Exec(ctx context.Context, l *lab.Lab, rec *lab.Record, node string, argv []string, stdio Stdio) (int, error)
	// Start starts a prepared command inside a node and returns once it
	// runs; the caller waits for it. Role instances are started this way.
	Start(l *lab.Lab, rec *lab.Record, node string, cmd *exec.Cmd) error
	// Orphans lists labs that have kernel objects but no directory (their
	// directory was lost); destroy --all removes them too.
	Orphans(ctx context.Context) ([]string, error)
}

// Launcher is implemented by providers whose nodes are not on this
// machine (remote): they start a role instance's command themselves, as
// an exec.Cmd cannot reach there. argv is the command as it would run on
// this machine; dir is the instance's local directory, which holds every
// file the instance wrote by the time Wait returns.
type Launcher interface {
	Launch(l *lab.Lab, rec *lab.Record, node string, argv []string, dir string, ready io.Writer) (Process, error)
}

// FaultRelay is implemented by providers whose nodes are not on this
// machine: faults go to the engines where the nodes are.
type FaultRelay interface {
	Faults(l *lab.Lab, rec *lab.Record) (fault.Injector, error)
}

// Sampler is implemented by providers whose nodes are not on this
// machine: the hosts run the lab's collectors (testbed/gather) on their
// nodes as cfg asks, streaming samples to write and timeline events to
// emit as they come; captures land in dir/captures by the time Stop
// returns.
type Sampler interface {
	Collect(l *lab.Lab, rec *lab.Record, cfg experiment.Collect, dir string, write func([]collectors.Sample) error, emit func(kind string, fields map[string]any)) (Collection, error)
}

// Collection is a lab's collectors at work, wherever they run.
type Collection interface {
	// AddInstance puts a started role instance into its node's cgroup
	// and its metrics endpoint (host:port, "" for none) among the scrape
	// targets.
	AddInstance(node, name string, pid int, metricsAddr string)
	// Stop ends collection and returns what failed.
	Stop() error
}

// Process is a role instance started by a Launcher.
type Process interface {
	// PID is the instance's process id on its own machine.
	PID() int
	// Signal sends sig to the instance and everything it started.
	Signal(sig syscall.Signal) error
	// Wait waits for the instance to end and reports its exit code, or
	// the signal that ended it ("" when none). err is for failures to
	// learn the outcome, not for a non-zero exit.
	Wait() (code int, signal string, err error)
}

// Progress receives the status of deploy actions, in the manner of kind's
// status logger: an action starts with a total, advances, and ends.
type Progress interface {
	Start(action string, total int)
	Add(n int)
	End(err error)
}

// NoProgress is a Progress that reports nothing.
type NoProgress struct{}

func (NoProgress) Start(string, int) {}
func (NoProgress) Add(int)           {}
func (NoProgress) End(error)         {}

// Stdio is where an executed command's standard streams go.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Inspection is the live state of a lab.
type Inspection struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	State    string `json:"state"`
	MgmtNet  string `json:"mgmtNetwork,omitempty"`
	MgmtIPv4 string `json:"mgmtSubnet,omitempty"`
	// Mechanisms says how features were served on this machine.
	Mechanisms map[string]string `json:"mechanisms,omitempty"`
	Nodes      []NodeState       `json:"nodes"`
	// Roles are the instances the lab's supervisor runs, when it has one.
	Roles []RoleState `json:"roles,omitempty"`
	Links []LinkState `json:"links"`
}

// RoleState is how one supervised role instance is doing.
type RoleState struct {
	Instance string `json:"instance"`
	Role     string `json:"role"`
	Node     string `json:"node"`
	PID      int    `json:"pid"`
	Status   string `json:"status"` // running, or how it ended
	Error    string `json:"error,omitempty"`
}

// NodeState is one node as it is now.
type NodeState struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	// Container is the node's container and its state, on providers
	// that run nodes in containers ("clab-tb-lab-h1 running").
	Container  string       `json:"container,omitempty"`
	MgmtIPv4   string       `json:"mgmtIPv4,omitempty"`
	PIDs       []int        `json:"pids,omitempty"`
	Interfaces []IfaceState `json:"interfaces"`
}

// IfaceState is one interface of a node as it is now.
type IfaceState struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu"`
	State string   `json:"state"`
	Addrs []string `json:"addresses,omitempty"`
	Peer  string   `json:"peer,omitempty"` // "node:iface", "host:iface" or "mgmt"
}

// LinkState is one link of the topology.
type LinkState struct {
	Type string `json:"type"`
	A    string `json:"a"`
	B    string `json:"b,omitempty"`
}

var registry = map[string]Provider{}

// Register adds a provider; backends call it from an init function.
func Register(p Provider) { registry[p.Name()] = p }

// Get returns the provider called name.
func Get(name string) (Provider, error) {
	if p, ok := registry[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown provider %q: choose one of %v", name, Names())
}

// Names lists the registered providers.
func Names() []string {
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
