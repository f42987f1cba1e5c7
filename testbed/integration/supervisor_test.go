package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/lab"
)

const supervisedLab = `name: it-sup
addressing: {}
topology:
  nodes:
    a:
      roles:
        flow: {role: traffic, params: {mode: tcp, target: b, duration: 1h}, after: [sink]}
    b:
      roles:
        sink: {role: traffic, params: {mode: server}}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
`

// Roles placed in a topology run after deploy returns, under the lab's
// supervisor, and none survive destroy.
func TestSupervisedRolesOutliveDeployNotDestroy(t *testing.T) {
	needRoot(t)
	file := writeFile(t, "sup.yaml", supervisedLab)
	_, errOut, code := cli(t, "", nil, "deploy", file, "--quiet")
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { cli(t, "", nil, "destroy", "it-sup") })

	require.NotZero(t, roleProcess("sink"), "the server runs after deploy returned")
	require.NotZero(t, roleProcess("flow"))
	insp, err := testbed.Inspect(context.Background(), "it-sup")
	require.NoError(t, err)
	require.Len(t, insp.Roles, 2)
	for _, r := range insp.Roles {
		require.Equal(t, "running", r.Status, r.Instance)
	}
	// The client reached the server.
	events := filepath.Join(lab.RunDir, "it-sup", "roles", "flow", "events.jsonl")
	require.True(t, waitFor(t, 5*time.Second, func() bool {
		data, _ := os.ReadFile(events)
		return strings.Contains(string(data), `"event":"connected"`)
	}))

	// The server's Prometheus endpoint answers on b's management address.
	var mgmtB string
	for _, n := range insp.Nodes {
		if n.Name == "b" {
			mgmtB = n.MgmtIPv4
		}
	}
	require.NotEmpty(t, mgmtB)
	direct := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := direct.Get("http://" + mgmtB + ":9100/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "traffic_bytes_total")

	_, errOut, code = cli(t, "", nil, "destroy", "it-sup")
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, "it-sup")
	require.Zero(t, roleProcess("sink"))
	require.Zero(t, roleProcess("flow"))
	require.False(t, supervisorRunning("it-sup"))
}

// A supervisor killed with SIGKILL leaves its roles running; destroy still
// ends them.
func TestDestroyAfterSupervisorKilled(t *testing.T) {
	needRoot(t)
	file := writeFile(t, "sup.yaml", supervisedLab)
	_, errOut, code := cli(t, "", nil, "deploy", file, "--quiet")
	require.Equal(t, 0, code, errOut)
	data, err := os.ReadFile(filepath.Join(lab.RunDir, "it-sup", "supervisor.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.True(t, waitFor(t, 5*time.Second, func() bool { return !supervisorRunning("it-sup") }))
	require.NotZero(t, roleProcess("sink"), "the roles outlive their supervisor")

	_, errOut, code = cli(t, "", nil, "destroy", "it-sup")
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, "it-sup")
	require.Zero(t, roleProcess("sink"))
	require.Zero(t, roleProcess("flow"))
}

// Bad role placements are refused before anything is created.
func TestBadRolePlacementChangesNothing(t *testing.T) {
	needRoot(t)
	file := writeFile(t, "bad.yaml", strings.Replace(supervisedLab, "mode: server", "mode: server, prot: 1", 1))
	_, errOut, code := cli(t, "", nil, "deploy", file)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "roles.sink.params.prot")
	requireNoTrace(t, "it-sup")
}

// supervisorRunning tells whether a live supervisor of the lab exists.
func supervisorRunning(labName string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), "lab\x00supervise\x00"+labName+"\x00") {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' {
			return true
		}
	}
	return false
}
