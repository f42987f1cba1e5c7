package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tbctl/tbctl/internal/clock"
	"github.com/tbctl/tbctl/internal/suggest"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Injector injects and clears the faults of one deployed lab, wherever
// its nodes run: an Engine on this machine, or a provider's relay to the
// engines on other machines.
type Injector interface {
	// Inject checks a fault, applies it and reads it back. With owned
	// set, the fault ends with this process.
	Inject(ctx context.Context, code, target string, params map[string]string, owned bool) (*Fault, error)
	// Clear reverts one fault (id) or every active one (id "").
	Clear(id string) ([]*Fault, error)
	// List returns every fault of the lab with its last state.
	List() ([]*Fault, error)
	// Close lets go of the injector; faults this process owns and has
	// not cleared are reverted by whoever holds them (the relay's far end).
	Close() error
}

var _ Injector = (*Engine)(nil)

// Close does nothing: an Engine holds no connection.
func (e *Engine) Close() error { return nil }

// Engine injects and clears the faults of one deployed lab.
type Engine struct {
	lab *lab.Lab
	rec *lab.Record
	j   *journal
	r   resolver

	mu      sync.Mutex
	running map[string]func() // stops the faults this process drives (flaps) and waits for them
}

// Open returns the engine of a deployed lab.
func Open(l *lab.Lab, rec *lab.Record) *Engine {
	return &Engine{lab: l, rec: rec, j: openJournal(l.Dir), r: resolver{rec}, running: map[string]func(){}}
}

// plan is how one fault is applied, checked and undone.
type plan struct {
	mechanism string
	undo      []Step
	apply     func() error
	verify    func() (string, error)
	// drive, when set, keeps the fault going from this process (a flap)
	// until its context ends; such faults must be owned.
	drive func(ctx context.Context)
	// chosen, when set, is the mechanism apply picked by capability.
	chosen *string
	// recordUndo, when set, gives the undo steps once apply has run (for
	// faults whose undo names what apply created, such as a process).
	recordUndo func() []Step
}

// Inject checks a fault, journals it with its undo, applies it and reads
// the kernel back. With owned set, the fault ends with this process: a
// later tbctl that finds it dead reverts it.
func (e *Engine) Inject(ctx context.Context, code, target string, params map[string]string, owned bool) (*Fault, error) {
	kind, ok := Lookup(code)
	if !ok {
		var codes []string
		for _, k := range catalogue {
			codes = append(codes, k.Code)
		}
		return nil, errkind.User("unknown fault %q (%s; tbctl fault list --catalogue shows them)", code, suggest.Hint(code, codes, "faults"))
	}
	if err := checkParams(kind, params); err != nil {
		return nil, errkind.User("%s: %v", code, err)
	}
	unlock, err := e.j.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, err := e.j.nextID()
	if err != nil {
		return nil, err
	}
	p, err := e.plan(kind, target, params, "tbctl_"+id)
	if err != nil {
		return nil, errkind.User("%s %s: %v", code, target, err)
	}
	if p.drive != nil && !owned {
		return nil, errkind.User("%s is driven by a running tbctl: give --for DURATION", code)
	}
	f := &Fault{ID: id, Code: code, Target: target, Params: params, Mechanism: p.mechanism, State: StateApplying, Undo: p.undo}
	if owned {
		f.Owner = self()
	}
	if err := e.j.write(f); err != nil {
		return nil, err
	}
	if err := p.apply(); err != nil {
		revertSteps(f.Undo)
		f.State, f.Error = StateFailed, err.Error()
		e.j.write(f)
		return f, fmt.Errorf("%s %s: %w", code, target, err)
	}
	if p.chosen != nil {
		f.Mechanism = *p.chosen
	}
	if p.recordUndo != nil {
		f.Undo = p.recordUndo()
	}
	f.Detail, err = p.verify()
	f.Verified = err == nil
	if err != nil {
		f.Error = "verification: " + err.Error()
	}
	f.State = StateApplied
	if p.drive != nil {
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.drive(dctx)
		}()
		e.mu.Lock()
		e.running[f.ID] = func() { cancel(); <-done }
		e.mu.Unlock()
	}
	return f, e.j.write(f)
}

