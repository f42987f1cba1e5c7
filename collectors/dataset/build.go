package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/tbctl/tbctl/collectors/rundir"
	"github.com/tbctl/tbctl/testbed/fault"
)

// batchRows is how many rows a part writer buffers before handing them to
// the Parquet writer.
const batchRows = 8192

// part writes one table's rows from one run directory to a Parquet file.
type part[T any] struct {
	table string
	path  string
	f     *os.File
	w     *parquet.GenericWriter[T]
	buf   []T
	rows  int64
}

func newPart[T any](path, table string, meta map[string]string, tool string) (*part[T], error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("tbctl", tool, ""),
		parquet.KeyValueMetadata(MetaSchema, strconv.Itoa(SchemaVersion)),
		parquet.KeyValueMetadata(MetaTable, table),
		parquet.KeyValueMetadata(MetaTool, tool),
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	return &part[T]{table: table, path: path, f: f, w: parquet.NewGenericWriter[T](f, opts...)}, nil
}

func (p *part[T]) add(row T) error {
	p.buf = append(p.buf, row)
	p.rows++
	if len(p.buf) >= batchRows {
		return p.flush()
	}
	return nil
}

func (p *part[T]) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	_, err := p.w.Write(p.buf)
	p.buf = p.buf[:0]
	if err != nil {
		return fmt.Errorf("%s: %w", p.table, err)
	}
	return nil
}

// close writes the footer and syncs the file.
func (p *part[T]) close() error {
	err := p.flush()
	if e := p.w.Close(); err == nil {
		err = e
	}
	if e := p.f.Sync(); err == nil {
		err = e
	}
	if e := p.f.Close(); err == nil {
		err = e
	}
	return err
}

// scrubber rewrites every string cell: identity without anonymization,
// addresses (and listed names) with it. Each value of the run directory
// goes through it exactly once (rewriting an anonymized address again
// would map it a second time).
type scrubber struct {
	fn   func(string) string
	memo map[string]string
}

func (s *scrubber) str(v string) string {
	if s.fn == nil || v == "" {
		return v
	}
	if out, ok := s.memo[v]; ok {
		return out
	}
	out := s.fn(v)
	if len(s.memo) < 1<<20 {
		s.memo[v] = out
	}
	return out
}

// json encodes v (sorted keys, no HTML escaping) and scrubs the text: an
// address or a name never holds a character JSON escapes, so the result is
// still JSON.
func (s *scrubber) json(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return s.str(fmt.Sprint(v))
	}
	return s.str(strings.TrimSuffix(b.String(), "\n"))
}

// counts is how many rows one run gave each table.
type counts struct{ faults, metrics, events int }

// builder stages the rows of run directories in Parquet files.
type builder struct {
	s          *scrubber
	tool       string
	anonymized string
}

// staged is a run directory written to the staging folder.
type staged struct {
	src   *rundir.Run
	rec   SourceRun
	files []stagedFile
	added []RunAdded
}

type stagedFile struct {
	table string
	tmp   string // in the staging folder
	rel   string // final path relative to the dataset
}

