package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
)

// FetchTimeout bounds fetching an ended instance's files.
var FetchTimeout = 2 * time.Minute

// Launch starts a role instance on its node's host under `tbctl remote
// role`, which reports the instance's pid, readiness and exit on its
// stdout and takes "term" and "kill" on its stdin; when the session ends
// (the controller died, or the connection broke) it stops the instance
// itself. The instance writes into a directory on the host, fetched into
// dir when it ends.
func (p *Provider) Launch(l *lab.Lab, rec *lab.Record, node string, argv []string, dir string, ready io.Writer) (provider.Process, error) {
	_, h, err := p.nodeHost(l, node)
	if err != nil {
		return nil, err
	}
	remoteDir := path.Join(h.dir(), "roles", filepath.Base(dir))
	args, err := hostArgv(argv, h.Sub, remoteDir)
	if err != nil {
		return nil, err
	}
	c, err := p.connections().Client(context.Background(), h.Target)
	if err != nil {
		return nil, err
	}
	st, err := c.StartStream(append([]string{HostBin, "remote", "role", "--lab", h.Sub, "--node", node, "--dir", remoteDir, "--"}, args...)...)
	if err != nil {
		return nil, err
	}
	s, stdin, stdout := st.Session, st.Stdin, st.Stdout
	rp := &remoteProcess{client: c, session: s, stdin: stdin, remoteDir: remoteDir, localDir: dir,
		started: make(chan struct{}), ended: make(chan struct{})}
	go rp.read(stdout, ready)
	select {
	case <-rp.started:
	case <-rp.ended:
	}
	if rp.pid == 0 {
		s.Close()
		return nil, fmt.Errorf("%s: node %s: the instance did not start: %s", h.Target.Name, node, rp.failure)
	}
	return rp, nil
}

// hostArgv turns the local `tbctl role run` command into the host's: the
// instance belongs to the host's lab sub (so that the host's fault engine
// finds it for role faults) and writes into remoteDir, and the ready pipe
// is the wrapper's.
func hostArgv(argv []string, sub, remoteDir string) ([]string, error) {
	out := append([]string(nil), argv[1:]...)
	for i := 0; i < len(out)-1; i++ {
		if out[i] != "--instance-json" {
			continue
		}
		var in map[string]any
		if err := json.Unmarshal([]byte(out[i+1]), &in); err != nil {
			return nil, fmt.Errorf("instance: %w", err)
		}
		in["dir"], in["lab"] = remoteDir, sub
		js, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		out[i+1] = string(js)
	}
	return out, nil
}

// remoteProcess is an instance running on a host.
type remoteProcess struct {
	client    *sshx.Client
	session   *ssh.Session
	remoteDir string
	localDir  string

	mu    sync.Mutex
	stdin io.WriteCloser

	started chan struct{} // pid known
	ended   chan struct{} // the wrapper's output ended
	pid     int
	code    int
	signal  string
	exited  bool
	failure string // what the wrapper said when it could not start
}

// read follows the wrapper's reports: "pid N", "ready", "exit CODE
// [SIGNAL]", or "error MESSAGE".
func (rp *remoteProcess) read(r io.Reader, ready io.Writer) {
	defer close(rp.ended)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		word, rest, _ := strings.Cut(sc.Text(), " ")
		switch word {
		case "pid":
			rp.pid, _ = strconv.Atoi(rest)
			close(rp.started)
		case "ready":
			io.WriteString(ready, "ready\n")
		case "exit":
			f := strings.Fields(rest)
			if len(f) > 0 {
				rp.code, _ = strconv.Atoi(f[0])
			}
			if len(f) > 1 {
				rp.signal = strings.ReplaceAll(f[1], "_", " ")
			}
			rp.exited = true
		case "error":
			rp.failure = rest
		}
	}
}

func (rp *remoteProcess) PID() int { return rp.pid }

// Signal asks the wrapper to end the instance: SIGKILL kills it at once,
// any other signal is a SIGTERM.
func (rp *remoteProcess) Signal(sig syscall.Signal) error {
	word := "term\n"
	if sig == syscall.SIGKILL {
		word = "kill\n"
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	_, err := io.WriteString(rp.stdin, word)
	return err
}

// Wait waits for the instance to end, then fetches its directory.
func (rp *remoteProcess) Wait() (int, string, error) {
	<-rp.ended
	rp.session.Wait()
	rp.session.Close()
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	_, ferr := rp.client.FetchDir(ctx, rp.remoteDir, rp.localDir)
	if !rp.exited {
		return -1, "", fmt.Errorf("%s: lost the instance's session before it reported its exit", rp.client.Name())
	}
	if ferr != nil {
		return rp.code, rp.signal, fmt.Errorf("fetch the instance's files: %w", ferr)
	}
	return rp.code, rp.signal, nil
}
