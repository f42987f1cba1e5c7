package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Deadman is how long a host keeps the faults it applied once it hears
// nothing from the controller: then it reverts them. The controller
// speaks every Deadman/4.
var Deadman = 10 * time.Second

// Faults returns the lab's fault relay: each fault goes to the host of
// its target, where `tbctl remote faults` applies it with the host's own
// engine and holds it on a dead-man switch. A fault lasts only while the
// tbctl that applied it runs (or until it is cleared).
func (p *Provider) Faults(l *lab.Lab, rec *lab.Record) (fault.Injector, error) {
	st, err := loadState(l)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotDeployed(l.Name)
	}
	r := &relay{p: p, st: st, topo: rec.Topology, agents: map[string]*faultAgent{}, parts: map[string][]part{}, done: make(chan struct{})}
	go r.heartbeat()
	return r, nil
}

type relay struct {
	p    *Provider
	st   *state
	topo *topo.Topology

	mu       sync.Mutex
	agents   map[string]*faultAgent // by host
	parts    map[string][]part      // composed faults (partition/N) → their parts
	composed int
	done     chan struct{}
	closed   bool
}

// faultAgent is one host's `tbctl remote faults` session.
type faultAgent struct {
	host    string
	session *ssh.Session
	mu      sync.Mutex // one request at a time
	stdin   io.WriteCloser
	replies *bufio.Scanner
}

func (r *relay) heartbeat() {
	t := time.NewTicker(Deadman / 4)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			r.mu.Lock()
			agents := make([]*faultAgent, 0, len(r.agents))
			for _, a := range r.agents {
				agents = append(agents, a)
			}
			r.mu.Unlock()
			for _, a := range agents {
				a.call(wire.FaultRequest{Op: "ping"})
			}
		}
	}
}

// agent returns the fault session of a host, starting it on first use.
func (r *relay) agent(h *hostState) (*faultAgent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("the fault relay is closed")
	}
	if a := r.agents[h.Target.Name]; a != nil {
		return a, nil
	}
	c, err := r.p.connections().Client(context.Background(), h.Target)
	if err != nil {
		return nil, err
	}
	a, err := startAgent(c, h, Deadman, r.topo.Remote != nil && r.topo.Remote.AllowSSHCut)
	if err != nil {
		return nil, err
	}
	r.agents[h.Target.Name] = a
	return a, nil
}

func startAgent(c *sshx.Client, h *hostState, deadman time.Duration, allowSSHCut bool) (*faultAgent, error) {
	argv := []string{HostBin, "remote", "faults", "--lab", h.Sub, "--deadman", deadman.String()}
	if allowSSHCut {
		argv = append(argv, "--allow-ssh-cut")
	}
	st, err := c.StartStream(argv...)
	if err != nil {
		return nil, err
	}
	s, stdin, stdout := st.Session, st.Stdin, st.Stdout
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	a := &faultAgent{host: h.Target.Name, session: s, stdin: stdin, replies: sc}
	if _, err := a.call(wire.FaultRequest{Op: "ping"}); err != nil {
		s.Close()
		return nil, err
	}
	return a, nil
}

func (a *faultAgent) call(req wire.FaultRequest) (wire.FaultReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	line, err := json.Marshal(req)
	if err != nil {
		return wire.FaultReply{}, err
	}
	if _, err := a.stdin.Write(append(line, '\n')); err != nil {
		return wire.FaultReply{}, fmt.Errorf("%s: fault session: %w", a.host, err)
	}
	if !a.replies.Scan() {
		err := a.replies.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return wire.FaultReply{}, fmt.Errorf("%s: fault session ended: %w", a.host, err)
	}
	var rep wire.FaultReply
	if err := json.Unmarshal(a.replies.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("%s: fault session: %w", a.host, err)
	}
	return rep, nil
}

// Inject applies a fault on the host of its target. A fault's ID is
// HOST/ID, the host's own ID behind its name.
func (r *relay) Inject(ctx context.Context, code, target string, params map[string]string, owned bool) (*fault.Fault, error) {
	if !owned {
		return nil, errkind.User("on the remote provider a fault lasts only while the tbctl that applied it runs (its hosts revert it %s after losing it): give --for, or apply it from an experiment's faults", Deadman)
	}
	h, params, err := r.route(code, target, params)
	if err == errSpansHosts {
		return r.injectPartition(ctx, target, params)
	}
	if err != nil {
		return nil, err
	}
	if h == nil {
		return r.injectAnywhere(ctx, code, target, params)
	}
	a, err := r.agent(h)
	if err != nil {
		return nil, err
	}
	rep, err := a.call(wire.FaultRequest{Op: "inject", Code: code, Target: target, Params: params})
	if err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("%s: %s", h.Target.Name, rep.Error)
	}
	if len(rep.Faults) != 1 {
		return nil, fmt.Errorf("%s: the host reported %d faults for one inject", h.Target.Name, len(rep.Faults))
	}
	return named(h.Target.Name, rep.Faults)[0], nil
}

// errSpansHosts says a partition's nodes are on several hosts: the relay
// composes it from black holes on each.
var errSpansHosts = errors.New("the fault's nodes are on several hosts")