// stage writes the four tables of one run directory under stage/ and
// reports what it wrote.
func (b *builder) stage(r *rundir.Run, stageDir string, progress func(RunAdded)) (*staged, error) {
	sha, err := r.ManifestSHA256()
	if err != nil {
		return nil, err
	}
	runID := b.s.str(r.Manifest.RunID)
	st := &staged{src: r, rec: SourceRun{RunID: runID, Experiment: b.s.str(r.Manifest.Experiment), ManifestSHA256: sha}}
	name := "part-" + safeName(runID) + ".parquet"
	meta := map[string]string{MetaRunID: runID, MetaAnonymized: b.anonymized}
	path := func(table string) string { return filepath.Join(stageDir, table, name) }

	runs, err := newPart[RunRow](path(TableRuns), TableRuns, meta, b.tool)
	if err != nil {
		return nil, err
	}
	faults, err := newPart[FaultRow](path(TableFaults), TableFaults, meta, b.tool)
	if err != nil {
		return nil, err
	}
	metrics, err := newPart[MetricRow](path(TableMetrics), TableMetrics, meta, b.tool)
	if err != nil {
		return nil, err
	}
	events, err := newPart[EventRow](path(TableEvents), TableEvents, meta, b.tool)
	if err != nil {
		return nil, err
	}
	// The staging folder is removed on any error, the files with it.
	for _, p := range r.Points {
		key := runID + "/" + b.s.str(fmt.Sprintf("p%02d-r%02d", p.Point.Point+1, p.Rep))
		row, c, err := b.point(r, p, key, faults, metrics, events)
		if err != nil {
			return nil, fmt.Errorf("%s: run %s: %w", r.Path, p.Label, err)
		}
		if err := runs.add(row); err != nil {
			return nil, err
		}
		st.rec.Runs = append(st.rec.Runs, key)
		a := RunAdded{Key: key, Experiment: row.Experiment, Label: row.Label, Status: row.Status, Faults: c.faults, Metrics: c.metrics, Events: c.events}
		st.added = append(st.added, a)
		if progress != nil {
			progress(a)
		}
	}
	closers := []struct {
		table string
		rows  int64
		close func() error
	}{
		{TableRuns, runs.rows, runs.close}, {TableFaults, faults.rows, faults.close},
		{TableMetrics, metrics.rows, metrics.close}, {TableEvents, events.rows, events.close},
	}
	for _, c := range closers {
		if err := c.close(); err != nil {
			return nil, fmt.Errorf("write %s: %w", c.table, err)
		}
		tmp := path(c.table)
		sum, err := rundir.HashFile(tmp)
		if err != nil {
			return nil, err
		}
		rel := c.table + "/" + name
		st.files = append(st.files, stagedFile{table: c.table, tmp: tmp, rel: rel})
		st.rec.Files = append(st.rec.Files, File{Path: rel, Table: c.table, Rows: c.rows, SHA256: sum})
	}
	return st, nil
}

// point writes the faults, metrics and events of one run and returns its
// row of the runs table.
func (b *builder) point(r *rundir.Run, p *rundir.Point, key string, faults *part[FaultRow], metrics *part[MetricRow], events *part[EventRow]) (RunRow, counts, error) {
	s := b.s
	m := r.Manifest
	var c counts
	var evs []map[string]any
	if err := p.EachEvent(func(ev map[string]any) error { evs = append(evs, ev); return nil }); err != nil {
		return RunRow{}, c, err
	}
	ms := p.MeasureStart()
	me := p.MeasureEnd()
	clock := newWallClock(evs)

	failed := 0
	for _, ch := range p.Checks {
		if !ch.OK {
			failed++
		}
	}
	claim, _ := m.Parameters["claim"].(string)
	values := p.Values
	if values == nil {
		values = map[string]any{}
	}
	row := RunRow{
		RunKey: key, RunID: s.str(m.RunID), Experiment: s.str(m.Experiment), Claim: s.str(claim),
		Point: int32(p.Point.Point), Label: s.str(p.Label), SweepValues: s.json(values), Rep: int32(p.Rep), Seed: p.Seed,
		Status: s.str(p.Status), Error: s.str(p.Error), ChecksTotal: int32(len(p.Checks)), ChecksFailed: int32(failed),
		SourceDir: s.str(p.Rel), Provider: s.str(m.Provider),
		ToolVersion: s.str(m.Tool.Version), ToolRevision: s.str(m.Tool.Revision), ToolModified: m.Tool.Modified,
		Host: s.str(m.Host.Hostname), Kernel: s.str(m.Host.Kernel), OS: s.str(m.Host.OS), Arch: s.str(m.Host.Arch),
		CPU: s.str(m.Host.CPU), CPUs: int32(m.Host.CPUs), MemoryKB: m.Host.MemoryKB,
		StartTime: wallNS(p.Start), EndTime: wallNS(p.End), MeasureStart: ms, MeasureEnd: me,
	}

	// Faults: the summary's ground truth, with the exact windows from the
	// timeline.
	frows, err := b.faultRows(p, key, evs, ms)
	if err != nil {
		return row, c, err
	}
	for _, fr := range frows {
		if err := faults.add(fr); err != nil {
			return row, c, err
		}
	}
	c.faults = len(frows)

	// Events.
	for _, ev := range evs {
		if err := events.add(b.eventRow(ev, key, ms)); err != nil {
			return row, c, err
		}
		c.events++
	}

	// Metrics: the collectors' samples, then each instance's series.
	err = p.Metrics(func(sm rundir.Sample) error {
		mono := sm.MonoNS
		c.metrics++
		return metrics.add(MetricRow{
			RunKey: key, MonoNS: mono, Time: parseWall(sm.Time), TS: since(mono, ms),
			Source: s.str(sm.Source), Node: s.str(sm.Node), Object: s.str(sm.Object), Metric: s.str(sm.Metric), Value: sm.Value,
		})
	})
	if err != nil {
		return row, c, err
	}
	nodeOf := map[string]string{}
	for _, in := range p.Instances {
		if in != nil {
			nodeOf[in.Name] = in.Node
		}
	}
	insts, err := p.SeriesInstances()
	if err != nil {
		return row, c, err
	}
	for _, inst := range insts {
		series, err := p.Series(inst)
		if err != nil {
			return row, c, err
		}
		start := p.InstanceStart(inst)
		for _, sp := range series {
			var mono int64
			if start != 0 {
				mono = start + int64(math.Round(sp.T*1e9))
			}
			keys := make([]string, 0, len(sp.Values))
			for k := range sp.Values {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				c.metrics++
				if err := metrics.add(MetricRow{
					RunKey: key, MonoNS: mono, Time: clock.at(mono), TS: since(mono, ms),
					Source: s.str("role"), Node: s.str(nodeOf[inst]), Object: s.str(inst), Metric: s.str(k), Value: sp.Values[k],
				}); err != nil {
					return row, c, err
				}
			}
		}
	}
	return row, c, nil
}

