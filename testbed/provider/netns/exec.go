package netns

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Exec runs argv inside a node, with the node's environment, passing stdio
// through, and returns its exit status.
func (p *Provider) Exec(ctx context.Context, l *lab.Lab, rec *lab.Record, node string, argv []string, stdio provider.Stdio) (int, error) {
	n := rec.Topology.Node(node)
	if n == nil {
		return 0, errkind.User("lab %s has no node %q (nodes: %s)", rec.Name, node, nodeNames(rec.Topology))
	}
	if len(argv) == 0 {
		return 0, errkind.User("no command given: tbctl exec %s %s -- CMD [ARGS...]", rec.Name, node)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// An interrupted tbctl passes SIGTERM on, and kills only if the
	// command has not ended 5 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = nodeEnv(n)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.In, stdio.Out, stdio.Err
	netPath := ""
	if inNamespace(n.Kind) {
		netPath = namespacePath(rec, n.Name)
	}
	if err := startIn(netPath, nodeMnt(l, n.Name), cmd); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return 127, errkind.User("node %s: %v", node, err)
		}
		return 0, fmt.Errorf("node %s: %w", node, err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil // as shells report it
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// Start starts cmd inside a node's namespaces with the node's environment
// added to cmd.Env.
func (p *Provider) Start(l *lab.Lab, rec *lab.Record, node string, cmd *exec.Cmd) error {
	n := rec.Topology.Node(node)
	if n == nil {
		return errkind.User("lab %s has no node %q (nodes: %s)", rec.Name, node, nodeNames(rec.Topology))
	}
	cmd.Env = append(nodeEnv(n), cmd.Env...)
	netPath := ""
	if inNamespace(n.Kind) {
		netPath = namespacePath(rec, n.Name)
	}
	if err := startIn(netPath, nodeMnt(l, n.Name), cmd); err != nil {
		return fmt.Errorf("node %s: start %s: %w", node, cmd.Path, err)
	}
	return nil
}

func nodeNames(t *topo.Topology) string {
	s := ""
	for i, n := range t.Nodes {
		if i > 0 {
			s += ", "
		}
		s += n.Name
	}
	return s
}