// injectAnywhere applies a fault on a role instance on the host that
// runs it: each host is asked in turn, and the one whose engine finds the
// instance applies it.
func (r *relay) injectAnywhere(ctx context.Context, code, target string, params map[string]string) (*fault.Fault, error) {
	var errs []string
	for _, h := range r.st.Hosts {
		a, err := r.agent(h)
		if err != nil {
			return nil, err
		}
		rep, err := a.call(wire.FaultRequest{Op: "inject", Code: code, Target: target, Params: params})
		if err != nil {
			return nil, err
		}
		if rep.Error == "" && len(rep.Faults) == 1 {
			return named(h.Target.Name, rep.Faults)[0], nil
		}
		errs = append(errs, h.Target.Name+": "+rep.Error)
	}
	return nil, fmt.Errorf("fault %s on %s: no host applied it (%s)", code, target, strings.Join(errs, "; "))
}

// route finds the host that applies a fault. Its target's nodes must all
// be on that host; a destination naming a node anywhere in the lab is
// resolved to its address here, where the whole topology is known.
func (r *relay) route(code, target string, params map[string]string) (*hostState, map[string]string, error) {
	kind, ok := fault.Lookup(code)
	if !ok {
		return nil, nil, errkind.User("unknown fault %q (tbctl fault list --catalogue)", code)
	}
	var nodes []string
	switch kind.Target {
	case fault.OnLink, fault.OnInterface:
		node, _, _ := strings.Cut(target, ":")
		nodes = []string{node}
	case fault.OnNode:
		nodes = []string{target}
	case fault.OnNodes:
		for _, part := range strings.FieldsFunc(target, func(c rune) bool { return c == ',' || c == '|' }) {
			nodes = append(nodes, strings.TrimSpace(part))
		}
	case fault.OnRole:
		return nil, params, nil // the relay does not know where an instance runs: every host is asked
	default:
		return nil, nil, errkind.User("%s: faults on a %s are not available on the remote provider yet", code, kind.Target)
	}
	var host *hostState
	for _, n := range nodes {
		h, err := r.st.hostOf(n)
		if err != nil {
			return nil, nil, errkind.User("fault %s on %s: %v", code, target, err)
		}
		if host != nil && h != host {
			if code == "net.partition" {
				return nil, params, errSpansHosts
			}
			return nil, nil, errkind.User("fault %s on %s: its nodes are on hosts %s and %s; a fault must stay on one host",
				code, target, host.Target.Name, h.Target.Name)
		}
		host = h
	}
	if dst, ok := params["dst"]; ok {
		p, err := fault.Destination(r.topo, dst)
		if err != nil {
			return nil, nil, errkind.User("fault %s: dst: %v", code, err)
		}
		params = maps.Clone(params)
		params["dst"] = p.String()
	}
	return host, params, nil
}

// Clear reverts one fault (HOST/ID) or every active fault on every host
// this relay has applied faults on.
func (r *relay) Clear(id string) ([]*fault.Fault, error) {
	if strings.HasPrefix(id, "partition/") {
		return r.clearComposed(id)
	}
	if id != "" {
		host, hid, ok := strings.Cut(id, "/")
		h := r.st.host(host)
		if !ok || h == nil {
			return nil, errkind.User("fault %q: write HOST/ID as tbctl fault list shows it", id)
		}
		a, err := r.agent(h)
		if err != nil {
			return nil, err
		}
		return r.ask(a, wire.FaultRequest{Op: "clear", ID: hid})
	}
	var out []*fault.Fault
	var errs []error
	r.mu.Lock()
	composed := slices.Sorted(maps.Keys(r.parts))
	r.mu.Unlock()
	for _, id := range composed {
		fs, err := r.clearComposed(id)
		out = append(out, fs...)
		errs = append(errs, err)
	}
	for _, a := range r.active() {
		fs, err := r.ask(a, wire.FaultRequest{Op: "clear"})
		out = append(out, fs...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// List returns the faults of every host of the lab.
func (r *relay) List() ([]*fault.Fault, error) {
	var out []*fault.Fault
	var errs []error
	for _, h := range r.st.Hosts {
		a, err := r.agent(h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fs, err := r.ask(a, wire.FaultRequest{Op: "list"})
		out = append(out, fs...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (r *relay) ask(a *faultAgent, req wire.FaultRequest) ([]*fault.Fault, error) {
	rep, err := a.call(req)
	if err != nil {
		return nil, err
	}
	fs := named(a.host, rep.Faults)
	if rep.Error != "" {
		return fs, fmt.Errorf("%s: %s", a.host, rep.Error)
	}
	return fs, nil
}

func (r *relay) active() []*faultAgent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*faultAgent
	for _, a := range r.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].host < out[j].host })
	return out
}

// Close ends every host's fault session; each host reverts what is still
// applied there.
func (r *relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	agents := r.agents
	r.mu.Unlock()
	for _, a := range agents {
		a.mu.Lock()
		a.stdin.Close()
		a.mu.Unlock()
		a.session.Wait()
		a.session.Close()
	}
	return nil
}

// named puts the host's name in front of each fault's ID.
func named(host string, fs []*fault.Fault) []*fault.Fault {
	for _, f := range fs {
		f.ID = host + "/" + f.ID
	}
	return fs
}
