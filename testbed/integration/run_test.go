package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runDir returns the single run directory under out/<experiment>/.
func runDir(t *testing.T, out, exp string) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(out, exp, "*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	return dirs[0]
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

type runSummary struct {
	Status    string
	Lab       string
	Error     string
	Instances []struct {
		Name, Status, Error string
		Summary             map[string]any
	}
	Expectations []struct {
		Expect string
		OK     bool
	}
}

// The quickstart as make demo runs it (it is short already: four runs of
// 6 s): every expectation holds, the run directory has its documented
// layout, and the manifest's hashes match. Shorter runs were tried: at 3 s
// slow start blurs the share that four streams take.
func TestQuickstart(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/quickstart.yaml", "--out", out)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "OK: run directory")
	dir := runDir(t, out, "quickstart")

	var idx struct {
		Status string
		Runs   []struct{ Label, Dir, Status string }
	}
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	require.Equal(t, "ok", idx.Status)
	require.Len(t, idx.Runs, 4, "2 x 2 sweep points, one repetition")
	for _, r := range idx.Runs {
		for _, f := range []string{"manifest.json", "index.json"} {
			require.FileExists(t, filepath.Join(dir, f))
		}
		for _, f := range []string{"topology.yaml", "experiment.yaml", "events.jsonl", "summary.json", "roles/flow1/summary.json", "roles/flow1/events.jsonl", "roles/flow1/stdout.log", "roles/sink3/stderr.log", "metrics.jsonl"} {
			require.FileExists(t, filepath.Join(dir, r.Dir, f))
		}
		var s runSummary
		readJSON(t, filepath.Join(dir, r.Dir, "summary.json"), &s)
		require.Equal(t, "ok", s.Status, r.Label)
		for _, e := range s.Expectations {
			require.True(t, e.OK, "%s: %s", r.Label, e.Expect)
		}
		requireNoTrace(t, s.Lab)
	}
	requireManifestMatches(t, dir)
	require.Contains(t, stdout, "report: "+filepath.Join(dir, "report", "report.html"))
	require.FileExists(t, filepath.Join(dir, "report", "compare-flow1-throughput_mbps.png"))

	// run → dataset → export: every run is in the tables.
	ds := filepath.Join(t.TempDir(), "ds")
	stdout, stderr, code = cli(t, "", nil, "dataset", "add", dir, "--to", ds)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	csvDir := filepath.Join(t.TempDir(), "csv")
	stdout, stderr, code = cli(t, "", nil, "dataset", "export", ds, "--format", "csv", "-o", csvDir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	runsCSV, err := os.ReadFile(filepath.Join(csvDir, "runs.csv"))
	require.NoError(t, err)
	require.Equal(t, 5, bytes.Count(runsCSV, []byte("\n")), "a header and four runs:\n%s", runsCSV)
	metricsCSV, err := os.ReadFile(filepath.Join(csvDir, "metrics.csv"))
	require.NoError(t, err)
	for _, source := range []string{",netdev,", ",cgroup,", ",prom,", ",role,"} {
		require.Contains(t, string(metricsCSV), source, "metrics of every default source and the roles' series")
	}
}

// requireManifestMatches recomputes the SHA-256 of every file of a run
// directory and compares it with the manifest, which must list them all.
func requireManifestMatches(t *testing.T, dir string) {
	t.Helper()
	var m struct {
		Status string
		Tool   struct{ Revision string }
		Host   struct{ Kernel string }
		Files  map[string]string
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	require.NotEmpty(t, m.Host.Kernel)
	seen := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join(dir, "report") {
			return filepath.SkipDir // derived from the rest, written after the manifest
		}
		if err != nil || d.IsDir() || filepath.Base(path) == "manifest.json" {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(sum[:]), m.Files[rel], "hash of %s", rel)
		seen++
		return nil
	}))
	require.Equal(t, len(m.Files), seen, "the manifest lists every file and no other")
}

// twoRoles is a small experiment: a traffic server and a client.
func twoRoles(t *testing.T, duration string) string {
	return writeFile(t, "exp.yaml", `name: it-two
claim: a client reaches a server
topology:
  inline:
    name: it-two
    addressing: {}
    topology:
      nodes: {a: {}, b: {}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}]
duration: `+duration+`
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
  flow: {role: traffic, node: a, after: [sink], params: {mode: tcp, target: b}}
`)
}

