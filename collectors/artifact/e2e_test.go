package artifact

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/provider/netns"
)

// repoRoot finds the repository from the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "experiments", "quickstart.yaml")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no repository root (go.mod with experiments/quickstart.yaml) above the working directory")
		}
		dir = parent
	}
}

// tbctlCLI is the CLI binary: TBCTL_BIN, or a fresh build. Runs need the
// real binary, since they start role instances as `tbctl role run`.
func tbctlCLI(t *testing.T, repo string) string {
	t.Helper()
	if b := os.Getenv("TBCTL_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "tbctl")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/tbctl")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build tbctl: %s", out)
	return bin
}

func cliRun(t *testing.T, bin, dir string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("tbctl %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// The quickstart, shortened, from run to pack, verify and reproduce: the
// reproduce tables name every expectation and key metric of every run.
func TestEndToEndQuickstart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run an experiment in network namespaces (run go test as root)")
	}
	if err := (&netns.Provider{}).Preflight(context.Background(), nil); err != nil {
		t.Skipf("the netns provider is unavailable here: %v", err)
	}
	repo := repoRoot(t)
	bin := tbctlCLI(t, repo)
	sets := []string{"--set", "duration=2s", "--set", "warmup=0s"}
	out := t.TempDir()

	stdout, stderr, code := cliRun(t, bin, repo, append([]string{"run", "experiments/quickstart.yaml", "--out", out, "-q"}, sets...)...)
	require.Contains(t, []int{0, 1}, code, "a run that ends (expectations may fail when this short)\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	dirs, err := filepath.Glob(filepath.Join(out, "quickstart", "*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	orig, err := rundir.Open(dirs[0])
	require.NoError(t, err)
	require.Len(t, orig.Points, 4)

	archive := filepath.Join(t.TempDir(), "quickstart.tar.gz")
	stdout, stderr, code = cliRun(t, bin, repo, "artifact", "pack", dirs[0], "-o", archive, "--license", "CC-BY-4.0")
	require.Equal(t, 0, code, "pack\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "packed 1 run(s)")

	stdout, stderr, code = cliRun(t, bin, repo, "artifact", "verify", archive)
	require.Equal(t, 0, code, "verify\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Regexp(t, `^OK: \d+ files, 1 runs verified\n$`, stdout)

	rerunOut := t.TempDir()
	stdout, stderr, code = cliRun(t, bin, repo, append([]string{"artifact", "reproduce", archive, "--out", rerunOut, "-q"}, sets...)...)
	require.Contains(t, []int{0, 1}, code, "reproduce\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "verified "+archive)
	reruns, _ := filepath.Glob(filepath.Join(rerunOut, "quickstart", "*"))
	require.Len(t, reruns, 1, "the rerun went to --out")
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "tbctl-reproduce-*"))
	assert.Empty(t, left, "the unpacked artifact is removed")

	exp, err := experiment.Load(filepath.Join(dirs[0], "experiment.yaml"), nil)
	require.NoError(t, err)
	expectTable, metricTable, ok := strings.Cut(stdout, "KEY METRICS of quickstart")
	require.True(t, ok, "no metrics table:\n%s", stdout)
	// One row per run and expectation, and one per cross-run expectation.
	for _, e := range exp.Expect {
		assert.Equal(t, len(orig.Points), strings.Count(expectTable, e.Text+" "), "rows of %q in:\n%s", e.Text, stdout)
	}
	for _, e := range exp.Compare {
		assert.Regexp(t, `across runs\s+`+regexp.QuoteMeta(e.Text), expectTable)
	}
	for _, p := range orig.Points {
		assert.Contains(t, expectTable, p.Label+" ", "the original's labels name the rows")
		assert.Contains(t, metricTable, p.Label+" ")
	}
	metrics := KeyMetrics(exp)
	require.Equal(t, []string{"probe.rtt_p50_ms"}, metrics, "the quickstart names its key metric")
	for _, m := range metrics {
		assert.Equal(t, len(orig.Points), strings.Count(metricTable, " "+m+" "), "rows of %s in:\n%s", m, stdout)
	}
	assert.NotContains(t, stdout, "has no rerun", "every run is matched by its sweep values")
	if code == 0 {
		assert.Contains(t, stdout, "REPRODUCED runs/quickstart/")
	} else {
		assert.Contains(t, stdout, "NOT REPRODUCED runs/quickstart/")
	}
}
