package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/provider/clab"
)

// needContainerlab skips unless the containerlab provider can run here:
// root, a Docker engine and the containerlab command (make containerlab).
func needContainerlab(t *testing.T) {
	t.Helper()
	needRoot(t)
	if err := (&clab.Provider{}).Preflight(context.Background(), nil); err != nil {
		t.Skipf("containerlab provider unavailable: %v", err)
	}
}

// requireNoContainers checks that a lab left no container, Docker network
// or pinned namespace behind.
func requireNoContainers(t *testing.T, labName string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=containerlab=tb-"+labName, "--format", "{{.Names}}").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "containers left behind")
	out, err = exec.Command("docker", "network", "ls", "--filter", "name=tb-"+labName+"-mgmt", "--format", "{{.Name}}").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "management network left behind")
	requireNoTrace(t, labName)
}

// The quickstart on the containerlab provider: every expectation holds, the
// run directory has the layout it has on netns, and the manifest says how
// the labs were made.
func TestQuickstartOnContainerlab(t *testing.T) {
	needContainerlab(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/quickstart.yaml", "--provider", "containerlab", "--out", out, "--quiet")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "quickstart")
	var m struct {
		Provider   string
		Mechanisms map[string]string
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	require.Equal(t, "containerlab", m.Provider)
	require.Equal(t, "0.60.0", m.Mechanisms["containerlab"])
	require.Contains(t, m.Mechanisms["node image"], "tbctl-node:")
	require.Contains(t, m.Mechanisms["node image"], "sha256:")
	var idx struct{ Runs []struct{ Dir string } }
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	require.Len(t, idx.Runs, 4)
	for _, r := range idx.Runs {
		for _, f := range []string{"topology.yaml", "experiment.yaml", "events.jsonl", "summary.json", "metrics.jsonl", "roles/flow1/series.jsonl", "roles/probe/summary.json"} {
			require.FileExists(t, filepath.Join(dir, r.Dir, f))
		}
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		requireNoContainers(t, s.Lab)
	}
	requireManifestMatches(t, dir)
	require.FileExists(t, filepath.Join(dir, "report", "report.html"))
}

// A fault is applied inside a container's network namespace by the same
// engine, verified, and reverted by destroy; a netns lab beside it is left
// alone.
func TestFaultInsideAContainer(t *testing.T) {
	needContainerlab(t)
	const lab = "it-clab-fault"
	_, errOut, code := cli(t, "", nil, "deploy", "../../topologies/demo.yaml", "--provider", "containerlab", "--name", lab, "--quiet")
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { cli(t, "", nil, "destroy", lab) })
	ping := func() bool {
		_, _, code := cli(t, "", nil, "exec", lab, "h1", "--", "ping", "-c", "1", "-W", "1", "-q", "198.18.1.1")
		return code == 0
	}
	require.True(t, ping(), "h1 reaches h3 through the containers")
	// A netns lab of the same topology runs beside it, untouched by it.
	const side = "it-clab-side"
	_, errOut, code = cli(t, "", nil, "deploy", "../../topologies/demo.yaml", "--provider", "netns", "--name", side, "--quiet")
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { cli(t, "", nil, "destroy", side) })
	sidePing := func() bool {
		_, _, code := cli(t, "", nil, "exec", side, "h1", "--", "ping", "-c", "1", "-W", "1", "-q", "198.18.1.1")
		return code == 0
	}
	out, errOut, code := cli(t, "", nil, "fault", "inject", lab, "net.partition", "h1|h3")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "verified true")
	require.False(t, ping(), "the partition holds")
	require.True(t, sidePing(), "the fault stays in its lab")
	_, errOut, code = cli(t, "", nil, "destroy", lab)
	require.Equal(t, 0, code, errOut)
	requireNoContainers(t, lab)
	require.True(t, sidePing(), "the netns lab outlives the containerlab one")
	_, errOut, code = cli(t, "", nil, "destroy", side)
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, side)
}

// SIGKILL during a containerlab deploy, then destroy: no container, network
// or namespace is left.
func TestContainerlabSIGKILLDuringDeployThenDestroy(t *testing.T) {
	needContainerlab(t)
	const lab = "it-clab-kill"
	file := writeFile(t, "chain.yaml", chain(lab, 8))
	containers := func() int {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=containerlab=tb-"+lab).Output()
		return len(strings.Fields(string(out)))
	}
	// Kill points: as containerlab starts making containers, and once
	// most of them are made (before tbctl pins and configures them).
	for _, want := range []int{1, 6} {
		cmd := exec.Command(tbctlBin(t), "deploy", file, "--provider", "containerlab", "--quiet")
		require.NoError(t, cmd.Start())
		reached := waitFor(t, 30*time.Second, func() bool { return containers() >= want })
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		require.True(t, reached, "the deploy made %d containers", want)
		t.Logf("killed with %d containers made", containers())
		_, errOut, code := cli(t, "", nil, "destroy", lab)
		require.Equal(t, 0, code, errOut)
		requireNoContainers(t, lab)
		// containerlab died with tbctl: nothing comes back afterwards.
		time.Sleep(2 * time.Second)
		require.Zero(t, containers(), "containers made after destroy")
	}
}

