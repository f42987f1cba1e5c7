package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tbctl/tbctl/testbed"
)

// StopGrace is how long an instance has between SIGTERM and SIGKILL when
// the controller is gone.
var StopGrace = 5 * time.Second

// Role runs argv (a `tbctl role run` command, without the binary) inside
// node of the host's lab sub, with stdout and stderr in files of dir and
// the ready pipe as file descriptor 3. It reports on out, one line each:
// "pid N" once started, "ready" when the instance says so, "exit CODE
// [SIGNAL]" when it ends, or "error MESSAGE" when it cannot start. It
// reads ctl for "term" and "kill"; when ctl ends, the controller is gone,
// and the instance gets SIGTERM, then SIGKILL after StopGrace.
func Role(ctx context.Context, sub, node, dir string, argv []string, ctl io.Reader, out io.Writer) error {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	cmd, ready, err := startRole(sub, node, dir, argv)
	if err != nil {
		say("error %s", strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	pid := cmd.Process.Pid
	say("pid %d", pid)
	go func() {
		defer ready.Close()
		line, _ := bufio.NewReader(ready).ReadString('\n')
		if strings.TrimSpace(line) == "ready" {
			say("ready")
		}
	}()
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(ctl)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "term":
				syscall.Kill(-pid, syscall.SIGTERM)
			case "kill":
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
		// The controller is gone: the instance must not outlive it.
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(StopGrace):
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	err = cmd.Wait()
	close(done)
	code, sig := 0, ""
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
			sig = strings.ReplaceAll(sig, " ", "_")
		}
	} else if err != nil {
		say("error %s", err)
		return err
	}
	if sig != "" {
		say("exit %d %s", code, sig)
	} else {
		say("exit %d", code)
	}
	return nil
}

// startRole starts the instance in its node through the host lab's
// provider, as the runner does on the controller.
func startRole(sub, node, dir string, argv []string) (*exec.Cmd, *os.File, error) {
	if len(argv) == 0 {
		return nil, nil, errors.New("no command")
	}
	l, rec, p, err := testbed.Open(sub)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, nil, err
	}
	defer stderr.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer w.Close()
	self, err := os.Executable()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	cmd := exec.Command(self, argv...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Start(l, rec, node, cmd); err != nil {
		r.Close()
		return nil, nil, err
	}
	return cmd, r, nil
}