// plan resolves the target and picks the mechanism.
func (e *Engine) plan(kind Kind, target string, params map[string]string, table string) (*plan, error) {
	switch kind.Code {
	case "net.delay", "net.reorder", "net.duplicate", "net.corrupt", "net.loss_burst":
		ends, err := e.r.link(target)
		if err != nil {
			return nil, err
		}
		return emulatorPlan(ends, impairment(kind.Code, params), e.lab.Path("faults", table))
	case "net.loss":
		nic, err := e.r.iface(target)
		if err != nil {
			return nil, err
		}
		pct, _ := strconv.ParseFloat(params["percent"], 64)
		return lossPlan(nic, pct, table), nil
	case "net.partition":
		sets, err := e.r.nodeSets(target)
		if err != nil {
			return nil, err
		}
		oneway, _ := strconv.ParseBool(paramOr(params, "oneway", "false"))
		return e.partitionPlan(sets, oneway, table)
	case "net.blackhole":
		n, err := e.r.node(target)
		if err != nil {
			return nil, err
		}
		dst, err := e.r.prefix(params["dst"])
		if err != nil {
			return nil, fmt.Errorf("dst: %v", err)
		}
		port, _ := strconv.Atoi(paramOr(params, "port", "0"))
		return blackholePlan(end{Node: n.Name, NS: e.r.nsOf(n.Name)}, dst, params["proto"], port, table), nil
	case "net.link_down":
		ends, err := e.r.link(target)
		if err != nil {
			return nil, err
		}
		return linkDownPlan(ends)
	case "net.link_flap":
		ends, err := e.r.link(target)
		if err != nil {
			return nil, err
		}
		p, err := linkDownPlan(ends)
		if err != nil {
			return nil, err
		}
		period, _ := time.ParseDuration(paramOr(params, "period", "2s"))
		duty, _ := strconv.ParseFloat(paramOr(params, "duty", "50"), 64)
		p.drive = flapper(ends, p.undo, period, duty)
		return p, nil
	case "host.nic_down":
		nic, err := e.r.iface(target)
		if err != nil {
			return nil, err
		}
		return linkDownPlan([]end{nic})
	case "switch.down":
		n, err := e.r.node(target)
		if err != nil {
			return nil, err
		}
		if n.Kind != topo.KindBridge {
			return nil, fmt.Errorf("node %s is a %s node, not a bridge (switch)", n.Name, n.Kind)
		}
		ends := []end{{Node: n.Name, NS: e.r.nsOf(n.Name), Iface: n.Name}}
		for _, i := range n.Interfaces {
			ends = append(ends, end{Node: n.Name, NS: e.r.nsOf(n.Name), Iface: i.Name})
		}
		return linkDownPlan(ends)
	case "net.rate":
		nic, err := e.r.iface(target)
		if err != nil {
			return nil, err
		}
		mbps, _ := strconv.ParseFloat(params["mbps"], 64)
		queue, _ := time.ParseDuration(paramOr(params, "queue", "20ms"))
		return &plan{
			mechanism: "tbf",
			undo:      []Step{{Do: "qdisc-delete", NS: nic.NS, Iface: nic.Iface}},
			apply:     func() error { return addTBF(nic, mbps, queue) },
			verify: func() (string, error) {
				rate, err := readTBF(nic)
				if err != nil {
					return "", err
				}
				if want := uint64(mbps * 1e6 / 8); rate != want {
					return "", fmt.Errorf("tbf rate reads %d B/s, want %d", rate, want)
				}
				return fmt.Sprintf("tbf at %s: %d bytes/s", nic, rate), nil
			},
		}, nil
	case "node.crash", "node.pause":
		n, err := e.r.node(target)
		if err != nil {
			return nil, err
		}
		ns := e.r.nsOf(n.Name)
		procs, err := nodeProcs(ns)
		if err != nil {
			return nil, err
		}
		if len(procs) == 0 {
			return nil, fmt.Errorf("node %s runs no processes: there is nothing to %s", n.Name, strings.TrimPrefix(kind.Code, "node."))
		}
		return signalPlan(kind.Code == "node.pause", procs, "node "+n.Name), nil
	case "node.cpu_straggler":
		n, err := e.r.node(target)
		if err != nil {
			return nil, err
		}
		procs, err := nodeProcs(e.r.nsOf(n.Name))
		if err != nil {
			return nil, err
		}
		if len(procs) == 0 {
			return nil, fmt.Errorf("node %s runs no processes: there is nothing to slow down", n.Name)
		}
		share, _ := strconv.ParseFloat(params["share"], 64)
		return stragglerPlan(e.rec.Name, n.Name, procs, share)
	case "node.mem_pressure":
		n, err := e.r.node(target)
		if err != nil {
			return nil, err
		}
		ns := e.r.nsOf(n.Name)
		if ns == "" {
			return nil, fmt.Errorf("node %s is the host itself", n.Name)
		}
		mb, _ := strconv.Atoi(params["mb"])
		return hogPlan(n.Name, ns, mb), nil
	case "role.crash", "role.hang":
		procs := roleProcs(e.rec.Name, target)
		if len(procs) == 0 {
			return nil, fmt.Errorf("no running role instance %q in lab %s", target, e.rec.Name)
		}
		return signalPlan(kind.Code == "role.hang", procs, "role instance "+target), nil
	}
	return nil, fmt.Errorf("not available yet on this provider")
}