// roleProcess finds the process of a running role instance.
func roleProcess(instance string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(`"instance":"`+instance+`"`)) && bytes.Contains(cmdline, []byte("role\x00run")) {
			var pid int
			json.Unmarshal([]byte(e.Name()), &pid)
			return pid
		}
	}
	return 0
}

// A role killed mid-run: the run records it, fails, and still tears down.
func TestKilledRoleIsRecordedAndTornDown(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	cmd := exec.Command(tbctlBin(t), "run", twoRoles(t, "20s"), "--out", out, "--quiet")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	var pid int
	require.True(t, waitFor(t, 20*time.Second, func() bool { pid = roleProcess("sink"); return pid != 0 && roleProcess("flow") != 0 }))
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	err := cmd.Wait()
	require.Error(t, err, "the run fails")
	dir := runDir(t, out, "it-two")
	var s runSummary
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	require.Equal(t, "failed", s.Status)
	statuses := map[string]string{}
	for _, in := range s.Instances {
		statuses[in.Name] = in.Status
	}
	require.Equal(t, "killed", statuses["sink"], stdout.String())
	requireNoTrace(t, s.Lab)
	requireManifestMatches(t, dir)
}

// SIGINT during a run stops it cleanly: no namespace or process left, the
// run marked interrupted.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	cmd := exec.Command(tbctlBin(t), "run", twoRoles(t, "30s"), "--out", out, "--quiet")
	require.NoError(t, cmd.Start())
	require.True(t, waitFor(t, 20*time.Second, func() bool { return roleProcess("flow") != 0 }))
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 130, ee.ExitCode())
	dir := runDir(t, out, "it-two")
	var s runSummary
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	require.Equal(t, "interrupted", s.Status)
	requireNoTrace(t, s.Lab)
	require.Zero(t, roleProcess("flow"))
	require.Zero(t, roleProcess("sink"))
	var m struct{ Status string }
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	require.Equal(t, "interrupted", m.Status)
}

// Bad experiments are refused before anything is deployed, with positions.
func TestBadExperimentIsRefused(t *testing.T) {
	bad := writeFile(t, "bad.yaml", strings.Replace(`name: it-bad
claim: x
topology: {generate: {shape: single, hosts: 2}}
duration: 1s
roles:
  s: {role: traffic, node: h1, params: {mode: server, prot: 1}}
`, "", "", 1))
	_, errOut, code := cli(t, "", nil, "run", bad, "--dry-run")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "roles.s.params.prot")
	require.Contains(t, errOut, `"port"`)
}

// Faults declared in an experiment are applied in the measured window,
// shape what roles measure, are reverted, and are recorded as ground truth.
func TestExperimentFaultsAreAppliedRevertedAndRecorded(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	file := writeFile(t, "faults.yaml", `name: it-faults
claim: a rate limit on the path makes a faster UDP flow lose the excess
topology:
  inline:
    name: it-faults
    addressing: {}
    topology:
      nodes: {a: {}, b: {}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}]
duration: 4s
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
  flow: {role: traffic, node: a, after: [sink], params: {mode: udp, target: b, rate_mbps: 40}}
faults:
  - {code: net.rate, target: "a:eth1", params: {mbps: 20}, at: 0s}
  - {code: net.link_down, target: "a:eth1", at: 3s, for: 500ms}
expect:
  - flow.loss_pct > 30
  - flow.goodput_mbps < 25
`)
	stdout, stderr, code := cli(t, "", nil, "run", file, "--out", out, "--quiet")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	dir := runDir(t, out, "it-faults")
	var s struct {
		Lab    string
		Faults []struct {
			ID, Code, State, Mechanism string
			Verified                   bool
		}
	}
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	require.Len(t, s.Faults, 2)
	for _, f := range s.Faults {
		require.Equal(t, "reverted", f.State, f.Code)
		require.True(t, f.Verified, f.Code)
	}
	require.Equal(t, "tbf", s.Faults[0].Mechanism)
	events, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	for _, want := range []string{`"event":"fault-applied"`, `"event":"fault-reverted"`, `"code":"net.link_down"`, `"mechanism":"tbf"`} {
		require.Contains(t, string(events), want)
	}
	requireNoTrace(t, s.Lab)
}

