package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMycroftDiagnosisShort runs experiments/mycroft-diagnosis.yaml in its
// short mode (one run of two rounds: each of the five fault kinds twice, on
// seeded random targets): 8 ranks on a leaf-spine lab, the analyzer diagnosing
// live, the runner scoring it. The experiment's own expectations (every
// hang detected within 2 s, at least 90% localized, no false alarm) must
// hold, and the score must cover every injected fault with a diagnosis
// that names the injected fault's place.
func TestMycroftDiagnosisShort(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	stdout, stderr, code := cli(t, "", nil, "run", "../../experiments/mycroft-diagnosis.yaml", "--out", out,
		"--set", "repetitions=1")
	if code != 0 {
		// The run directory goes with the test's; keep the analyzer's
		// scores (one row per fault and per false alarm) in the log.
		scores, _ := filepath.Glob(filepath.Join(out, "mycroft-diagnosis", "*", "roles", "analyzer", "score.json"))
		for _, f := range scores {
			if b, err := os.ReadFile(f); err == nil {
				t.Logf("%s:\n%s", f, b)
			}
		}
	}
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := runDir(t, out, "mycroft-diagnosis")

	var s runSummary
	readJSON(t, filepath.Join(dir, "summary.json"), &s)
	require.Equal(t, "ok", s.Status)
	requireNoTrace(t, s.Lab)
	var sc map[string]any
	for _, in := range s.Instances {
		if in.Name == "analyzer" {
			sc = in.Summary
		}
		if in.Name == "r0" {
			require.Equal(t, 0.0, in.Summary["mismatches"], "every AllReduce summed right, faults or not")
		}
	}
	require.NotNil(t, sc)
	require.Equal(t, 10.0, sc["faults"])
	for _, code := range []string{"node_pause", "node_cpu_straggler", "net_blackhole", "net_rate", "net_loss"} {
		require.Equal(t, 2.0, sc[code+"_faults"], "each kind twice: %s", code)
	}

	var rows []struct {
		Code, Expect, Named string
		Detected, Correct   bool
	}
	data, err := os.ReadFile(filepath.Join(dir, "roles", "analyzer", "score.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rows))
	require.Len(t, rows, 10, "one row per fault, no false alarm rows")
	correct := 0
	for _, r := range rows {
		require.True(t, r.Detected, "%s not detected", r.Code)
		if r.Correct {
			correct++
		}
	}
	require.GreaterOrEqual(t, float64(correct), 0.9*10, "%s", data)
}