// linkDownPlan takes interfaces down; its undo brings them up and puts back
// the routes through them, which the kernel deletes on link down.
// flapper brings links up and down: down for duty percent of each period,
// starting down (the fault was just applied).
func flapper(ends []end, ups []Step, period time.Duration, duty float64) func(context.Context) {
	down := time.Duration(float64(period) * duty / 100)
	return func(ctx context.Context) {
		for {
			if !clock.Sleep(ctx, down) {
				return
			}
			for _, s := range ups {
				undo(s)
			}
			if !clock.Sleep(ctx, period-down) {
				return
			}
			for _, e := range ends {
				setLink(e, false)
			}
		}
	}
}

func linkDownPlan(ends []end) (*plan, error) {
	p := &plan{mechanism: "netlink link state"}
	for _, e := range ends {
		routes, err := routesVia(e)
		if err != nil {
			return nil, err
		}
		p.undo = append(p.undo, Step{Do: "link-up", NS: e.NS, Iface: e.Iface, Routes: routes})
	}
	p.apply = func() error {
		for _, e := range ends {
			if err := setLink(e, false); err != nil {
				return err
			}
		}
		return nil
	}
	p.verify = func() (string, error) {
		var names []string
		for _, e := range ends {
			up, err := linkIsUp(e)
			if err != nil {
				return "", err
			}
			if up {
				return "", fmt.Errorf("%s is still up", e)
			}
			names = append(names, e.String())
		}
		return "down: " + strings.Join(names, ", "), nil
	}
	return p, nil
}

// stragglerPlan caps the CPU of a node's processes at share percent of one
// CPU, in a cgroup of their own.
func stragglerPlan(labName, node string, procs []proc, share float64) (*plan, error) {
	cg, err := findCPUCgroup()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cg.Root, fmt.Sprintf("tbctl-%s-%s-%d", labName, node, time.Now().UnixNano()))
	var members []cgMember
	for _, p := range procs {
		members = append(members, cgMember{proc: p, From: cg.groupOf(p.PID)})
	}
	return &plan{
		mechanism: cg.mechanism(),
		undo:      []Step{{Do: "cgroup-restore", Cgroup: &cg, Dir: dir, Members: members}},
		apply: func() error {
			if err := cg.limit(dir, share); err != nil {
				return err
			}
			for _, p := range procs {
				if err := move(dir, p.PID); err != nil && startTime(p.PID) == p.Start {
					return fmt.Errorf("move process %d: %w", p.PID, err)
				}
			}
			return nil
		},
		verify: func() (string, error) {
			q, err := cg.quota(dir)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%d processes of node %s capped at %.0f%% of one CPU", len(procs), node, q), nil
		},
	}, nil
}

// hogPlan takes memory away from everything on the host by holding mb MiB
// in a process inside the node.
func hogPlan(node, ns string, mb int) *plan {
	var hog proc
	p := &plan{mechanism: "memory hog process", undo: []Step{{Do: "signal-kill"}}}
	p.apply = func() error {
		var err error
		hog, err = startHog(ns, mb)
		return err
	}
	p.verify = func() (string, error) {
		if st := procState(hog); st == "" || st == "Z" {
			return "", fmt.Errorf("the memory hog is gone")
		}
		return fmt.Sprintf("process %d in node %s holds %d MiB", hog.PID, node, mb), nil
	}
	p.recordUndo = func() []Step { return []Step{{Do: "signal-kill", Procs: []proc{hog}}} }
	return p
}

// signalPlan stops (pause) or kills (crash) processes.
func signalPlan(pause bool, procs []proc, what string) *plan {
	if pause {
		return &plan{
			mechanism: "SIGSTOP",
			undo:      []Step{{Do: "signal-cont", Procs: procs}},
			apply:     func() error { signal(procs, syscall.SIGSTOP); return nil },
			verify: func() (string, error) {
				if err := waitStates(procs, "T", 2*time.Second); err != nil {
					return "", err
				}
				return fmt.Sprintf("%s: %d processes stopped", what, len(procs)), nil
			},
		}
	}
	return &plan{
		mechanism: "SIGKILL",
		apply:     func() error { signal(procs, syscall.SIGKILL); return nil },
		verify: func() (string, error) {
			if err := waitStates(procs, "Z", 2*time.Second); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: %d processes killed", what, len(procs)), nil
		},
	}
}