// eventKeys are the fields of an event that have columns of their own.
var eventKeys = []string{"mono_ns", "time", "source", "event", "instance", "node"}

func (b *builder) eventRow(ev map[string]any, key string, ms int64) EventRow {
	s := b.s
	row := EventRow{RunKey: key}
	row.MonoNS = rundir.EventMono(ev)
	row.Time = parseWall(ev["time"])
	row.TS = since(row.MonoNS, ms)
	rest := make(map[string]any, len(ev))
	for k, v := range ev {
		rest[k] = v
	}
	delete(rest, "mono_ns")
	if row.Time != 0 || ev["time"] == nil {
		delete(rest, "time")
	}
	take := func(k string) string {
		v, ok := ev[k].(string)
		if ok {
			delete(rest, k)
		}
		return s.str(v)
	}
	row.Source, row.Event, row.Instance, row.Node = take("source"), take("event"), take("instance"), take("node")
	row.Fields = s.json(rest)
	return row
}

// faultRows lists the faults of a run: every fault of the summary (the
// ground truth) with its window from the timeline, windows the summary
// lacks, and injections that failed before they got an id.
func (b *builder) faultRows(p *rundir.Point, key string, evs []map[string]any, ms int64) ([]FaultRow, error) {
	s := b.s
	wins, err := p.FaultWindows()
	if err != nil {
		return nil, err
	}
	applied := map[string]map[string]any{}
	reverted := map[string]map[string]any{}
	for _, ev := range evs {
		id, _ := ev["id"].(string)
		switch ev["event"] {
		case "fault-applied":
			if e, _ := ev["error"].(string); e == "" {
				applied[id] = ev
			}
		case "fault-reverted":
			reverted[id] = ev
		}
	}
	byID := map[string]*fault.Fault{}
	for _, f := range p.Faults {
		if f != nil {
			byID[f.ID] = f
		}
	}
	build := func(id, name, code, target, mechanism string, params any, verified bool, w *rundir.Window) FaultRow {
		family, _, _ := strings.Cut(code, ".")
		if params == nil {
			params = map[string]any{}
		}
		fr := FaultRow{RunKey: key, ID: s.str(id), Name: s.str(name), Code: s.str(code), Family: s.str(family), Target: s.str(target),
			Params: s.json(params), Mechanism: s.str(mechanism), Verified: verified}
		if f := byID[id]; f != nil {
			fr.State, fr.Error = s.str(f.State), s.str(f.Error)
		} else if w != nil {
			// Not in the summary (the run ended before it was written):
			// the timeline tells.
			fr.State = s.str(map[bool]string{true: "reverted", false: "active"}[w.End != 0])
		}
		if ev := applied[id]; ev != nil {
			d, _ := ev["detail"].(string)
			fr.Detail = s.str(d)
			fr.StartTime = parseWall(ev["time"])
		}
		if ev := reverted[id]; ev != nil && w != nil && w.End != 0 {
			v, _ := ev["verified"].(bool)
			fr.RevertVerified = &v
			fr.EndTime = parseWall(ev["time"])
		}
		if w != nil {
			fr.StartMono, fr.EndMono = w.Start, w.End
			fr.StartS, fr.EndS = since(fr.StartMono, ms), since(fr.EndMono, ms)
		}
		return fr
	}
	var out []FaultRow
	seen := map[string]bool{}
	for i := range wins {
		w := &wins[i]
		var params any
		if f := byID[w.ID]; f != nil && f.Params != nil {
			params = f.Params
		} else if ev := applied[w.ID]; ev != nil {
			params = ev["params"]
		}
		out = append(out, build(w.ID, w.Name, w.Code, w.Target, w.Mechanism, params, w.Verified, w))
		seen[w.ID] = true
	}
	for _, f := range p.Faults {
		if f == nil || seen[f.ID] {
			continue
		}
		var params any
		if f.Params != nil {
			params = f.Params
		}
		fr := build(f.ID, "", f.Code, f.Target, f.Mechanism, params, false, nil)
		out = append(out, fr)
	}
	// Injections refused before they got an id: the requested event before
	// them gives their name.
	lastName := map[string]string{}
	for _, ev := range evs {
		code, _ := ev["code"].(string)
		target, _ := ev["target"].(string)
		switch ev["event"] {
		case "fault-requested":
			name, _ := ev["name"].(string)
			lastName[code+"\x00"+target] = name
		case "fault-failed":
			msg, _ := ev["error"].(string)
			fr := build("", lastName[code+"\x00"+target], code, target, "", ev["params"], false, nil)
			fr.State, fr.Error = s.str("failed"), s.str(msg)
			fr.StartTime = 0
			out = append(out, fr)
		}
	}
	return out, nil
}

