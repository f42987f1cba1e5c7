package rundir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/run"
)

// fakeRun writes a small finished run directory: one run with a fault.
func fakeRun(t *testing.T, status string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	write("experiment.yaml", "name: x\n")
	write("topology.yaml", "name: x\ntopology:\n  nodes:\n    h1: {kind: linux}\n    r1: {kind: linux}\n")
	write("index.json", `{"status":"ok","runs":[{"label":"run","rep":1,"dir":".","status":"ok"}]}`)
	write("summary.json", `{"label":"run","rep":1,"lab":"x-ab12-0","status":"ok","instances":[{"name":"flow","role":"traffic","node":"h1","status":"ok"}]}`)
	write("events.jsonl", `{"event":"measure-start","mono_ns":1000,"source":"runner"}
{"event":"fault-applied","id":"f1","name":"cut","code":"net.partition","target":"h1|r1","mechanism":"nft","verified":true,"error":"","mono_ns":2000,"source":"runner"}
{"event":"fault-reverted","id":"f1","mono_ns":5000,"source":"runner"}
`)
	write("metrics.jsonl", `{"mono_ns":1500,"time":"t","source":"netdev","node":"h1","object":"eth1","metric":"rx_bytes","value":42}
`)
	write("roles/flow/events.jsonl", `{"event":"start","mono_ns":900}
`)
	write("roles/flow/series.jsonl", `{"t_s":0.1,"mbps":10}
{"t_s":0.2,"mbps":12}
`)
	m := run.Manifest{Tool: run.Tool{Name: "tbctl"}, RunID: "20260101T000000Z-ab12", Status: status, Files: map[string]string{}}
	m.Host.Hostname = "labhost"
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		m.Files[rel], _ = HashFile(p)
		return nil
	})
	b, _ := json.Marshal(m)
	write(ManifestFile, string(b))
	return dir
}

func TestOpenReadsAWholeRun(t *testing.T) {
	r, err := Open(fakeRun(t, run.StatusOK))
	require.NoError(t, err)
	require.NoError(t, r.Whole())
	require.Len(t, r.Points, 1)
	p := r.Points[0]
	assert.Equal(t, "x-ab12-0", p.Lab)
	assert.Equal(t, int64(1000), p.MeasureStart())
	assert.Equal(t, int64(900), p.InstanceStart("flow"))
	wins, err := p.FaultWindows()
	require.NoError(t, err)
	assert.Equal(t, []Window{{ID: "f1", Name: "cut", Code: "net.partition", Target: "h1|r1", Mechanism: "nft", Start: 2000, End: 5000, Verified: true}}, wins)
	series, err := p.Series("flow")
	require.NoError(t, err)
	require.Len(t, series, 2)
	assert.Equal(t, 12.0, series[1].Values["mbps"])
	var n int
	require.NoError(t, p.Metrics(func(s Sample) error { n++; assert.Equal(t, 42.0, s.Value); return nil }))
	assert.Equal(t, 1, n)
	host, labs, nodes := r.Names()
	assert.Equal(t, "labhost", host)
	assert.Equal(t, []string{"x-ab12-0"}, labs)
	assert.Equal(t, []string{"h1", "r1"}, nodes)
	probs, err := r.Verify()
	require.NoError(t, err)
	assert.Empty(t, probs)
}

func TestOpenRefusesWhatIsNotAWholeRun(t *testing.T) {
	empty := t.TempDir()
	file := filepath.Join(empty, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	half := fakeRun(t, run.StatusOK)
	require.NoError(t, os.Remove(filepath.Join(half, ManifestFile)))
	badIndex := fakeRun(t, run.StatusOK)
	require.NoError(t, os.WriteFile(filepath.Join(badIndex, IndexFile), []byte("{"), 0o644))
	for _, c := range []struct{ path, want string }{
		{filepath.Join(empty, "nope"), "no such run directory"},
		{file, "is not a run directory: it is a file"},
		{empty, "is not a run directory: it has no manifest.json"},
		{half, "is a half-written run: it has no manifest.json"},
		{badIndex, "is a half-written run: index.json"},
	} {
		_, err := Open(c.path)
		if assert.Error(t, err, c.path) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	r, err := Open(fakeRun(t, run.StatusInterrupted))
	require.NoError(t, err)
	assert.ErrorContains(t, r.Whole(), "was interrupted")
}

func TestVerifyNamesEachProblem(t *testing.T) {
	dir := fakeRun(t, run.StatusOK)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "roles/flow/series.jsonl"), []byte(`{"t_s":0.1,"mbps":99}`), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "metrics.jsonl")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ReportDir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ReportDir, "report.html"), []byte("x"), 0o644))
	r, err := Open(dir)
	require.NoError(t, err)
	probs, err := r.Verify()
	require.NoError(t, err)
	var got []string
	for _, p := range probs {
		got = append(got, p.File+": "+strings.SplitN(p.What, " ", 2)[0])
	}
	assert.Equal(t, []string{"extra.txt: not", "metrics.jsonl: missing", "roles/flow/series.jsonl: changed"}, got)
}
