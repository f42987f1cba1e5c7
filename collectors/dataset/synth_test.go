package dataset_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/instance"
	"github.com/tbctl/tbctl/testbed/run"
)

// Synthetic run directories, written as tbctl run writes them, and the rows
// a dataset must hold for them, worked out here from the same
// specification (not by the code under test).

// Names and addresses the runs carry; long and distinctive, so that a
// search of a whole dataset, compressed files included, finds them only
// where they leaked.
const (
	hostName = "labmachine42"
	nodeA    = "hostalpha7"
	nodeB    = "routerbeta3"
	nodeC    = "switchgamma9"
)

var (
	nodeNames = []string{nodeA, nodeB, nodeC}
	// Every address the synthetic runs hold, as written.
	origAddrs = []string{"198.51.100.23", "203.0.113.77", "10.44.1.2", "2001:db8:feed::18", "2001:db8:feed::17"}
)

// wallEpoch + mono is the wall time of every event and sample.
var wallEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

func wallOf(mono int64) int64 { return wallEpoch + mono }

func ms(n int64) int64 { return n * int64(time.Millisecond) }

type runSpec struct {
	runID, experiment, status string
	claim                     string
	points                    []pointSpec
}

type pointSpec struct {
	rel     string
	index   int
	label   string
	values  map[string]any
	seed    int64
	status  string
	errMsg  string
	lab     string
	base    int64 // mono ns of the point's first event
	measure bool  // whether it reached the measured window
}

// evSpec is one event: columns of its own and the rest (fields) as the
// dataset must hold it, keys sorted.
type evSpec struct {
	off                           int64 // ms after base
	source, event, instance, node string
	fields                        string
}

func (p pointSpec) events() []evSpec {
	evs := []evSpec{
		{0, "runner", "phase", "", "", `{"phase":"deploy"}`},
		{10, "runner", "lab-up", "", "", `{"lab":"` + p.lab + `"}`},
		{20, "runner", "role-start", "flow", nodeA, `{"pid":41}`},
		{30, "role", "start", "flow", nodeA, `{"params":{"target":"198.51.100.23"},"role":"traffic"}`},
		{40, "role", "connected", "flow", nodeA, `{"remote":"203.0.113.77:5201","target":"[2001:db8:feed::18]:443"}`},
	}
	if p.measure {
		evs = append(evs, evSpec{1000, "runner", "measure-start", "", "", `{}`})
	}
	evs = append(evs,
		evSpec{2000, "runner", "fault-requested", "", "", `{"code":"net.loss","name":"lossy","params":{"percent":"5"},"target":"` + nodeA + `:eth1"}`},
		evSpec{2001, "runner", "fault-applied", "", "", `{"code":"net.loss","detail":"dropping on ` + nodeA + `:eth1 towards 10.44.1.2","error":"","id":"f1","journal_mono_ns":123456789012345678,"mechanism":"nftables","name":"lossy","params":{"percent":"5"},"target":"` + nodeA + `:eth1","verified":true}`},
		evSpec{2500, "runner", "fault-requested", "", "", `{"code":"net.blackhole","name":"hole","params":{"dst":"198.51.100.23"},"target":"` + nodeB + `"}`},
		evSpec{2501, "runner", "fault-applied", "", "", `{"code":"net.blackhole","detail":"` + nodeB + ` drops to 198.51.100.23/32","error":"","id":"f2","mechanism":"nftables","name":"hole","params":{"dst":"198.51.100.23"},"target":"` + nodeB + `","verified":true}`},
		evSpec{3000, "runner", "fault-reverted", "", "", `{"code":"net.loss","detail":"","error":"","id":"f1","mechanism":"nftables","params":{"percent":"5"},"target":"` + nodeA + `:eth1","verified":true}`},
		evSpec{3500, "runner", "fault-requested", "", "", `{"code":"node.pause","name":"freeze","params":{},"target":"` + nodeC + `"}`},
		evSpec{3501, "runner", "fault-failed", "", "", `{"code":"node.pause","error":"` + nodeC + ` is a bridge at 2001:db8:feed::17","target":"` + nodeC + `"}`},
		evSpec{4000, "role", "done", "flow", nodeA, `{"mbps":12.5,"requests":9007199254740993,"summary":"sent to 198.51.100.23 from ` + nodeA + ` on ` + hostName + `"}`},
	)
	if p.measure {
		evs = append(evs, evSpec{5000, "runner", "measure-end", "", "", `{}`})
	}
	evs = append(evs,
		evSpec{5100, "runner", "fault-reverted", "", "", `{"code":"net.blackhole","detail":"","error":"","id":"f2","mechanism":"nftables","params":{"dst":"198.51.100.23"},"target":"` + nodeB + `","verified":false}`},
		evSpec{5300, "runner", "run-end", "", "", `{"status":"ok"}`},
	)
	return evs
}