// wallClock maps monotonic times to wall times through the timeline's
// events, which carry both: the nearest event anchors the mapping.
type wallClock struct{ mono, wall []int64 }

func newWallClock(evs []map[string]any) *wallClock {
	type pair struct{ m, w int64 }
	var ps []pair
	for _, ev := range evs {
		m := rundir.EventMono(ev)
		w := parseWall(ev["time"])
		if m != 0 && w != 0 {
			ps = append(ps, pair{m, w})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].m < ps[j].m })
	c := &wallClock{}
	for _, p := range ps {
		c.mono = append(c.mono, p.m)
		c.wall = append(c.wall, p.w)
	}
	return c
}

// at is the wall time (ns) at monotonic time m; 0 when unknown.
func (c *wallClock) at(m int64) int64 {
	if m == 0 || len(c.mono) == 0 {
		return 0
	}
	i := sort.Search(len(c.mono), func(i int) bool { return c.mono[i] >= m })
	switch {
	case i == len(c.mono):
		i--
	case i > 0 && m-c.mono[i-1] < c.mono[i]-m:
		i--
	}
	return c.wall[i] + (m - c.mono[i])
}

// parseWall reads an RFC 3339 time as Unix ns; 0 (null) when v is none.
func parseWall(v any) int64 {
	s, ok := v.(string)
	if !ok || s == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return wallNS(t)
}

func wallNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// since is mono in seconds since the measure-start ms, when both are known.
func since(mono, ms int64) *float64 {
	if mono == 0 || ms == 0 {
		return nil
	}
	v := float64(mono-ms) / 1e9
	return &v
}

// safeName keeps a file name to letters, digits and ._=- .
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '=', r == '-':
			return r
		}
		return '_'
	}, s)
}
