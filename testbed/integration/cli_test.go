package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/gen"
)

// cli runs the tbctl binary and returns stdout, stderr and the exit status.
func cli(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(tbctlBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

func TestCLIExecPassesStdioAndStatus(t *testing.T) {
	needRoot(t)
	deploy(t, "../../topologies/demo.yaml", "it-exec")
	out, _, code := cli(t, "through stdin\n", nil, "exec", "it-exec", "h1", "--", "cat")
	require.Equal(t, 0, code)
	require.Equal(t, "through stdin\n", out)

	_, errOut, code := cli(t, "", nil, "exec", "it-exec", "h1", "--", "sh", "-c", "echo oops >&2; exit 7")
	require.Equal(t, 7, code)
	require.Equal(t, "oops\n", errOut)

	_, _, code = cli(t, "", nil, "exec", "it-exec", "h1", "--", "sh", "-c", "kill -9 $$")
	require.Equal(t, 128+9, code, "a command ended by a signal reports 128+N, as shells do")

	out, _, code = cli(t, "", nil, "exec", "it-exec", "h1", "--", "ip", "-br", "link")
	require.Equal(t, 0, code)
	require.Contains(t, out, "eth1")
	require.NotContains(t, out, "tbm-", "the command runs in the node's namespace, not the host's")

	_, errOut, code = cli(t, "", nil, "exec", "it-exec", "nosuch", "--", "true")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `no node "nosuch"`)
}

func TestCLIInspectJSONAndTable(t *testing.T) {
	needRoot(t)
	deploy(t, "../../topologies/demo.yaml", "it-inspect")
	out, _, code := cli(t, "", nil, "inspect", "it-inspect", "--format", "json")
	require.Equal(t, 0, code)
	for _, want := range []string{`"namespace": "tb-it-inspect-h1"`, `"mgmtIPv4"`, `"peer": "s1:p1"`, `"addresses"`, `"links"`} {
		require.Contains(t, out, want)
	}
	out, _, code = cli(t, "", nil, "inspect", "it-inspect")
	require.Equal(t, 0, code)
	require.Contains(t, out, "tb-it-inspect-r1")
	out, _, code = cli(t, "", nil, "inspect")
	require.Equal(t, 0, code)
	require.Contains(t, out, "it-inspect")
}

func TestCLIExitStatuses(t *testing.T) {
	_, errOut, code := cli(t, "", nil, "validate", "../topo/testdata/does-not-exist.yaml")
	require.Equal(t, 1, code, errOut)

	bad := writeFile(t, "bad.yaml", "name: x\ntopology:\n  nodes:\n    a: {kind: linux, imgae: alpine}\n")
	_, errOut, code = cli(t, "", nil, "validate", bad)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "bad.yaml:4:")
	require.Contains(t, errOut, `"image"`)

	// An experiment file is checked as an experiment, all its problems at once.
	out, errOut, code := cli(t, "", nil, "validate", "../../experiments/quickstart.yaml", "../../topologies/demo.yaml")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "quickstart.yaml: ok (experiment, 4 runs)")
	require.Contains(t, out, "demo.yaml: ok (lab demo")
	badExp := writeFile(t, "bad-exp.yaml", "name: x\nclaim: c\nduration: 1\ntopology: {file: demo.yaml}\nroles:\n  a: {role: trafic, node: h1}\n")
	_, errOut, code = cli(t, "", nil, "validate", badExp)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "bad-exp.yaml:3:11: duration: 1 has no unit")
	demo, _ := filepath.Abs("../../topologies/demo.yaml")
	badRole := writeFile(t, "bad-role.yaml", "name: x\nclaim: c\nduration: 1s\ntopology: {file: "+demo+"}\nroles:\n  a: {role: trafic, node: h1}\n")
	_, errOut, code = cli(t, "", nil, "validate", badRole)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `"trafic"`)

	needRoot(t)
	_, errOut, code = cli(t, "", []string{"TBCTL_CNI_PATH=/nonexistent"}, "deploy", "../../topologies/demo.yaml", "--name", "it-nocni")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "containernetworking-plugins")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
	requireNoTrace(t, "it-nocni")

	_, _, code = cli(t, "", nil, "destroy", "it-never-deployed")
	require.Equal(t, 0, code, "destroy is idempotent")
}

