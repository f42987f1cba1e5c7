package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
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
	f, err := gen.Generate("linear", gen.Params{Name: "it-kill", Hosts: 100})
	require.NoError(t, err)
	f.Topology.Nodes["h1"] = withCmd(f.Topology.Nodes["h1"], "sleep 600")
	data, err := gen.Marshal(f)
	require.NoError(t, err)
	file := writeFile(t, "kill.yaml", string(data))

	for _, stage := range []int{1, 120, 199} { // namespaces made before the kill
		cmd := exec.Command(tbctlBin(t), "deploy", file, "--quiet")
		require.NoError(t, cmd.Start())
		reached := waitFor(t, 20*time.Second, func() bool { return countNamespaces("tb-it-kill-") >= stage })
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		require.True(t, reached, "deploy reached %d namespaces", stage)
		t.Logf("killed with %d namespaces made", countNamespaces("tb-it-kill-"))

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
	_, errOut, code = cli(t, "", nil, "destroy", "--all")
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, "it-kill")
}

func withCmd(n topo.NodeDef, cmd string) topo.NodeDef {
	n.Cmd = cmd
	return n
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
