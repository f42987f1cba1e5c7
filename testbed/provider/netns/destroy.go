package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/lab"

	"github.com/tbctl/tbctl/internal/proc"
)

// killGrace is how long processes in a lab get between SIGTERM and SIGKILL.
var killGrace = 2 * time.Second

// Destroy removes a lab: it ends every process inside the lab's namespaces,
// unpins its mount and network namespaces (which removes their veths), and
// deletes the root-namespace interfaces marked with the lab's alias, the
// management bridge and the lab's address store. It works from names, so it
// also removes what a killed deploy left, and it may be repeated.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab, rec *lab.Record) error {
	if rec == nil {
		rec = &lab.Record{Name: l.Name, Prefix: "tb", MgmtBr: mgmtBridgeName(l.Name), MgmtNet: "tb-" + l.Name + "-mgmt"}
	}
	paths, err := labNamespaces(rec)
	if err != nil {
		return err
	}
	var errs []error
	mnts := labMountNamespaces(l)
	if err := killProcesses(append(append([]string{}, paths...), mnts...)); err != nil {
		errs = append(errs, err)
	}
	// Root-namespace objects go first: once the namespaces are unpinned the
	// kernel frees them in the background holding the rtnl lock, and
	// deleting the management bridge would wait behind that.
	root, err := rootNS()
	if err != nil {
		return err
	}
	defer root.Close()
	errs = append(errs, deleteMarkedLinks(root, rec.Name), removeMgmt(root, rec))
	for _, m := range mnts {
		errs = append(errs, deleteNS(m))
	}
	if dir := filepath.Join(l.Dir, "mnt"); dirExists(dir) {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			errs = append(errs, fmt.Errorf("unmount %s: %w", dir, err))
		}
	}
	errs = append(errs, forEach(ctx, len(paths), func(i int) error { return deleteNS(paths[i]) }, nil))
	return errors.Join(errs...)
}

// labNamespaces lists the pinned namespaces of a lab: those in its record
// and any other whose name the lab owns (the longest lab name wins when
// names nest, as "a" and "a-b" do).
func labNamespaces(rec *lab.Record) ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	labs, err := lab.List()
	if err != nil {
		return nil, err
	}
	labs = appendUnique(labs, rec.Name)
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, filepath.Join(NetnsDir, name))
		}
	}
	for _, ns := range rec.Namespace {
		add(ns)
	}
	for _, e := range entries {
		if owner, ok := lab.Owner(e.Name(), rec.Prefix, labs); ok && owner == rec.Name {
			add(e.Name())
		}
	}
	return out, nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func labMountNamespaces(l *lab.Lab) []string {
	entries, _ := os.ReadDir(filepath.Join(l.Dir, "mnt"))
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(l.Dir, "mnt", e.Name()))
	}
	return out
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// killProcesses ends every process that lives in one of the pinned
// namespaces: SIGTERM, then SIGKILL after killGrace.
func killProcesses(pins []string) error {
	inodes := map[uint64]bool{}
	for _, p := range pins {
		if ino, err := nsInode(p); err == nil {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	pids := processesIn(inodes)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(killGrace)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		pids = alive(pids)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// processesIn returns the processes whose network or mount namespace has
// one of the given inodes.
func processesIn(inodes map[uint64]bool) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, kind := range []string{"net", "mnt"} {
			var st unix.Stat_t
			if unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st) == nil && inodes[st.Ino] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func alive(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if _, state, err := proc.Stat(pid); err == nil && state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// deleteMarkedLinks deletes root-namespace interfaces carrying the lab's
// alias (management bridge, host-link ends, dummies on host nodes).
func deleteMarkedLinks(root *nodeNS, labName string) error {
	links, err := consistent(root.nl.LinkList)
	if err != nil {
		return fmt.Errorf("list host interfaces: %w", err)
	}
	var errs []error
	for _, link := range links {
		if link.Attrs().Alias == aliasOf(labName) {
			if err := root.nl.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete host interface %s: %w", link.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Orphans lists labs that left root-namespace interfaces or default-prefix
// namespaces behind without a lab directory.
func (p *Provider) Orphans(ctx context.Context) ([]string, error) {
	known, err := lab.List()
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	if links, err := consistent(netlink.LinkList); err == nil {
		for _, link := range links {
			if name, ok := strings.CutPrefix(link.Attrs().Alias, "tbctl:"); ok {
				found[name] = true
			}
		}
	}
	if entries, err := os.ReadDir(NetnsDir); err == nil {
		for _, e := range entries {
			if _, owned := lab.Owner(e.Name(), "tb", known); owned {
				continue
			}
			// Without its directory the lab's name is a guess; any guess
			// that owns the namespace lets destroy remove it.
			rest, ok := strings.CutPrefix(e.Name(), "tb-")
			if i := strings.LastIndexByte(rest, '-'); ok && i > 0 {
				found[rest[:i]] = true
			}
		}
	}
	for name := range found {
		for _, k := range known {
			if k == name {
				delete(found, name)
			}
		}
	}
	var out []string
	for name := range found {
		out = append(out, name)
	}
	return out, nil
}