// SIGKILL in the middle of a 200-node deploy, then destroy: nothing is left.
func TestSIGKILLDuringDeployThenDestroyLeavesNothing(t *testing.T) {
	needRoot(t)
	f, err := gen.Generate("linear", gen.Params{Name: "it-kill", Hosts: 100, Mgmt: true})
	require.NoError(t, err)
	f.Topology.Nodes["h1"] = withCmd(f.Topology.Nodes["h1"], "sleep "+processMarker)
	data, err := gen.Marshal(f)
	require.NoError(t, err)
	file := writeFile(t, "kill.yaml", string(data))

	// Kill points: early and midway through the namespaces, then while the
	// management network is attached, then about when links are made.
	stages := []struct {
		namespaces int
		after      time.Duration
	}{{1, 0}, {120, 0}, {200, 100 * time.Millisecond}, {200, 500 * time.Millisecond}}
	for _, stage := range stages {
		cmd := exec.Command(tbctlBin(t), "deploy", file, "--quiet")
		require.NoError(t, cmd.Start())
		reached := waitFor(t, 20*time.Second, func() bool { return countNamespaces("tb-it-kill-") >= stage.namespaces })
		time.Sleep(stage.after)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		require.True(t, reached, "deploy reached %d namespaces", stage.namespaces)
		t.Logf("killed with %d namespaces and %d management ports made", countNamespaces("tb-it-kill-"), mgmtPorts("it-kill"))

		_, errOut, code := cli(t, "", nil, "destroy", "it-kill")
		require.Equal(t, 0, code, errOut)
		requireNoTrace(t, "it-kill")
		_, _, code = cli(t, "", nil, "destroy", "it-kill")
		require.Equal(t, 0, code, "destroy again is harmless")
	}

	// A completed deploy leaves a running lab with a process inside;
	// destroy --all removes it too. It would remove every lab on the
	// machine, so it runs only when no other lab is there.
	if others, _ := testbed.Labs(context.Background(), true); len(others) > 0 {
		t.Skipf("destroy --all not tried: other labs are deployed (%v)", others)
	}
	_, errOut, code := cli(t, "", nil, "deploy", file, "--quiet")
	require.Equal(t, 0, code, errOut)
	require.NotEmpty(t, markedProcesses(), "the node's cmd is running")
	_, errOut, code = cli(t, "", nil, "destroy", "--all")
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, "it-kill")
}

// An interrupted deploy removes what it made by itself.
func TestInterruptedDeployCleansUp(t *testing.T) {
	needRoot(t)
	f, err := gen.Generate("linear", gen.Params{Name: "it-int", Hosts: 100, Mgmt: true})
	require.NoError(t, err)
	data, err := gen.Marshal(f)
	require.NoError(t, err)
	file := writeFile(t, "int.yaml", string(data))
	cmd := exec.Command(tbctlBin(t), "deploy", file, "--quiet")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	require.True(t, waitFor(t, 20*time.Second, func() bool { return countNamespaces("tb-it-int-") >= 50 }))
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	require.Error(t, err, "an interrupted deploy fails")
	require.Contains(t, errb.String(), "everything created was removed")
	requireNoTrace(t, "it-int")
}

// Without root the environment is what is missing: exit 2, one line.
func TestWithoutRootExitStatusIsTwo(t *testing.T) {
	needRoot(t) // to switch to an unprivileged user
	bin := tbctlBin(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	dir, err := os.MkdirTemp("", "tbctl-noroot")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	copyBin := filepath.Join(dir, "tbctl")
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copyBin, data, 0o755))
	topoData, err := os.ReadFile("../../topologies/demo.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "demo.yaml"), topoData, 0o644))
	require.NoError(t, os.Chmod(dir, 0o755))

	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copyBin, "deploy", filepath.Join(dir, "demo.yaml"), "--name", "it-noroot")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	require.True(t, ok, "%v: %s", err, out)
	require.Equal(t, 2, ee.ExitCode(), string(out))
	require.Contains(t, string(out), "root")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %q", out)
}

func TestCLIVersionHasRevision(t *testing.T) {
	out, _, code := cli(t, "", nil, "version")
	require.Equal(t, 0, code)
	require.Regexp(t, `^tbctl \S+ \(revision [0-9a-f]{40}(\+dirty)?, `, out)
}

func TestCLIDeployJSONAndHostNode(t *testing.T) {
	needRoot(t)
	suffix := fmt.Sprintf("%d", os.Getpid()%10000)
	file := writeFile(t, "hostnode.yaml", fmt.Sprintf(`name: it-hostnode
mgmt: {disabled: true}
topology:
  nodes:
    a: {kind: linux, interfaces: {eth1: {ipv4: [198.18.8.1/30]}}}
    root: {kind: host, interfaces: {tbr%s: {ipv4: [198.18.8.2/30]}}}
  links:
    - endpoints: ["a:eth1", "root:tbr%s"]
`, suffix, suffix))
	out, errOut, code := cli(t, "", nil, "deploy", file, "--format", "json")
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() {
		_, _, code := cli(t, "", nil, "destroy", "it-hostnode")
		require.Equal(t, 0, code)
		requireNoTrace(t, "it-hostnode")
	})
	require.Contains(t, out, `"name": "it-hostnode"`)
	require.Contains(t, out, `"tbr`+suffix+`"`, "the host node's interface is shown")
	require.Empty(t, errOut, "--format json prints no progress")
	pingOut, err := exec.Command("ping", "-c", "1", "-W", "2", "198.18.8.1").CombinedOutput()
	require.NoError(t, err, "the host reaches the node over the host-node link: %s", pingOut)
}

func withCmd(n topo.NodeDef, cmd string) topo.NodeDef {
	n.Cmd = cmd
	return n
}

// mgmtPorts counts the ports of a lab's management bridge, from sysfs.
func mgmtPorts(labName string) int {
	bridges, _ := filepath.Glob("/sys/class/net/tbm-*")
	for _, br := range bridges {
		alias, _ := os.ReadFile(filepath.Join(br, "ifalias"))
		if strings.TrimSpace(string(alias)) == "tbctl:"+labName {
			ports, _ := os.ReadDir(filepath.Join(br, "brif"))
			return len(ports)
		}
	}
	return 0
}

func countNamespaces(prefix string) int {
	entries, _ := os.ReadDir(netns.NetnsDir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			n++
		}
	}
	return n
}