type sampleSpec struct {
	off                          int64
	source, node, object, metric string
	value                        float64
}

func (p pointSpec) samples() []sampleSpec {
	return []sampleSpec{
		{500, "netdev", nodeA, "eth1", "rx_bytes", 1000},
		{1500, "netdev", nodeA, "eth1", "rx_bytes", 250000.5},
		{1500, "prom", nodeB, "10.44.1.2:9100", "up", 1},
		{1600, "cgroup", nodeC, "", "cpu_usec", 77},
	}
}

// The flow instance's series: t_s since its start event (at base+30ms).
var series = []string{`{"t_s":0.5,"mbps":10.25,"note":"x"}`, `{"t_s":1.25,"mbps":11,"bytes":1024}`}

const flowStartOff = 30

var topology = `name: synth
topology:
  nodes:
    ` + nodeA + `: {kind: linux}
    ` + nodeB + `: {kind: linux}
    ` + nodeC + `: {kind: bridge}
  links:
    - endpoints: ["` + nodeA + `:eth1", "` + nodeC + `:p1"]
`

// writeRun writes a run directory under root and returns its path.
func writeRun(t *testing.T, root string, rs runSpec) string {
	t.Helper()
	dir := filepath.Join(root, rs.experiment, rs.runID)
	var idx rundirIndex
	idx.Status = rs.status
	for _, p := range rs.points {
		pdir := filepath.Join(dir, p.rel)
		require.NoError(t, os.MkdirAll(filepath.Join(pdir, "roles", "flow"), 0o755))
		// events.jsonl: the columns merged back into the fields.
		var evb bytes.Buffer
		for _, e := range p.events() {
			dec := json.NewDecoder(bytes.NewReader([]byte(e.fields)))
			dec.UseNumber()
			m := map[string]any{}
			require.NoError(t, dec.Decode(&m))
			mono := p.base + ms(e.off)
			m["mono_ns"] = mono
			m["time"] = time.Unix(0, wallOf(mono)).UTC().Format(time.RFC3339Nano)
			m["source"], m["event"] = e.source, e.event
			if e.instance != "" {
				m["instance"] = e.instance
			}
			if e.node != "" {
				m["node"] = e.node
			}
			line, err := json.Marshal(m)
			require.NoError(t, err)
			evb.Write(append(line, '\n'))
		}
		write(t, filepath.Join(pdir, "events.jsonl"), evb.String())
		var mb bytes.Buffer
		for _, s := range p.samples() {
			mono := p.base + ms(s.off)
			line, _ := json.Marshal(map[string]any{"mono_ns": mono, "time": time.Unix(0, wallOf(mono)).UTC().Format(time.RFC3339Nano),
				"source": s.source, "node": s.node, "object": s.object, "metric": s.metric, "value": s.value})
			mb.Write(append(line, '\n'))
		}
		write(t, filepath.Join(pdir, "metrics.jsonl"), mb.String())
		start := p.base + ms(flowStartOff)
		write(t, filepath.Join(pdir, "roles", "flow", "events.jsonl"), fmt.Sprintf(`{"event":"start","instance":"flow","mono_ns":%d,"node":%q,"time":%q}`+"\n", start, nodeA, time.Unix(0, wallOf(start)).UTC().Format(time.RFC3339Nano)))
		write(t, filepath.Join(pdir, "roles", "flow", "series.jsonl"), series[0]+"\n"+series[1]+"\n")
		write(t, filepath.Join(pdir, "roles", "flow", "stdout.log"), "")
		write(t, filepath.Join(pdir, "topology.yaml"), topology)
		write(t, filepath.Join(pdir, "experiment.yaml"), "name: "+rs.experiment+"\n")
		sum := run.Point{
			Label: p.label, Point: p.index, Rep: 1, Values: p.values, Seed: p.seed, Dir: pdir, Lab: p.lab,
			Status: p.status, Error: p.errMsg,
			Instances: []*instance.Result{{Name: "flow", Role: "traffic", Node: nodeA, Status: "ok"}},
			Checks:    []run.Check{{Text: "flow.mbps > 1", OK: true}, {Text: "flow.mbps > 100", OK: false}},
			Faults: []*fault.Fault{
				{ID: "f1", Code: "net.loss", Target: nodeA + ":eth1", Params: map[string]string{"percent": "5"}, Mechanism: "nftables", State: "reverted", Verified: true},
				{ID: "f2", Code: "net.blackhole", Target: nodeB, Params: map[string]string{"dst": "198.51.100.23"}, Mechanism: "nftables", State: "reverted", Verified: false},
			},
			Start: time.Unix(0, wallOf(p.base-ms(5))).UTC(),
			End:   time.Unix(0, wallOf(p.base+ms(5400))).UTC(),
		}
		writeJSON(t, filepath.Join(pdir, "summary.json"), sum)
		idx.Runs = append(idx.Runs, rundirEntry{Label: p.label, Values: p.values, Rep: 1, Dir: p.rel, Status: p.status})
	}
	writeJSON(t, filepath.Join(dir, "index.json"), idx)
	if _, err := os.Stat(filepath.Join(dir, "experiment.yaml")); err != nil {
		write(t, filepath.Join(dir, "experiment.yaml"), "name: "+rs.experiment+"\n")
	}
	m := run.Manifest{
		Tool:       run.Tool{Name: "tbctl", Version: "v9.9.9", Revision: "abc123", Modified: true, GoVersion: "go1.26"},
		Host:       run.Host{Hostname: hostName, Kernel: "6.1.0-synth", OS: "linux", Arch: "amd64", CPU: "Synth CPU 3000", CPUs: 8, MemoryKB: 16777216},
		Experiment: rs.experiment, File: "experiments/" + rs.experiment + ".yaml", RunID: rs.runID, Provider: "netns",
		Parameters: map[string]any{"name": rs.experiment, "claim": rs.claim},
		Start:      run.Stamp{Wall: time.Unix(0, wallOf(rs.points[0].base-ms(10))).UTC(), MonoNS: rs.points[0].base - ms(10)},
		End:        run.Stamp{Wall: time.Unix(0, wallOf(rs.points[0].base+ms(9000))).UTC(), MonoNS: rs.points[0].base + ms(9000)},
		Status:     rs.status, Files: map[string]string{},
	}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		m.Files[filepath.ToSlash(rel)] = sha(t, path)
		return nil
	}))
	writeJSON(t, filepath.Join(dir, "manifest.json"), m)
	return dir
}

