// Package instance starts role instances inside a lab's nodes as
// `tbctl role run` processes, waits for them to be ready, stops them, and
// reads how they ended. It also checks an instance before it starts: its
// role exists, its node is in the topology, its parameters decode and its
// node references resolve to addresses. The experiment runner and the
// per-lab supervisor both use it; it touches only the processes it starts
// and the instance directories they write.
package instance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
)

// ReadyTimeout bounds how long an instance may take to say it is ready.
var ReadyTimeout = 30 * time.Second

// StopGrace is how long an instance has between SIGTERM and SIGKILL.
var StopGrace = 5 * time.Second

// Proc is one running role instance: a `tbctl role run` process inside its
// node.
type Proc struct {
	Spec  *Spec
	dir   string
	proc  provider.Process
	ready chan struct{} // closed when the instance says it is ready
	done  chan struct{} // closed when the process has exited
	// How it ended, valid after done.
	code   int
	signal string
	err    error

	running bool // left running in a kept lab
}

// Launch starts an instance inside its node. Its stdout and stderr go to
// files of its own; readiness comes back on an inherited pipe, or from the
// provider when it launches instances itself (provider.Launcher).
func Launch(l *lab.Lab, rec *lab.Record, p provider.Provider, s *Spec, in roles.Instance) (*Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "role", "run", s.Role.Name, "--instance-json", string(js), "--ready-fd", "3"}
	var proc provider.Process
	if lp, ok := p.(provider.Launcher); ok {
		proc, err = lp.Launch(l, rec, s.Node, argv, in.Dir, w)
		if err != nil {
			w.Close()
		}
	} else {
		proc, err = startLocal(l, rec, p, s.Node, argv, in.Dir, w)
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	pr := &Proc{Spec: s, dir: in.Dir, proc: proc, ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer r.Close()
		line, _ := bufio.NewReader(r).ReadString('\n')
		if strings.TrimSpace(line) == "ready" {
			close(pr.ready)
		}
	}()
	go func() {
		pr.code, pr.signal, pr.err = proc.Wait()
		w.Close() // a launcher's writer: the reader sees EOF if it never said ready
		close(pr.done)
	}()
	return pr, nil
}

// startLocal starts argv inside a node of this machine through the
// provider, with stdout and stderr in files of dir and the ready pipe as
// file descriptor 3.
func startLocal(l *lab.Lab, rec *lab.Record, p provider.Provider, node string, argv []string, dir string, ready *os.File) (provider.Process, error) {
	defer ready.Close() // the child holds its own copy
	stdout, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{ready}
	// A process group of its own: a Ctrl-C at the terminal reaches the
	// runner, which stops instances in order, not every instance at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Start(l, rec, node, cmd); err != nil {
		return nil, err
	}
	return localProcess{cmd}, nil
}

// localProcess is an instance started on this machine.
type localProcess struct{ cmd *exec.Cmd }

func (lp localProcess) PID() int { return lp.cmd.Process.Pid }

func (lp localProcess) Signal(sig syscall.Signal) error {
	return syscall.Kill(-lp.cmd.Process.Pid, sig)
}

func (lp localProcess) Wait() (int, string, error) {
	err := lp.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		sig := ""
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
		}
		return exit.ExitCode(), sig, nil
	}
	return 0, "", err
}

// WaitReady waits until the instance is ready, exits, or the timeout or ctx
// ends.
func (p *Proc) WaitReady(ctx context.Context) error {
	t := time.NewTimer(ReadyTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		select {
		case <-p.ready: // ready, then finished quickly
			return nil
		default:
		}
		return fmt.Errorf("%s exited before it was ready (%v): %s", p.Spec.Name, p.err, p.stderrTail())
	case <-t.C:
		return fmt.Errorf("%s was not ready after %s", p.Spec.Name, ReadyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the instance: SIGTERM to its process group, SIGKILL after the
// grace period.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.proc.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopGrace):
		p.proc.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Detach leaves a running instance to itself: the runner stops waiting for
// it and records it as still running.
func (p *Proc) Detach() {
	select {
	case <-p.done:
	default:
		p.running = true
	}
}

// Result is how one instance ended and what it reported.
type Result struct {
	Name     string         `json:"name"`
	Role     string         `json:"role"`
	Node     string         `json:"node"`
	Status   string         `json:"status"` // ok, stopped, failed, killed
	ExitCode int            `json:"exitCode"`
	Signal   string         `json:"signal,omitempty"`
	Error    string         `json:"error,omitempty"`
	Summary  map[string]any `json:"summary,omitempty"`
}

// Result reads how the instance ended: the process status, the role's own
// exit event, and its summary.
func (p *Proc) Result() *Result {
	res := &Result{Name: p.Spec.Name, Role: p.Spec.Role.Name, Node: p.Spec.Node}
	if p.running {
		res.Status = "running"
		return res
	}
	res.ExitCode, res.Signal = p.code, p.signal
	res.Status, res.Error = lastExitEvent(filepath.Join(p.dir, "events.jsonl"))
	switch {
	case res.Signal == "killed" || (res.Signal != "" && res.Status == ""):
		res.Status = "killed"
		res.Error = "ended by signal: " + res.Signal
	case res.Status == "" && p.err != nil:
		res.Status = roles.ExitFailed
		res.Error = p.err.Error()
	case res.Status == "" && res.ExitCode != 0:
		res.Status = roles.ExitFailed
		res.Error = p.stderrTail()
	case res.Status == "":
		res.Status = roles.ExitOK
	}
	if data, err := os.ReadFile(filepath.Join(p.dir, "summary.json")); err == nil {
		json.Unmarshal(data, &res.Summary)
	}
	return res
}

func lastExitEvent(path string) (status, errMsg string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Event, Status, Error string
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "exit" {
			status, errMsg = ev.Status, ev.Error
		}
	}
	return status, errMsg
}

// stderrTail returns the last lines the instance wrote to stderr.
func (p *Proc) stderrTail() string {
	data, _ := os.ReadFile(filepath.Join(p.dir, "stderr.log"))
	s := strings.TrimSpace(string(data))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return s
}

// PID is the instance's process id.
func (p *Proc) PID() int { return p.proc.PID() }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitReady waits until every one of procs is ready; it reports all that
// were not.
func WaitReady(ctx context.Context, procs []*Proc) error {
	errs := make(chan error, len(procs))
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.WaitReady(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	var msgs []string
	for err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}
