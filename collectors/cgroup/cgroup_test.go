package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors"
)

// mountinfoLine is a cgroup line of /proc/self/mountinfo.
func mountinfoLine(id int, point, fstype, opts string) string {
	return fmt.Sprintf("%d 31 0:%d / %s rw,relatime - %s %s %s\n", id, id, strings.ReplaceAll(point, " ", `\040`), fstype, fstype, opts)
}

func TestChooseLayout(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, controllers string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(p, 0o755))
		if controllers != "-" {
			require.NoError(t, os.WriteFile(filepath.Join(p, "cgroup.controllers"), []byte(controllers+"\n"), 0o644))
		}
		return p
	}
	unified := mk("hybrid/unified dir", "hugetlb")
	cpu, cpuacct, memory := mk("hybrid/cpu", "-"), mk("hybrid/cpuacct", "-"), mk("hybrid/memory", "-")
	v2 := mk("v2", "cpuset cpu io memory hugetlb pids rdma misc")
	both := mk("comounted/cpu,cpuacct", "-")

	parse := func(s string) []mount {
		m, err := parseMountinfo(strings.NewReader(s))
		require.NoError(t, err)
		return m
	}
	other := "23 1 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"

	// systemd's hybrid mode, as on the machine this was written on: v1
	// cpu and cpuacct apart, and a cgroup2 without cpu or memory.
	hybrid := other + mountinfoLine(32, cpu, "cgroup", "rw,cpu") + mountinfoLine(33, cpuacct, "cgroup", "rw,cpuacct") +
		mountinfoLine(35, memory, "cgroup", "rw,memory") + mountinfoLine(41, unified, "cgroup2", "rw")
	ms := parse(hybrid)
	require.Len(t, ms, 4)
	require.Equal(t, unified, ms[3].point, "octal escapes undone")
	l, err := chooseLayout(ms)
	require.NoError(t, err)
	require.Equal(t, V1, l.mech)
	require.Equal(t, hierarchy{version: 1, root: cpuacct}, l.cpu)
	require.Equal(t, &hierarchy{version: 1, root: memory}, l.mem)
	require.Len(t, l.hierarchies(), 2)

	// Pure cgroup v2, listed after a v1 hierarchy: v2 wins.
	l, err = chooseLayout(parse(mountinfoLine(40, both, "cgroup", "rw,cpu,cpuacct") + mountinfoLine(41, v2, "cgroup2", "rw,nsdelegate")))
	require.NoError(t, err)
	require.Equal(t, V2, l.mech)
	require.Equal(t, hierarchy{version: 2, root: v2, shared: true}, l.cpu)
	require.Len(t, l.hierarchies(), 1)

	// v1 with cpu and cpuacct together, no memory.
	l, err = chooseLayout(parse(mountinfoLine(40, both, "cgroup", "rw,cpu,cpuacct") + mountinfoLine(41, unified, "cgroup2", "rw")))
	require.NoError(t, err)
	require.Equal(t, V1, l.mech)
	require.Equal(t, hierarchy{version: 1, root: both, shared: true}, l.cpu)
	require.Nil(t, l.mem)

	_, err = chooseLayout(parse(other + mountinfoLine(41, unified, "cgroup2", "rw")))
	require.ErrorContains(t, err, "hugetlb", "the error says what was found")
	_, err = chooseLayout(parse(other))
	require.Error(t, err)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// values indexes samples by node and metric.
func values(t *testing.T, samples []collectors.Sample) map[string]map[string]float64 {
	t.Helper()
	m := map[string]map[string]float64{}
	for _, s := range samples {
		require.Equal(t, "cgroup", s.Source)
		require.Empty(t, s.Object)
		if m[s.Node] == nil {
			m[s.Node] = map[string]float64{}
		}
		_, dup := m[s.Node][s.Metric]
		require.False(t, dup)
		m[s.Node][s.Metric] = s.Value
	}
	return m
}

