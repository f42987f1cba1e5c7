// Package roles is the contract between tbctl and the research systems it
// deploys on nodes, and their registry. A role is Go code compiled into
// tbctl; `tbctl role run NAME` starts one instance inside a node's
// namespaces. The instance gets typed parameters, its identity and the
// addresses of the nodes its parameters name (resolved by the runner before
// it starts), writes structured events, serves Prometheus metrics, says when
// it is ready, and writes a summary when it ends. One package per role lives
// below this one; this package touches only the instance's own directory
// and listening socket.
package roles

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Role describes one kind of research system.
type Role struct {
	Name    string
	Summary string
	// Params returns a pointer to a parameter struct holding the defaults.
	// Exported fields are parameters; their tags:
	//   param:"name"   the parameter's name in experiment files
	//   help:"..."     what it means, for `tbctl role describe`
	//   ref:"node"     the value names a node ("server" or "server:eth1")
	//                  and the runner replaces it with that node's address
	// Supported field types: string, bool, int, int64, float64,
	// time.Duration (written "10s"), []string, []int, []float64.
	Params func() any
	// Run runs one instance until ctx ends or its work is done. It calls
	// env.Ready once it can serve its dependents. The error it returns is
	// the instance's failure; nil is success.
	Run func(ctx context.Context, env *Env, params any) error
	// Diagnoses says the role emits "diagnosis" events naming a root cause
	// (root_node, or a link from_node → to_node) and when it was detected
	// (detected_mono_ns); the runner scores them against
	// the faults it injected and adds the scores to the instance's summary.
	Diagnoses bool
}

var (
	mu       sync.Mutex
	registry = map[string]*Role{}
)

// Register adds a role; role packages call it from an init function.
func Register(r *Role) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[r.Name]; dup {
		panic("roles: " + r.Name + " registered twice")
	}
	registry[r.Name] = r
}

// Get returns the role called name.
func Get(name string) (*Role, error) {
	mu.Lock()
	defer mu.Unlock()
	if r, ok := registry[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown role %q (roles: %v)", name, namesLocked())
}

// All returns every registered role, sorted by name.
func All() []*Role {
	mu.Lock()
	defer mu.Unlock()
	var out []*Role
	for _, n := range namesLocked() {
		out = append(out, registry[n])
	}
	return out
}

func namesLocked() []string {
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Env is what an instance knows about itself and where it reports.
type Env struct {
	Lab      string
	Node     string
	Instance string // unique within the run, e.g. "client"
	Role     string
	Dir      string // the instance's directory; summary and series go here
	Seed     int64  // the run's seed for this instance

	Events  *EventLog
	Metrics *prometheus.Registry

	ready func()
	once  sync.Once
}

// Ready tells the runner that dependents may start. Calling it more than
// once is harmless.
func (e *Env) Ready() {
	e.once.Do(func() {
		e.Events.Emit("ready", nil)
		if e.ready != nil {
			e.ready()
		}
	})
}
