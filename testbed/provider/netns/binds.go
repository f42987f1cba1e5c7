package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/topo"
)

// mountBinds gives a node a mount namespace of its own holding its binds,
// and pins it under the lab's directory so exec and cmd can enter it.
func (d *deployment) mountBinds(n *topo.Node) error {
	for _, b := range n.Binds {
		if _, err := os.Stat(b.Host); err != nil {
			return fmt.Errorf("node %s: bind %s: host path: %w", n.Name, b.Host, err)
		}
		if _, err := os.Stat(b.Node); err != nil {
			return fmt.Errorf("node %s: bind target %s does not exist; nodes of the netns provider share the host's file system, so the target must exist on the host (create it, or bind to an existing path)", n.Name, b.Node)
		}
	}
	if err := d.ensurePrivateMntDir(); err != nil {
		return err
	}
	pin := mntPath(d.lab, n.Name)
	if err := os.WriteFile(pin, nil, 0o444); err != nil {
		return err
	}

	ready := make(chan string)
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread is discarded with its namespace
		if err := newMountNS(n.Binds); err != nil {
			errc <- fmt.Errorf("node %s: %w", n.Name, err)
			return
		}
		ready <- fmt.Sprintf("/proc/%d/task/%d/ns/mnt", os.Getpid(), unix.Gettid())
		<-release
		errc <- nil
	}()
	select {
	case err := <-errc:
		return err
	case nsFile := <-ready:
		err := unix.Mount(nsFile, pin, "none", unix.MS_BIND, "")
		close(release)
		if err2 := <-errc; err == nil {
			err = err2
		}
		if err != nil {
			return fmt.Errorf("node %s: pin mount namespace: %w", n.Name, err)
		}
		return nil
	}
}

// newMountNS moves the calling thread into a new mount namespace whose
// mounts do not propagate back to the host, and mounts the binds there.
func newMountNS(binds []topo.Bind) error {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	for _, b := range binds {
		if err := unix.Mount(b.Host, b.Node, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s to %s: %w", b.Host, b.Node, err)
		}
		if b.ReadOnly {
			if err := unix.Mount("", b.Node, "none", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("make %s read-only: %w", b.Node, err)
			}
		}
	}
	return nil
}

// ensurePrivateMntDir makes the lab's mnt folder a private mount point, as a
// pinned mount namespace must not propagate into other namespaces.
func (d *deployment) ensurePrivateMntDir() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := filepath.Join(d.lab.Dir, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}