// A fault spec that names an unknown code is refused before deploying.
func TestExperimentBadFaultIsRefused(t *testing.T) {
	file := writeFile(t, "bad.yaml", `name: it-badfault
claim: x
topology: {generate: {shape: single, hosts: 2}}
duration: 2s
roles:
  s: {role: traffic, node: h1, params: {mode: server}}
faults:
  - {code: net.rat, target: "h1:eth1", params: {mbps: 1}}
`)
	_, errOut, code := cli(t, "", nil, "run", file, "--dry-run")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "bad.yaml:8:5")
	require.Contains(t, errOut, `did you mean "net.rate"`)
}

// The faults tour: every fault family's effect during its window and its
// absence after, from the flows' series.
func TestFaultsTour(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/faults-tour.yaml", "--out", out, "--quiet")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	require.Contains(t, stdout, "OK: run directory")
	dir := runDir(t, out, "faults-tour")
	var s runSummary
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	requireNoTrace(t, s.Lab)
	requireManifestMatches(t, dir)
}

// Repeated and chaos faults: every application is journaled and reverted,
// and the chaos draw is recorded so the run can be replayed.
func TestEveryAndChaosSchedules(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	file := writeFile(t, "chaos.yaml", `name: it-chaos
claim: repeated and random faults are applied and reverted
topology:
  inline:
    name: it-chaos
    addressing: {}
    topology:
      nodes: {a: {}, b: {cmd: "sleep `+processMarker+`"}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}]
duration: 4s
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
faults:
  - {code: net.link_down, target: "a:eth1", at: 0s, for: 300ms, every: 1s}
chaos:
  seed: 11
  count: 3
  for: 200ms
  faults:
    - {code: net.rate, target: "a:eth1", params: {mbps: 10}}
    - {code: node.pause, target: b}
`)
	stdout, stderr, code := cli(t, "", nil, "run", file, "--out", out, "--quiet")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	var s struct {
		Lab      string
		Schedule []struct{ Name, Code string }
		Faults   []struct {
			Code, State string
			Verified    bool
		}
	}
	readJSON(t, filepath.Join(runDir(t, out, "it-chaos"), "summary.json"), &s)
	require.Len(t, s.Schedule, 4, "one repeated fault and three chaos draws")
	downs := 0
	for _, f := range s.Faults {
		require.Equal(t, "reverted", f.State, f.Code)
		require.True(t, f.Verified, f.Code)
		if f.Code == "net.link_down" {
			downs++
		}
	}
	require.GreaterOrEqual(t, downs, 3, "link_down every second over 4 s")
	require.Len(t, s.Faults, downs+3)
	requireNoTrace(t, s.Lab)
}

// A runner killed with SIGKILL while it holds several faults: the next
// tbctl that opens the lab reverts every one, and destroy leaves nothing.
func TestKilledRunnerFaultsAreHealed(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	file := writeFile(t, "heal.yaml", `name: it-heal
claim: faults of a killed runner are healed
topology:
  inline:
    name: it-heal
    addressing: {}
    topology:
      nodes: {a: {}, b: {}, c: {}}
      links: [{endpoints: ["a:eth1", "b:eth1"]}, {endpoints: ["b:eth2", "c:eth1"]}]
duration: 60s
roles:
  sink: {role: traffic, node: b, params: {mode: server}}
faults:
  - {code: net.rate, target: "a:eth1", params: {mbps: 10}, at: 0s}
  - {code: net.delay, target: "b:eth2", params: {delay: 5ms}, at: 0s}
  - {code: net.partition, target: "a|b", at: 0s}
`)
	cmd := exec.Command(tbctlBin(t), "run", file, "--out", out, "--quiet")
	require.NoError(t, cmd.Start())
	journal := ""
	require.True(t, waitFor(t, 20*time.Second, func() bool {
		matches, _ := filepath.Glob("/run/tbctl/it-heal-*/faults.jsonl")
		if len(matches) == 0 {
			return false
		}
		journal = matches[0]
		data, _ := os.ReadFile(journal)
		return strings.Count(string(data), `"state":"applied"`) == 3
	}))
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	labName := filepath.Base(filepath.Dir(journal))

	list, errOut, code := cli(t, "", nil, "fault", "list", labName)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, 3, strings.Count(list, "reverted  true"), list)
	_, errOut, code = cli(t, "", nil, "destroy", labName)
	require.Equal(t, 0, code, errOut)
	requireNoTrace(t, labName)
}