// A fake cgroup v2 tree: the node's files, then a CPU cap of the fault
// engine holding the node's processes for a while.
func TestSamplerV2Straggler(t *testing.T) {
	root := t.TempDir()
	h := hierarchy{version: 2, root: root, shared: true}
	g := &Group{Lab: "lab-1", Node: "n1", mech: V2, cpu: h, mem: &h}
	other := &Group{Lab: "lab-1", Node: "n10", mech: V2, cpu: h, mem: &h}
	dir, otherDir := g.dir(h), other.dir(h)
	cpuStat := func(usec int) string {
		return fmt.Sprintf("usage_usec %d\nuser_usec 1\nsystem_usec 2\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", usec)
	}
	write(t, filepath.Join(dir, "cpu.stat"), cpuStat(1000))
	write(t, filepath.Join(dir, "memory.current"), "4096\n")
	write(t, filepath.Join(dir, "memory.max"), "max\n")
	write(t, filepath.Join(otherDir, "cpu.stat"), cpuStat(7))
	write(t, filepath.Join(otherDir, "memory.current"), "1\n")
	write(t, filepath.Join(otherDir, "memory.max"), "1048576\n")

	s, err := Open([]*Group{g, other})
	require.NoError(t, err)
	defer s.Close()
	sample := func() map[string]map[string]float64 {
		t.Helper()
		samples, err := s.Sample()
		require.NoError(t, err)
		return values(t, samples)
	}
	require.Equal(t, map[string]map[string]float64{
		"n1":  {"cpu_usage_ns": 1e6, "memory_bytes": 4096},
		"n10": {"cpu_usage_ns": 7000, "memory_bytes": 1, "memory_max_bytes": 1048576},
	}, sample())

	// Capped: the processes run in the cap group; n10's prefix is not n1's.
	capDir := filepath.Join(root, "tbctl-lab-1-n1-1700000000000000000")
	write(t, filepath.Join(capDir, "cpu.stat"), cpuStat(500))
	write(t, filepath.Join(capDir, "memory.current"), "100\n")
	write(t, filepath.Join(root, "tbctl-lab-1-n1-x", "cpu.stat"), cpuStat(1e9)) // not a cap group
	write(t, filepath.Join(dir, "cpu.stat"), cpuStat(1200))
	require.Equal(t, map[string]float64{"cpu_usage_ns": 1.7e6, "memory_bytes": 4196}, sample()["n1"])
	require.Equal(t, 7000.0, sample()["n10"]["cpu_usage_ns"])

	// The cap is undone: its time is carried on.
	write(t, filepath.Join(capDir, "cpu.stat"), cpuStat(800))
	require.Equal(t, 2e6, sample()["n1"]["cpu_usage_ns"])
	require.NoError(t, os.RemoveAll(capDir))
	write(t, filepath.Join(dir, "cpu.stat"), cpuStat(1300))
	require.Equal(t, map[string]float64{"cpu_usage_ns": 2.1e6, "memory_bytes": 4096}, sample()["n1"])

	// A group that is gone is an error naming the node; the others are
	// still read.
	require.NoError(t, os.Truncate(filepath.Join(otherDir, "cpu.stat"), 0))
	samples, err := s.Sample()
	require.ErrorContains(t, err, "node n10")
	require.Contains(t, values(t, samples), "n1")
}

func TestSamplerV1(t *testing.T) {
	acct, mem := t.TempDir(), t.TempDir()
	g := &Group{Lab: "l", Node: "n", mech: V1,
		cpu: hierarchy{version: 1, root: acct}, mem: &hierarchy{version: 1, root: mem}}
	write(t, filepath.Join(g.dir(g.cpu), "cpuacct.usage"), "123456789\n")
	write(t, filepath.Join(g.dir(*g.mem), "memory.usage_in_bytes"), "8192\n")
	write(t, filepath.Join(g.dir(*g.mem), "memory.limit_in_bytes"), "9223372036854771712\n")
	// Not read: the cpu hierarchy is not cpuacct's.
	write(t, filepath.Join(acct, "tbctl-l-n-1", "cpuacct.usage"), "1000\n")
	s, err := Open([]*Group{g})
	require.NoError(t, err)
	defer s.Close()
	samples, err := s.Sample()
	require.NoError(t, err)
	require.Equal(t, map[string]map[string]float64{"n": {"cpu_usage_ns": 123456789, "memory_bytes": 8192}}, values(t, samples))

	write(t, filepath.Join(g.dir(*g.mem), "memory.limit_in_bytes"), "268435456\n")
	samples, err = s.Sample()
	require.NoError(t, err)
	require.Equal(t, 268435456.0, values(t, samples)["n"]["memory_max_bytes"])
}

func TestParse(t *testing.T) {
	v, err := parseCPU([]byte("usage_usec 42\nuser_usec 40\n"), true)
	require.NoError(t, err)
	require.Equal(t, uint64(42000), v)
	_, err = parseCPU([]byte("user_usec 40\n"), true)
	require.Error(t, err)
	_, err = parseUint([]byte("12a\n"))
	require.Error(t, err)
	_, err = parseUint(nil)
	require.Error(t, err)
	require.Error(t, validName("node", "a/b"))
	require.Error(t, validName("lab", ".."))
	require.NoError(t, validName("node", "r1.east-2"))
}

