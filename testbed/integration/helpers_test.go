package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

// needRoot skips the test when labs cannot be made here.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run as root; CI does)")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skip("kernel has no network namespaces")
	}
	p := &netns.Provider{}
	if err := p.Preflight(context.Background(), nil); err != nil {
		t.Skipf("netns provider unavailable: %v", err)
	}
}

// tbctlBin returns the CLI binary, building it when TBCTL_BIN is unset.
func tbctlBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("TBCTL_BIN"); b != "" {
		return b
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tbctl-bin")
		if err != nil {
			binErr = err
			return
		}
		builtBin = filepath.Join(dir, "tbctl")
		out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", builtBin, "../../cmd/tbctl").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build tbctl: %v: %s", err, out)
		}
	})
	require.NoError(t, binErr)
	return builtBin
}

var (
	binOnce  sync.Once
	builtBin string
	binErr   error
)

type quiet struct{}

func (quiet) Start(string, int) {}
func (quiet) Add(int)           {}
func (quiet) End(error)         {}

// writeFile writes a topology into the test's temp dir.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

// generated writes a generated shape to a file.
func generated(t *testing.T, shape string, p gen.Params) string {
	t.Helper()
	f, err := gen.Generate(shape, p)
	require.NoError(t, err)
	data, err := gen.Marshal(f)
	require.NoError(t, err)
	return writeFile(t, shape+".yaml", string(data))
}

// deploy brings a lab up and registers its destruction and a leak check.
func deploy(t *testing.T, file, name string) *lab.Record {
	t.Helper()
	ctx := context.Background()
	rec, err := testbed.Deploy(ctx, testbed.DeployOptions{File: file, Name: name, Progress: quiet{}})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, testbed.Destroy(ctx, rec.Name))
		requireNoTrace(t, rec.Name)
	})
	return rec
}

// run executes argv in a node and returns its combined output and status.
func run(t *testing.T, labName, node string, argv ...string) (string, int) {
	t.Helper()
	var out strings.Builder
	code, err := testbed.Exec(context.Background(), labName, node, argv, provider.Stdio{Out: &out, Err: &out})
	require.NoError(t, err)
	return out.String(), code
}

// ping checks that src reaches addr.
func ping(t *testing.T, labName, src, addr string) {
	t.Helper()
	out, code := run(t, labName, src, "ping", "-c", "1", "-W", "2", "-q", addr)
	require.Equalf(t, 0, code, "ping %s -> %s: %s", src, addr, out)
}

// dataAddrs maps each linux node to its data-plane IPv4 addresses, read
// live through inspect.
func dataAddrs(t *testing.T, labName string) map[string][]string {
	t.Helper()
	insp, err := testbed.Inspect(context.Background(), labName)
	require.NoError(t, err)
	m := map[string][]string{}
	for _, n := range insp.Nodes {
		if n.Kind != "linux" {
			continue
		}
		for _, i := range n.Interfaces {
			if i.Name == "eth0" {
				continue
			}
			for _, a := range i.Addrs {
				m[n.Name] = append(m[n.Name], strings.Split(a, "/")[0])
			}
		}
	}
	return m
}

// pingAll checks that every host in hosts reaches every address of every
// other host, in parallel per source.
func pingAll(t *testing.T, labName string, hosts []string) {
	t.Helper()
	addrs := dataAddrs(t, labName)
	var wg sync.WaitGroup
	errs := make(chan string, len(hosts)*len(hosts))
	for _, src := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, dst := range hosts {
				if dst == src {
					continue
				}
				for _, a := range addrs[dst] {
					var out strings.Builder
					code, err := testbed.Exec(context.Background(), labName, src, []string{"ping", "-c", "1", "-W", "2", "-q", a}, provider.Stdio{Out: &out, Err: &out})
					if err != nil || code != 0 {
						errs <- fmt.Sprintf("%s -> %s (%s): %v %s", src, dst, a, err, out.String())
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var failed []string
	for e := range errs {
		failed = append(failed, e)
	}
	require.Empty(t, failed, "pings that failed")
}

// requireNoTrace checks that nothing of a lab is left: no namespace, no
// marked host interface, no management bridge, no mount, no lab directory,
// no address store.
func requireNoTrace(t *testing.T, labName string) {
	t.Helper()
	entries, _ := os.ReadDir(netns.NetnsDir)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), "tb-"+labName+"-"), "namespace %s left behind", e.Name())
	}
	links, err := netlink.LinkList()
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		links, err = netlink.LinkList()
	}
	require.NoError(t, err)
	for _, l := range links {
		require.NotEqual(t, "tbctl:"+labName, l.Attrs().Alias, "host interface %s left behind", l.Attrs().Name)
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer mounts.Close()
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 4 {
			require.False(t, strings.Contains(f[4], "/tb-"+labName+"-") || strings.HasPrefix(f[4], filepath.Join(lab.RunDir, labName)+"/") || f[4] == filepath.Join(lab.RunDir, labName),
				"mount %s left behind", f[4])
		}
	}
	_, err = os.Stat(filepath.Join(lab.RunDir, labName))
	require.True(t, os.IsNotExist(err), "lab directory left behind")
	for _, pid := range markedProcesses() {
		require.Fail(t, "process left behind", "pid %d runs %q", pid, processMarker)
	}
	entries, _ = os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "fault\x00relay\x00") && strings.Contains(string(cmdline), filepath.Join(lab.RunDir, labName)+"/") {
			require.Fail(t, "link emulator relay left behind", "pid %s", e.Name())
		}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// processMarker is an argument no other program uses: long-lived commands
// started by tests carry it, so leftovers can be found.
const processMarker = "600.4242"

// markedProcesses returns the processes whose command line carries
// processMarker.
func markedProcesses() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "sleep\x00"+processMarker) {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}