type rundirIndex struct {
	Status string        `json:"status"`
	Runs   []rundirEntry `json:"runs"`
}

type rundirEntry struct {
	Label  string         `json:"label"`
	Values map[string]any `json:"values,omitempty"`
	Rep    int            `json:"rep"`
	Dir    string         `json:"dir"`
	Status string         `json:"status"`
}

// sweepRun is a run directory of two sweep points, the second of which
// failed before its measured window.
func sweepRun() runSpec {
	return runSpec{
		runID: "20260101T000000Z-aaaa", experiment: "synth-sweep", status: "failed",
		claim: nodeA + " reaches 198.51.100.23 at line rate",
		points: []pointSpec{
			{rel: "p01-target=198.51.100.23/r01", index: 0, label: "target=198.51.100.23", values: map[string]any{"roles.flow.params.target": "198.51.100.23"},
				seed: 7, status: "ok", lab: "synthlab-aaaa-0", base: 5_000_000_000_000, measure: true},
			{rel: "p02-target=" + nodeB + "/r01", index: 1, label: "target=" + nodeB, values: map[string]any{"roles.flow.params.target": nodeB},
				seed: 8, status: "failed", errMsg: "flow: connect 203.0.113.77:5201: refused", lab: "synthlab-aaaa-1", base: 5_100_000_000_000, measure: false},
		},
	}
}

// singleRun is a run directory without a sweep.
func singleRun() runSpec {
	return runSpec{
		runID: "20260102T000000Z-bbbb", experiment: "synth-single", status: "ok",
		claim:  "a single run on " + hostName,
		points: []pointSpec{{rel: ".", index: 0, label: "run", seed: 9, status: "ok", lab: "synthlab-bbbb-0", base: 6_000_000_000_000, measure: true}},
	}
}

// row is one expected row: column → value (string, int32, int64, float64,
// bool, or nil for null; timestamps as Unix ns).
type row = map[string]any

func runKey(rs runSpec, p pointSpec) string { return fmt.Sprintf("%s/p%02d-r01", rs.runID, p.index+1) }