// inGroup reports whether /proc/<pid>/cgroup puts the process in group
// path in every hierarchy of g.
func inGroup(t *testing.T, g *Group, pid int, path string) bool {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	for _, h := range g.hierarchies() {
		found := false
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			want := h.version == 2 && parts[0] == "0"
			if h == g.cpu && h.version == 1 {
				want = has(strings.Split(parts[1], ","), "cpuacct")
			}
			if g.mem != nil && h == *g.mem && h.version == 1 {
				want = has(strings.Split(parts[1], ","), "memory")
			}
			if want && parts[2] == path {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups")
	}
	mech, err := Mechanism()
	if err != nil {
		t.Skipf("no usable cgroup hierarchy: %v", err)
	}
	t.Logf("mechanism: %s", mech)
	lab := fmt.Sprintf("tbtest-cgroup-%d", os.Getpid())
	t.Cleanup(func() { _ = RemoveLab(lab) })

	g, err := Create(lab, "n1")
	require.NoError(t, err)
	require.Equal(t, mech, g.Mechanism())
	idle, err := Create(lab, "n2")
	require.NoError(t, err)
	for _, d := range append(g.Dirs(), idle.Dirs()...) {
		require.DirExists(t, d)
	}
	again, err := Create(lab, "n1")
	require.NoError(t, err, "an existing group is reused")
	require.Equal(t, g.Dirs(), again.Dirs())

	// A busy process, which starts a new program once in the group so
	// that its memory is charged there.
	cmd := exec.Command("sh", "-c", `read x; exec sh -c 'while :; do :; done'`)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	stop := time.AfterFunc(2*time.Second, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		stop.Stop()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.NoError(t, g.Add(pid))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.True(t, inGroup(t, g, pid, "/tbctl/"+lab+"/n1"))
	pids, err := g.Pids()
	require.NoError(t, err)
	require.Equal(t, []int{pid}, pids)

	s, err := Open([]*Group{g, idle})
	require.NoError(t, err)
	defer s.Close()
	samples, err := s.Sample()
	require.NoError(t, err)
	t0 := time.Now()
	first := values(t, samples)
	time.Sleep(300 * time.Millisecond)
	samples, err = s.Sample()
	require.NoError(t, err)
	wall := time.Since(t0)
	second := values(t, samples)
	t.Logf("%v then %v over %v", first, second, wall)

	used := time.Duration(second["n1"]["cpu_usage_ns"] - first["n1"]["cpu_usage_ns"])
	require.Greater(t, used, wall*3/10, "a busy process used most of a CPU")
	require.Less(t, used, wall*11/10+20*time.Millisecond, "one thread uses at most one CPU")
	require.Greater(t, second["n1"]["memory_bytes"], 0.0)
	require.Zero(t, second["n2"]["cpu_usage_ns"], "nothing runs in n2")
	require.Zero(t, second["n2"]["memory_bytes"])

	// Remove with the process still in the group: it goes to the root.
	require.NoError(t, g.Remove())
	for _, d := range g.Dirs() {
		require.NoDirExists(t, d)
	}
	require.True(t, inGroup(t, g, pid, "/"), "moved to the root")
	for _, d := range idle.Dirs() {
		require.DirExists(t, d, "the other node's group stays")
	}

	// RemoveLab removes the rest, processes or not.
	g3, err := Create(lab, "n3")
	require.NoError(t, err)
	require.NoError(t, g3.Add(pid))
	require.NoError(t, RemoveLab(lab))
	for _, d := range append(idle.Dirs(), g3.Dirs()...) {
		require.NoDirExists(t, filepath.Dir(d))
	}
	require.True(t, inGroup(t, g, pid, "/"), "moved to the root")
	require.NoError(t, RemoveLab(lab), "a lab already gone is not an error")
	require.NoError(t, g3.Remove(), "a group already gone is not an error")
}

// makePath on a fake cgroup v2 tree: the controllers are enabled where
// they are not yet, and only there.
func TestMakePathV2(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cgroup.subtree_control"), "cpuset cpu memory pids\n")
	write(t, filepath.Join(root, Parent, "cgroup.subtree_control"), "memory\n")
	write(t, filepath.Join(root, Parent, "lab", "cgroup.subtree_control"), "\n")
	require.NoError(t, makePath(hierarchy{version: 2, root: root, shared: true}, "lab", "n1"))
	read := func(p string) string {
		data, err := os.ReadFile(filepath.Join(root, p, "cgroup.subtree_control"))
		require.NoError(t, err)
		return string(data)
	}
	require.Equal(t, "cpuset cpu memory pids\n", read("."), "left alone")
	require.Equal(t, "+cpu", read(Parent))
	require.Equal(t, "+cpu +memory", read(filepath.Join(Parent, "lab")))
	require.DirExists(t, filepath.Join(root, Parent, "lab", "n1"))

	write(t, filepath.Join(root, Parent, "file"), "")
	require.ErrorContains(t, makePath(hierarchy{version: 1, root: root}, "file", "n1"), "not a cgroup")
}

// BenchmarkSample samples 20 node groups.
func BenchmarkSample(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates cgroups")
	}
	lab := fmt.Sprintf("tbbench-cgroup-%d", os.Getpid())
	defer RemoveLab(lab)
	var groups []*Group
	for i := range 20 {
		g, err := Create(lab, fmt.Sprintf("n%d", i))
		require.NoError(b, err)
		groups = append(groups, g)
	}
	s, err := Open(groups)
	require.NoError(b, err)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}
