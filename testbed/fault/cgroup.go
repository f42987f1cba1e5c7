package fault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuCgroup is where CPU limits are set on this machine: cgroup v2's
// cpu.max, or cgroup v1's CFS quota, whichever the kernel offers.
type cpuCgroup struct {
	Version int    `json:"version"` // 1 or 2
	Root    string `json:"root"`    // mount point of the hierarchy with the cpu controller
}

func findCPUCgroup() (cpuCgroup, error) {
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(" "+string(data)+" ", " cpu ") {
		return cpuCgroup{Version: 2, Root: "/sys/fs/cgroup"}, nil
	}
	for _, root := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"} {
		if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err == nil {
			return cpuCgroup{Version: 1, Root: root}, nil
		}
	}
	return cpuCgroup{}, errors.New("no cgroup with the cpu controller (cgroup v2 cpu.max or v1 cpu.cfs_quota_us) is mounted")
}

func (c cpuCgroup) mechanism() string {
	if c.Version == 2 {
		return "cgroup v2 cpu.max"
	}
	return "cgroup v1 cpu.cfs_quota_us"
}

// limit creates group dir with a CPU quota of share percent of one CPU.
func (c cpuCgroup) limit(dir string, share float64) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	const period = 100000 // µs
	quota := int(share / 100 * period)
	if c.Version == 2 {
		return os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, period)), 0o644)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644)
}

// quota reads back a group's quota as a percentage of one CPU.
func (c cpuCgroup) quota(dir string) (float64, error) {
	if c.Version == 2 {
		data, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(data))
		q, _ := strconv.ParseFloat(f[0], 64)
		p, _ := strconv.ParseFloat(f[1], 64)
		return 100 * q / p, nil
	}
	q, err := readNumber(filepath.Join(dir, "cpu.cfs_quota_us"))
	if err != nil {
		return 0, err
	}
	p, err := readNumber(filepath.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return 0, err
	}
	return 100 * q / p, nil
}

func readNumber(path string) (float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
}

// groupOf returns the group (relative to the hierarchy's root) a process
// is in for the cpu controller.
func (c cpuCgroup) groupOf(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if c.Version == 2 && parts[0] == "0" {
			return parts[2]
		}
		if c.Version == 1 && containsWord(parts[1], "cpu") {
			return parts[2]
		}
	}
	return "/"
}

func containsWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// move puts a process into a group.
func move(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// cgMember is a process and the group it came from.
type cgMember struct {
	proc
	From string `json:"from"`
}

// undoStraggler moves the processes back and removes the group.
func undoStraggler(c cpuCgroup, dir string, members []cgMember) error {
	var errs []error
	for _, m := range members {
		if startTime(m.PID) != m.Start {
			continue
		}
		if err := move(filepath.Join(c.Root, m.From), m.PID); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("move %d back: %w", m.PID, err))
		}
	}
	// The kernel may take a moment to see the group empty.
	for i := 0; i < 50; i++ {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return errors.Join(errs...)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Join(append(errs, fmt.Errorf("remove cgroup %s: still busy", dir))...)
}