func nsOrNil(v int64, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

func sinceOrNil(mono int64, p pointSpec) any {
	if !p.measure {
		return nil
	}
	return float64(mono-(p.base+ms(1000))) / 1e9
}

func expectRuns(rs runSpec) []row {
	var out []row
	for _, p := range rs.points {
		values := "{}"
		if p.values != nil {
			b, _ := json.Marshal(p.values)
			values = string(b)
		}
		out = append(out, row{
			"run_key": runKey(rs, p), "run_id": rs.runID, "experiment": rs.experiment, "claim": rs.claim,
			"point": int32(p.index), "label": p.label, "sweep_values": values, "rep": int32(1), "seed": p.seed,
			"status": p.status, "error": p.errMsg, "checks_total": int32(2), "checks_failed": int32(1), "source_dir": p.rel,
			"provider": "netns", "tool_version": "v9.9.9", "tool_revision": "abc123", "tool_modified": true,
			"host": hostName, "kernel": "6.1.0-synth", "os": "linux", "arch": "amd64", "cpu": "Synth CPU 3000",
			"cpus": int32(8), "memory_kb": int64(16777216),
			"start_time": wallOf(p.base - ms(5)), "end_time": wallOf(p.base + ms(5400)),
			"measure_start_mono_ns": nsOrNil(p.base+ms(1000), p.measure), "measure_end_mono_ns": nsOrNil(p.base+ms(5000), p.measure),
		})
	}
	return out
}

func expectFaults(rs runSpec) []row {
	var out []row
	for _, p := range rs.points {
		k := runKey(rs, p)
		at := func(off int64) int64 { return p.base + ms(off) }
		out = append(out,
			row{"run_key": k, "id": "f1", "name": "lossy", "code": "net.loss", "family": "net", "target": nodeA + ":eth1",
				"params": `{"percent":"5"}`, "mechanism": "nftables", "verified": true, "revert_verified": true, "state": "reverted",
				"detail": "dropping on " + nodeA + ":eth1 towards 10.44.1.2", "error": "",
				"start_mono_ns": at(2001), "end_mono_ns": at(3000), "start_s": sinceOrNil(at(2001), p), "end_s": sinceOrNil(at(3000), p),
				"start_time": wallOf(at(2001)), "end_time": wallOf(at(3000))},
			row{"run_key": k, "id": "f2", "name": "hole", "code": "net.blackhole", "family": "net", "target": nodeB,
				"params": `{"dst":"198.51.100.23"}`, "mechanism": "nftables", "verified": true, "revert_verified": false, "state": "reverted",
				"detail": nodeB + " drops to 198.51.100.23/32", "error": "",
				"start_mono_ns": at(2501), "end_mono_ns": at(5100), "start_s": sinceOrNil(at(2501), p), "end_s": sinceOrNil(at(5100), p),
				"start_time": wallOf(at(2501)), "end_time": wallOf(at(5100))},
			row{"run_key": k, "id": "", "name": "freeze", "code": "node.pause", "family": "node", "target": nodeC,
				"params": `{}`, "mechanism": "", "verified": false, "revert_verified": nil, "state": "failed",
				"detail": "", "error": nodeC + " is a bridge at 2001:db8:feed::17",
				"start_mono_ns": nil, "end_mono_ns": nil, "start_s": nil, "end_s": nil, "start_time": nil, "end_time": nil},
		)
	}
	return out
}

func expectEvents(rs runSpec) []row {
	var out []row
	for _, p := range rs.points {
		for _, e := range p.events() {
			mono := p.base + ms(e.off)
			out = append(out, row{"run_key": runKey(rs, p), "mono_ns": mono, "time": wallOf(mono), "t_s": sinceOrNil(mono, p),
				"source": e.source, "event": e.event, "instance": e.instance, "node": e.node, "fields": e.fields})
		}
	}
	return out
}

func expectMetrics(rs runSpec) []row {
	var out []row
	for _, p := range rs.points {
		k := runKey(rs, p)
		for _, s := range p.samples() {
			mono := p.base + ms(s.off)
			out = append(out, row{"run_key": k, "mono_ns": mono, "time": wallOf(mono), "t_s": sinceOrNil(mono, p),
				"source": s.source, "node": s.node, "object": s.object, "metric": s.metric, "value": s.value})
		}
		start := p.base + ms(flowStartOff)
		add := func(ts float64, metric string, v float64) {
			mono := start + int64(ts*1e9)
			out = append(out, row{"run_key": k, "mono_ns": mono, "time": wallOf(mono), "t_s": sinceOrNil(mono, p),
				"source": "role", "node": nodeA, "object": "flow", "metric": metric, "value": v})
		}
		add(0.5, "mbps", 10.25)
		add(1.25, "bytes", 1024)
		add(1.25, "mbps", 11)
	}
	return out
}

func write(t *testing.T, path, s string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	write(t, path, string(b)+"\n")
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashTree maps every file and folder under dir to its SHA-256 ("dir"
// for folders) and mode: two equal maps mean nothing changed.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Stat(dir); err != nil {
		return out
	}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "dir " + info.Mode().String()
			return nil
		}
		out[rel] = sha(t, path) + " " + info.Mode().String()
		return nil
	}))
	return out
}

// copyTree copies a run directory, to damage the copy.
func copyTree(t *testing.T, src, dst string) string {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
	return dst
}

// allFiles lists the files under dir, sorted.
func allFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	}))
	sort.Strings(out)
	return out
}
