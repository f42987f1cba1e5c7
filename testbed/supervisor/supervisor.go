// Package supervisor keeps the role instances that a topology places on its
// nodes running after `tbctl deploy` returns. Each such lab gets one
// detached process, `tbctl lab supervise LAB`, which starts the instances in
// order, answers on a unix socket in the lab's directory, and stops them
// when destroy asks. It touches only the lab's directory, the processes it
// starts, and (to stop a supervisor that does not answer) the supervisor
// process recorded there.
package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/gather"
	"github.com/tbctl/tbctl/testbed/instance"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"

	"github.com/tbctl/tbctl/internal/proc"
)

const (
	sockName = "supervisor.sock"
	pidName  = "supervisor.pid"
	logName  = "supervisor.log"
)

// Needed reports whether a topology places any role on its nodes.
func Needed(t *topo.Topology) bool {
	for _, n := range t.Nodes {
		if len(n.Roles) > 0 {
			return true
		}
	}
	return false
}

// Launch starts the supervisor of a deployed lab as a detached process and
// waits until every instance it starts is ready, or it fails.
func Launch(ctx context.Context, l *lab.Lab) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.Create(l.Path(logName))
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(self, "lab", "supervise", l.Name, "--ready-fd", "3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this tbctl
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	if err := os.WriteFile(l.Path(pidName), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	go cmd.Wait() // reaps it should it end while this tbctl still runs

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-lines:
		if line == "ready" {
			return nil
		}
		if msg, ok := strings.CutPrefix(line, "error: "); ok {
			return fmt.Errorf("start roles: %s", msg)
		}
		data, _ := os.ReadFile(l.Path(logName))
		return fmt.Errorf("the supervisor ended before its roles were ready: %s", strings.TrimSpace(string(data)))
	case <-ctx.Done():
		return ctx.Err()
	}
}

type request struct {
	Op string `json:"op"` // status | stop
}

// Serve is the supervisor: it starts the lab's instances wave by wave,
// writes "ready" (or "error: ...") to ready, then answers on the socket
// until asked to stop or ctx ends, and stops every instance before it
// returns.
func Serve(ctx context.Context, labName string, ready *os.File) error {
	l := lab.Open(labName)
	rec, err := l.Load()
	if err != nil {
		return err
	}
	p, err := provider.Get(rec.Provider)
	if err != nil {
		return err
	}
	s := &server{lab: l}
	defer s.stopAll()
	if err := s.start(ctx, p, rec); err != nil {
		fmt.Fprintf(ready, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		ready.Close()
		return err
	}
	os.Remove(l.Path(sockName))
	ln, err := net.Listen("unix", l.Path(sockName))
	if err != nil {
		fmt.Fprintf(ready, "error: %v\n", err)
		ready.Close()
		return err
	}
	defer ln.Close()
	fmt.Fprintln(ready, "ready")
	ready.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return nil // closed: stop or ctx
		}
		if s.handle(conn) {
			cancel()
		}
	}
}

type server struct {
	lab   *lab.Lab
	mu    sync.Mutex
	procs []*instance.Proc
}

// Check checks every role instance a topology places: roles, parameters,
// node references and `after` order. Deploy and validate call it before
// anything is created.
func Check(t *topo.Topology) error {
	_, _, err := plan(t)
	return err
}

// plan prepares every instance placed in the topology and orders them in
// start waves.
func plan(t *topo.Topology) (map[string]*instance.Spec, [][]string, error) {
	specs := map[string]*instance.Spec{}
	var names []string
	after := map[string][]string{}
	var problems []string
	for _, n := range t.Nodes {
		for _, in := range n.Roles {
			spec, err := instance.Prepare(t, in.Name, in.Role, n.Name, in.Params, 0, fmt.Sprintf("%s: node %s: roles.%s", in.Pos, n.Name, in.Name))
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			specs[in.Name] = spec
			names = append(names, in.Name)
			after[in.Name] = in.After
		}
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "\n"))
	}
	waves, err := instance.Order(names, after)
	return specs, waves, err
}