// Clear reverts one fault (id) or every active one (id ""), and reads the
// kernel back.
func (e *Engine) Clear(id string) ([]*Fault, error) {
	found := false
	cleared, err := e.revertWhere(func(f *Fault) bool {
		if id != "" && f.ID != id {
			return false
		}
		found = true
		return f.Active()
	})
	if err == nil && id != "" && !found {
		return nil, errkind.User("lab %s has no fault %s (tbctl fault list %s)", e.rec.Name, id, e.rec.Name)
	}
	return cleared, err
}

// revertWhere reverts, under the journal's lock, the faults pick chooses.
func (e *Engine) revertWhere(pick func(*Fault) bool) ([]*Fault, error) {
	unlock, err := e.j.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := e.j.current()
	if err != nil {
		return nil, err
	}
	var done []*Fault
	var errs []error
	for _, f := range cur {
		if pick(f) {
			errs = append(errs, e.revert(f))
			done = append(done, f)
		}
	}
	return done, errors.Join(errs...)
}

// revert undoes a fault, verifies it and journals the result.
func (e *Engine) revert(f *Fault) error {
	e.mu.Lock()
	if stop, ok := e.running[f.ID]; ok {
		stop()
		delete(e.running, f.ID)
	}
	e.mu.Unlock()
	err := revertSteps(f.Undo)
	if err == nil {
		for _, s := range f.Undo {
			if verr := checkUndone(s); verr != nil {
				err = verr
			}
		}
	}
	f.State, f.Verified, f.Error, f.Detail = StateReverted, err == nil, "", ""
	if err != nil {
		f.Error = err.Error()
	}
	f.Owner = nil
	if werr := e.j.write(f); werr != nil {
		return werr
	}
	return err
}

func revertSteps(steps []Step) error {
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		errs = append(errs, undo(steps[i]))
	}
	return errors.Join(errs...)
}

// List returns every fault of the lab with its last state.
func (e *Engine) List() ([]*Fault, error) { return e.j.current() }

// ClearOwned reverts every active fault this process owns.
func (e *Engine) ClearOwned() ([]*Fault, error) {
	me := os.Getpid()
	return e.revertWhere(func(f *Fault) bool { return f.Active() && f.Owner != nil && f.Owner.PID == me })
}

// Heal reverts every active fault whose owner process is gone.
func (e *Engine) Heal() ([]*Fault, error) {
	return e.revertWhere(func(f *Fault) bool { return f.Active() && f.Owner != nil && !f.Owner.Alive() })
}

// CheckSpec checks a fault's code and parameters against the catalogue,
// without a lab: experiment files are checked this way before anything is
// deployed.
func CheckSpec(code string, params map[string]string) error {
	kind, ok := Lookup(code)
	if !ok {
		var codes []string
		for _, k := range catalogue {
			codes = append(codes, k.Code)
		}
		return fmt.Errorf("unknown fault %q (%s)", code, suggest.Hint(code, codes, "faults"))
	}
	return checkParams(kind, params)
}

func paramOr(params map[string]string, key, def string) string {
	if v, ok := params[key]; ok {
		return v
	}
	return def
}

// checkParams checks names and values against the catalogue.
func checkParams(k Kind, params map[string]string) error {
	var names []string
	for _, p := range k.Params {
		names = append(names, p.Name)
	}
	keys := make([]string, 0, len(params))
	for key := range params {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var problems []string
	for _, key := range keys {
		var spec *Param
		for i := range k.Params {
			if k.Params[i].Name == key {
				spec = &k.Params[i]
			}
		}
		if spec == nil {
			problems = append(problems, fmt.Sprintf("no parameter %q (%s)", key, suggest.Hint(key, names, "parameters")))
			continue
		}
		if err := checkValue(*spec, params[key]); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", key, params[key], err))
		}
	}
	for _, p := range k.Params {
		if _, set := params[p.Name]; !set && p.Default == "" && p.Type != "bool" && p.Name != "proto" {
			problems = append(problems, fmt.Sprintf("parameter %s is required (%s)", p.Name, p.Help))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func checkValue(p Param, v string) error {
	switch p.Type {
	case "duration":
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 2s")
		}
	case "percent":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 100 {
			return fmt.Errorf("want a percentage above 0 and at most 100")
		}
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("want a number of at least 0")
		}
		if p.Name == "mbps" && f == 0 {
			return fmt.Errorf("a rate of 0 would cut the link; use net.link_down")
		}
	case "bool":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("want true or false")
		}
	}
	return nil
}
