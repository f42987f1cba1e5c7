package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"

	"github.com/tbctl/tbctl/internal/namespace"
)

// mntPath is where a node's mount namespace is pinned, when it has one.
func mntPath(l *lab.Lab, node string) string { return filepath.Join(l.Dir, "mnt", node) }

// enterNode joins the calling thread, which must be locked and disposable,
// to a node's network namespace and, when mnt is not empty, its mount
// namespace. Like `ip netns exec`, it then gives the thread a private mount
// namespace with /sys mounted afresh, so /sys/class/net shows the node's
// interfaces.
func enterNode(netPath, mnt string) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if mnt != "" {
		if err := namespace.Enter(mnt, unix.CLONE_NEWNS); err != nil {
			return err
		}
	}
	if err := namespace.Enter(netPath, unix.CLONE_NEWNET); err != nil {
		return err
	}
	return remountSys()
}

func remountSys() error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil && err != unix.EINVAL {
		return fmt.Errorf("unmount /sys: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
		return fmt.Errorf("mount /sys for the node: %w", err)
	}
	return nil
}

// startIn starts cmd inside a node's namespaces. netPath "" means the root
// namespace.
func startIn(netPath, mnt string, cmd *exec.Cmd) error {
	if netPath == "" {
		return cmd.Start()
	}
	return namespace.InThread(func() error {
		if err := enterNode(netPath, mnt); err != nil {
			return err
		}
		return cmd.Start()
	})
}

// nodeMnt returns the node's pinned mount namespace, or "" when it has none.
func nodeMnt(l *lab.Lab, node string) string {
	p := mntPath(l, node)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// nodeCommand builds `sh -c line` with the node's environment.
func nodeCommand(ctx context.Context, n *topo.Node, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Env = nodeEnv(n)
	return cmd
}

// nodeEnv is tbctl's environment with the node's env on top.
func nodeEnv(n *topo.Node) []string {
	env := os.Environ()
	keys := make([]string, 0, len(n.Env))
	for k := range n.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+n.Env[k])
	}
	return env
}

// netPathOf is the namespace a node's processes run in ("" for host nodes).
func (d *deployment) netPathOf(n *topo.Node) string {
	if !inNamespace(n.Kind) {
		return ""
	}
	return namespacePath(d.rec, n.Name)
}

// runExec runs the node's exec commands in order, after its links are up.
func (d *deployment) runExec(ctx context.Context, n *topo.Node) error {
	for _, line := range n.Exec {
		cmd := nodeCommand(ctx, n, line)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := startIn(d.netPathOf(n), nodeMnt(d.lab, n.Name), cmd)
		if err == nil {
			err = cmd.Wait()
		}
		if err != nil {
			return fmt.Errorf("node %s: exec %q: %w: %s", n.Name, line, err, strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// startCmd starts the node's long-lived process in a session of its own,
// its output going to the node's log file. Destroy finds it by its
// namespace.
func (d *deployment) startCmd(n *topo.Node) error {
	if err := os.MkdirAll(filepath.Dir(logPath(d.lab, n.Name)), 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(logPath(d.lab, n.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := nodeCommand(context.Background(), n, n.Cmd)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startIn(d.netPathOf(n), nodeMnt(d.lab, n.Name), cmd); err != nil {
		return fmt.Errorf("node %s: start cmd %q: %w", n.Name, n.Cmd, err)
	}
	pidFile := filepath.Join(d.lab.Dir, "nodes", n.Name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	return cmd.Process.Release()
}
