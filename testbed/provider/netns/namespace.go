package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
)

// NetnsDir is where named network namespaces live, as with `ip netns`.
const NetnsDir = "/run/netns"

// nodeNS is an open network namespace: a handle on it and a netlink socket
// inside it.
type nodeNS struct {
	path string
	fd   netns.NsHandle
	nl   *netlink.Handle
}

func (n *nodeNS) Close() {
	if n == nil {
		return
	}
	if n.nl != nil {
		n.nl.Close()
	}
	n.fd.Close()
}

// ensureNetnsDir makes NetnsDir a shared mount point, as iproute2 does, so
// that namespaces unmounted here are unmounted in every mount namespace.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return err
	}
	for made := false; ; made = true {
		err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || made {
			return fmt.Errorf("make %s a shared mount: %w", NetnsDir, err)
		}
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", NetnsDir, err)
		}
	}
}

// createNS makes a new network namespace, pins it at path, brings its
// loopback up, turns IPv6 off unless ipv6 is set and, when forward is set,
// turns on IPv4 forwarding.
func createNS(path string, ipv6, forward bool) (*nodeNS, error) {
	n := &nodeNS{path: path}
	err := namespace.InThread(func() error {
		err := namespace.NewPinned(path)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("namespace %s already exists: another lab uses this name; destroy it first", filepath.Base(path))
		}
		if err != nil {
			return err
		}
		if n.fd, err = netns.GetFromPath(path); err != nil {
			return err
		}
		if n.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		lo, err := n.nl.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := n.nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		if !ipv6 {
			if err := namespace.DisableIPv6(); err != nil {
				return err
			}
		}
		if forward {
			// net sysctls follow the opener's network namespace.
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("enable forwarding: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// openNS opens an existing named namespace.
func openNS(path string) (*nodeNS, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, err
	}
	return &nodeNS{path: path, fd: fd, nl: h}, nil
}

// rootNS returns a handle on tbctl's own (the host's) namespace.
func rootNS() (*nodeNS, error) {
	fd, err := netns.Get()
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, err
	}
	return &nodeNS{path: "/proc/self/ns/net", fd: fd, nl: h}, nil
}

// deleteNS unpins a namespace; the kernel frees it, and every veth in it,
// once no process holds it.
func deleteNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// nsInode returns the inode that identifies the namespace pinned at path.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// consistent runs a netlink dump again when a concurrent change interrupted
// it (the kernel then flags the results as possibly inconsistent).
func consistent[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range 10 {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
