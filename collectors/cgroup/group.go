package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Parent is the directory, below each hierarchy's root, under which the
// groups of every lab are made: <root>/tbctl/<lab>/<node>.
const Parent = "tbctl"

// Group is the cgroup of one lab node: a directory in each hierarchy the
// machine accounts CPU time and memory in (one under cgroup v2; cpuacct
// and memory under v1).
type Group struct {
	Lab, Node string
	mech      string
	cpu       hierarchy
	mem       *hierarchy
}

// validName refuses names that are not one directory.
func validName(what, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid %s name %q for a cgroup", what, s)
	}
	return nil
}

// Create makes the group of a lab's node, <root>/tbctl/<lab>/<node>, in
// every hierarchy it needs; an existing group is reused. Under cgroup v2 it
// first enables the cpu and memory controllers for the children of the
// root, of tbctl and of tbctl/<lab>, which hold no processes of their own.
func Create(lab, node string) (*Group, error) {
	if err := validName("lab", lab); err != nil {
		return nil, err
	}
	if err := validName("node", node); err != nil {
		return nil, err
	}
	l, err := detect()
	if err != nil {
		return nil, err
	}
	g := &Group{Lab: lab, Node: node, mech: l.mech, cpu: l.cpu, mem: l.mem}
	for _, h := range l.hierarchies() {
		// A RemoveLab of another lab may remove tbctl/ between the mkdirs:
		// then the next one fails with ENOENT, and the path is made again.
		for attempt := 0; ; attempt++ {
			err = makePath(h, lab, node)
			if err == nil || !errors.Is(err, os.ErrNotExist) || attempt == 3 {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("create cgroup of node %s of lab %s: %w", node, lab, err)
		}
	}
	return g, nil
}

// makePath makes tbctl/<lab>/<node> below a hierarchy's root.
func makePath(h hierarchy, lab, node string) error {
	dir := h.root
	for _, name := range []string{Parent, lab, node} {
		if h.version == 2 {
			if err := enableControllers(dir, "cpu", "memory"); err != nil {
				return err
			}
		}
		dir = filepath.Join(dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return err
			}
			if fi, err := os.Stat(dir); err != nil {
				return err
			} else if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a cgroup", dir)
			}
		}
	}
	return nil
}

// enableControllers makes controllers available to the children of a
// cgroup v2 group, writing only those not yet enabled.
func enableControllers(dir string, names ...string) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(data))
	var add []string
	for _, n := range names {
		if !has(on, n) {
			add = append(add, "+"+n)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0o644); err != nil {
		// EBUSY: the group holds processes itself, which cgroup v2 forbids
		// for a group whose children have controllers.
		return fmt.Errorf("enable %s in %s: %w", strings.Join(add, " "), dir, err)
	}
	return nil
}

// Mechanism is "cgroup2" or "cgroup1".
func (g *Group) Mechanism() string { return g.mech }

// Dirs returns the group's directories, one per hierarchy (one under
// cgroup v2, cpuacct's and memory's under v1). Writing a process ID to
// cgroup.procs in each is what Add does; a launcher can do it for itself
// before it executes a role, so that nothing the role allocates is
// charged elsewhere. Under cgroup v2 a directory can also be opened and
// passed to exec.Cmd as SysProcAttr.CgroupFD (with UseCgroupFD) to start
// a process in the group.
func (g *Group) Dirs() []string {
	var out []string
	for _, h := range g.hierarchies() {
		out = append(out, g.dir(h))
	}
	return out
}

func (g *Group) hierarchies() []hierarchy {
	return layout{cpu: g.cpu, mem: g.mem}.hierarchies()
}

func (g *Group) dir(h hierarchy) string {
	return filepath.Join(h.root, Parent, g.Lab, g.Node)
}

// Add moves a process, with all its threads, into the group. Its children
// started afterwards are in the group too; those it started before are
// not. Memory it allocated before stays charged where it was.
func (g *Group) Add(pid int) error {
	b := []byte(strconv.Itoa(pid))
	for _, h := range g.hierarchies() {
		if err := writeFile(filepath.Join(g.dir(h), "cgroup.procs"), b); err != nil {
			return fmt.Errorf("add process %d to cgroup %s: %w", pid, g.dir(h), err)
		}
	}
	return nil
}

// Pids lists the processes in the group (from the CPU hierarchy).
func (g *Group) Pids() ([]int, error) {
	return readPids(filepath.Join(g.dir(g.cpu), "cgroup.procs"))
}

// Remove moves the processes still in the group to the root of each
// hierarchy and removes the group, subgroups first, then tbctl/<lab> and
// tbctl if they are left empty. A group already gone is not an error.
func (g *Group) Remove() error {
	var errs []error
	for _, h := range g.hierarchies() {
		if err := removeTree(h, g.dir(h)); err != nil {
			errs = append(errs, err)
			continue
		}
		removeIfEmpty(filepath.Join(h.root, Parent, g.Lab))
		removeIfEmpty(filepath.Join(h.root, Parent))
	}
	return errors.Join(errs...)
}

// RemoveLab removes the groups of every node of a lab, as Remove does,
// and tbctl/<lab> itself: for destroy, after a crash too.
func RemoveLab(lab string) error {
	if err := validName("lab", lab); err != nil {
		return err
	}
	l, err := detect()
	if errors.Is(err, ErrUnavailable) {
		return nil // no group can have been made from here
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range l.hierarchies() {
		if err := removeTree(h, filepath.Join(h.root, Parent, lab)); err != nil {
			errs = append(errs, err)
			continue
		}
		removeIfEmpty(filepath.Join(h.root, Parent))
	}
	return errors.Join(errs...)
}

// removeIfEmpty removes a group that has no children and no processes
// (and does nothing otherwise: rmdir refuses).
func removeIfEmpty(dir string) { _ = unix.Rmdir(dir) }

// removeTree removes a group and its subgroups, depth first, moving their
// processes to the root of the hierarchy. The kernel may take a moment to
// see a group empty after its last process has exited or been moved.
func removeTree(h hierarchy, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(h, filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	rootProcs := filepath.Join(h.root, "cgroup.procs")
	var moveErr error
	for attempt := 0; ; attempt++ {
		pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		for _, pid := range pids {
			err := writeFile(rootProcs, []byte(strconv.Itoa(pid)))
			if err != nil && !errors.Is(err, unix.ESRCH) {
				moveErr = fmt.Errorf("move process %d out of %s: %w", pid, dir, err)
			}
		}
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || attempt == 100 {
			return errors.Join(fmt.Errorf("remove cgroup %s: %w", dir, err), moveErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readPids reads a cgroup.procs file.
func readPids(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range bytes.Fields(data) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// writeFile writes to an existing cgroup interface file in one write, as
// the kernel wants.
func writeFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