// start starts every instance placed in the topology, in the order their
// `after` lists give, each wave once the previous one is ready.
func (s *server) start(ctx context.Context, p provider.Provider, rec *lab.Record) error {
	specs, waves, err := plan(rec.Topology)
	if err != nil {
		return err
	}
	mgmt := map[string]string{}
	if insp, err := p.Inspect(ctx, s.lab, rec); err == nil {
		for _, n := range insp.Nodes {
			mgmt[n.Name] = n.MgmtIPv4
		}
	}
	ports := map[string]int{}
	for _, wave := range waves {
		var started []*instance.Proc
		for _, name := range wave {
			spec := specs[name]
			in := roles.Instance{Role: spec.Role.Name, Lab: rec.Name, Node: spec.Node, Instance: name, Dir: s.lab.Path("roles", name), Seed: 1, Params: spec.Params}
			if addr := mgmt[spec.Node]; addr != "" {
				in.MetricsAddr = gather.MetricsAddr(addr, ports[spec.Node])
				ports[spec.Node]++
			}
			pr, err := instance.Launch(s.lab, rec, p, spec, in)
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.procs = append(s.procs, pr)
			s.mu.Unlock()
			started = append(started, pr)
		}
		if err := instance.WaitReady(ctx, started); err != nil {
			return err
		}
	}
	return nil
}

// handle answers one request; it reports whether the supervisor should
// stop.
func (s *server) handle(conn net.Conn) (stop bool) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		return false
	}
	enc := json.NewEncoder(conn)
	switch req.Op {
	case "status":
		enc.Encode(s.states())
	case "stop":
		s.stopAll()
		enc.Encode(s.states())
		return true
	default:
		enc.Encode(map[string]string{"error": "unknown op " + req.Op})
	}
	return false
}

func (s *server) stopAll() {
	s.mu.Lock()
	procs := append([]*instance.Proc(nil), s.procs...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop()
		}()
	}
	wg.Wait()
}

func (s *server) states() []provider.RoleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []provider.RoleState
	for _, p := range s.procs {
		st := provider.RoleState{Instance: p.Spec.Name, Role: p.Spec.Role.Name, Node: p.Spec.Node, PID: p.PID(), Status: "running"}
		select {
		case <-p.Done():
			res := p.Result()
			st.Status, st.Error = res.Status, res.Error
		default:
		}
		out = append(out, st)
	}
	return out
}

// ask sends one request to a lab's supervisor.
func ask(l *lab.Lab, op string, timeout time.Duration) ([]provider.RoleState, error) {
	conn, err := net.DialTimeout("unix", l.Path(sockName), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(request{Op: op}); err != nil {
		return nil, err
	}
	var states []provider.RoleState
	err = json.NewDecoder(conn).Decode(&states)
	return states, err
}

// Status returns the instances of a lab's supervisor; nil when the lab has
// none.
func Status(l *lab.Lab) []provider.RoleState {
	states, _ := ask(l, "status", 5*time.Second)
	return states
}

// Stop asks a lab's supervisor to stop its instances and exit, and ends the
// supervisor process if it does not. A lab without one is fine.
func Stop(l *lab.Lab) {
	ask(l, "stop", 15*time.Second)
	data, err := os.ReadFile(l.Path(pidName))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !isSupervisorOf(pid, l.Name) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && isSupervisorOf(pid, l.Name); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if isSupervisorOf(pid, l.Name) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// isSupervisorOf checks that pid is still the supervisor of the lab, not a
// process that reused its number.
func isSupervisorOf(pid int, labName string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	if _, state, err := proc.Stat(pid); err != nil || state == 'Z' {
		return false
	}
	return strings.Contains(string(cmdline), "lab\x00supervise\x00"+labName+"\x00")
}
