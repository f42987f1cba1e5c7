// Package namespace holds the few operations on Linux namespaces that
// several parts of tbctl need: running code on a thread that may change
// namespaces, entering a pinned namespace, making and pinning a new network
// namespace, and turning IPv6 off in one. It touches only the namespaces
// and paths it is given.
package namespace

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InThread runs fn on a fresh OS thread that is thrown away afterwards, so
// that fn may change the thread's namespaces freely.
func InThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends a thread whose goroutine
		// exits while locked, and with it whatever namespaces fn entered.
		errc <- fn()
	}()
	return <-errc
}

// Enter joins the calling thread to the namespace pinned at path; kind is
// unix.CLONE_NEWNET, unix.CLONE_NEWNS, ...
func Enter(path string, kind int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, kind); err != nil {
		return fmt.Errorf("enter %s: %w", path, err)
	}
	return nil
}

// NewPinned moves the calling thread, which must be locked and disposable
// (see InThread), into a new network namespace and pins it at path. A path
// that exists already is an error wrapping os.ErrExist.
func NewPinned(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		os.Remove(path)
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin namespace at %s: %w", path, err)
	}
	return nil
}

// DisableIPv6 turns IPv6 off in the calling thread's network namespace,
// for the interfaces there and those made later (net sysctls follow the
// opener's namespace).
func DisableIPv6() error {
	for _, conf := range []string{"all", "default"} {
		p := "/proc/sys/net/ipv6/conf/" + conf + "/disable_ipv6"
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	return nil
}