// What a provider cannot do is refused before anything is made, with the
// place in the file.
func TestContainerlabRefusals(t *testing.T) {
	needContainerlab(t)
	missing := filepath.Join(t.TempDir(), "nope")
	bad := writeFile(t, "binds.yaml", "name: it-clab-bad\ntopology:\n  nodes:\n    a: {kind: linux, binds: [\""+missing+":/data\"]}\n    b: {kind: linux}\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n")
	for _, prov := range []string{"containerlab", "netns"} {
		_, errOut, code := cli(t, "", nil, "deploy", bad, "--provider", prov, "--quiet")
		require.Equal(t, 1, code, "%s: %s", prov, errOut)
		require.Contains(t, errOut, "binds.yaml:4:5: node a: binds: host path "+missing+" does not exist", prov)
		requireNoContainers(t, "it-clab-bad")
	}
	dummy := writeFile(t, "dummy.yaml", "name: it-clab-dummy\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - type: dummy\n      endpoint: {node: a, interface: d0}\n")
	_, errOut, code := cli(t, "", nil, "deploy", dummy, "--provider", "containerlab", "--quiet")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, `link type "dummy" is not supported by the containerlab provider`)
	requireNoContainers(t, "it-clab-dummy")

	srl := writeFile(t, "srl.yaml", "name: it-clab-srl\ntopology:\n  nodes:\n    r1: {kind: nokia_srlinux}\n    h1: {kind: linux}\n  links:\n    - endpoints: [\"r1:e1-1\", \"h1:eth1\"]\n")
	_, errOut, code = cli(t, "", nil, "deploy", srl, "--provider", "containerlab", "--quiet")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "srl.yaml:4:5: node r1: kind nokia_srlinux runs from its own image: set image")
	requireNoContainers(t, "it-clab-srl")

	// No containerlab: one line that says what to do, exit status 2.
	_, errOut, code = cli(t, "", []string{"TBCTL_CONTAINERLAB=/nonexistent/containerlab"}, "deploy", "../../topologies/demo.yaml", "--provider", "containerlab", "--name", "it-clab-none")
	require.Equal(t, 2, code, errOut)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
	require.Contains(t, errOut, "TBCTL_CONTAINERLAB")
	requireNoContainers(t, "it-clab-none")
}

// chain is a topology of n linux nodes in a line.
func chain(name string, n int) string {
	var b strings.Builder
	b.WriteString("name: " + name + "\naddressing: {}\ntopology:\n  nodes:\n")
	for i := 1; i <= n; i++ {
		b.WriteString("    n" + strconv.Itoa(i) + ": {kind: linux}\n")
	}
	b.WriteString("  links:\n")
	for i := 1; i < n; i++ {
		b.WriteString("    - endpoints: [\"n" + strconv.Itoa(i) + ":eth2\", \"n" + strconv.Itoa(i+1) + ":eth1\"]\n")
	}
	return b.String()
}

// Roles start inside the containers: a role the lab's supervisor keeps
// running shares its container's PID namespace, so the container's end
// ends it.
func TestRolesRunInsideContainers(t *testing.T) {
	needContainerlab(t)
	const lab = "it-clab-roles"
	file := writeFile(t, "roles.yaml", `name: it-clab-roles
addressing: {}
topology:
  nodes:
    a: {kind: linux}
    b:
      kind: linux
      roles:
        clabsink: {role: traffic, params: {mode: server}}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
`)
	_, errOut, code := cli(t, "", nil, "deploy", file, "--provider", "containerlab", "--quiet")
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { cli(t, "", nil, "destroy", lab) })
	var pid int
	require.True(t, waitFor(t, 10*time.Second, func() bool { pid = roleProcess("clabsink"); return pid > 0 }), "the supervised role runs")
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Pid}}", "clab-tb-"+lab+"-b").Output()
	require.NoError(t, err)
	init := strings.TrimSpace(string(out))
	for _, ns := range []string{"pid", "net", "uts"} {
		role, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		require.NoError(t, err)
		container, err := os.Readlink("/proc/" + init + "/ns/" + ns)
		require.NoError(t, err)
		require.Equal(t, container, role, "the role is in the container's %s namespace", ns)
	}
	// Stopping the container ends the role with it.
	require.NoError(t, exec.Command("docker", "kill", "clab-tb-"+lab+"-b").Run())
	require.True(t, waitFor(t, 5*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }), "the role ended with its container")
	_, errOut, code = cli(t, "", nil, "destroy", lab)
	require.Equal(t, 0, code, errOut)
	requireNoContainers(t, lab)
}
