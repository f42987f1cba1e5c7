// Package clab is the containerlab provider: it writes a lab's topology as
// a containerlab file, has the containerlab command deploy, inspect and
// destroy it, and pins each container's network namespace where the netns
// provider keeps its nodes' (/run/netns/<prefix>-<lab>-<node>). From there
// on a lab is the same to the rest of tbctl: linux and bridge nodes are
// configured by the netns provider's code (netns.Adopt), commands and
// roles run from the host inside a node's network namespace, and faults
// and collectors find the namespaces by name.
//
// It touches only the containerlab lab named after the tbctl lab (its
// containers, its management Docker network and its folder under the lab's
// directory), the pins of its containers' namespaces, processes in them,
// and tbctl's node image.
package clab

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/tbctl/tbctl/internal/namespace"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/topo"
	"golang.org/x/sys/unix"
)

// Name is the provider's name for --provider.
const Name = "containerlab"

func init() { provider.Register(&Provider{}) }

// Provider runs labs in containers through containerlab.
type Provider struct {
	ns netns.Provider // runs commands in nodes and reads their interfaces
}

func (*Provider) Name() string { return Name }

// Kinds are every kind: those tbctl configures (linux, bridge, host) and
// any other, which containerlab runs from its image.
func (*Provider) Kinds() map[string]bool { return nil }

// Preflight checks for root, a reachable Docker engine and the containerlab
// command, and that what the topology asks for can be done here.
func (*Provider) Preflight(ctx context.Context, t *topo.Topology) error {
	if os.Geteuid() != 0 {
		return errkind.Env("run tbctl as root (sudo tbctl ...)", "the containerlab provider needs root")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return errkind.Env("install Docker Engine (apt-get install docker.io) and start it", "the containerlab provider needs Docker: no docker command")
	}
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		return errkind.Env("start the Docker engine (systemctl start docker)", "the Docker engine does not answer: %s", firstLine(out, err))
	}
	if _, err := containerlab(); err != nil {
		return err
	}
	if t != nil {
		return check(t)
	}
	return nil
}

// containerlab finds the containerlab command: TBCTL_CONTAINERLAB, then
// PATH, then where `make containerlab` installs it.
func containerlab() (string, error) {
	if p := os.Getenv("TBCTL_CONTAINERLAB"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", errkind.Env("point TBCTL_CONTAINERLAB at the containerlab command, or unset it and run make containerlab", "TBCTL_CONTAINERLAB=%s is not an executable file", p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("containerlab"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/bin/containerlab"); err == nil {
		return "/usr/local/bin/containerlab", nil
	}
	return "", errkind.Env("install containerlab (make containerlab builds v0.60.0 from the Go module proxy)", "the containerlab provider needs the containerlab command, which is not on PATH")
}

// run runs a command and returns its combined output; a failure carries
// the output's last lines. The command dies with tbctl: a containerlab
// deploy left running after tbctl was killed would make containers after
// a destroy had looked for them. (The parent-death signal follows the
// thread that started the child, so the goroutine keeps its thread until
// the child has exited.)
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runIn(ctx, "", name, args...)
}

// runIn is run with the environment that keeps containerlab's lab folder
// (clab-<lab>) in dir, not in the caller's working directory, and keeps it
// off the network (there may be none).
func runIn(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	err := execute(ctx, dir, &out, &out, name, args...)
	return out.Bytes(), err
}

// output is runIn for a command whose standard output is data (JSON) and
// whose standard error is its log.
func output(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	var out, log bytes.Buffer
	err := execute(ctx, dir, &out, &log, name, args...)
	return out.Bytes(), err
}

func execute(ctx context.Context, dir string, stdout, stderr *bytes.Buffer, name string, args ...string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.CommandContext(ctx, name, args...)
	if dir != "" {
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CLAB_LABDIR_BASE="+dir, "CLAB_VERSION_CHECK=disable")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 8))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return err.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func joinLines(list []string) string { return strings.Join(list, "\n") }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Exec runs a command in a node's network namespace with the host's files,
// as on the netns provider.
func (p *Provider) Exec(ctx context.Context, l *lab.Lab, rec *lab.Record, node string, argv []string, stdio provider.Stdio) (int, error) {
	return p.ns.Exec(ctx, l, rec, node, argv, stdio)
}

// Start starts a role instance inside a node's container, as `docker
// exec` enters one: in the container's network, UTS, IPC and PID
// namespaces, so that the container's end (docker stop, destroy) ends it
// too. It keeps the host's files, where the instance writes its results
// (the container's tbctl is the same binary). Host nodes run it as on the
// netns provider.
func (p *Provider) Start(l *lab.Lab, rec *lab.Record, node string, cmd *exec.Cmd) error {
	n := rec.Topology.Node(node)
	if n == nil || n.Kind == topo.KindHost {
		return p.ns.Start(l, rec, node, cmd)
	}
	byNode, err := containers(context.Background(), l)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	c, ok := byNode[node]
	if !ok || c.Pid <= 0 {
		return fmt.Errorf("node %s: its container is not running", node)
	}
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(n.Env)) {
		env = append(env, k+"="+n.Env[k])
	}
	cmd.Env = append(env, cmd.Env...)
	err = namespace.InThread(func() error {
		for _, ns := range []struct {
			name string
			kind int
		}{{"net", unix.CLONE_NEWNET}, {"uts", unix.CLONE_NEWUTS}, {"ipc", unix.CLONE_NEWIPC}, {"pid", unix.CLONE_NEWPID}} {
			if err := namespace.Enter(fmt.Sprintf("/proc/%d/ns/%s", c.Pid, ns.name), ns.kind); err != nil {
				return err
			}
		}
		return cmd.Start()
	})
	if err != nil {
		return fmt.Errorf("node %s: start %s in container %s: %w", node, cmd.Path, strings.TrimPrefix(first(c.Names), "/"), err)
	}
	return nil
}
