// Package rundir reads run directories, the unit that reports, datasets and
// artifacts are made from. A run directory is what one `tbctl run` leaves:
// manifest.json (written last, so its presence means the run finished),
// index.json listing the runs of the sweep, and per run a folder with
// summary.json, events.jsonl, metrics.jsonl and one folder per role
// instance. The package only reads; it checks that a directory is a whole
// run before anyone builds on it, and it verifies the manifest's hashes.
package rundir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/run"
)

// File names inside a run directory.
const (
	ManifestFile = "manifest.json"
	IndexFile    = "index.json"
	SummaryFile  = "summary.json"
	EventsFile   = "events.jsonl"
	MetricsFile  = "metrics.jsonl"
	SeriesFile   = "series.jsonl"
	// ReportDir holds the report, derived from the rest and rewritten by
	// `tbctl report`; the manifest does not list it.
	ReportDir = "report"
)

// Run is a whole run directory.
type Run struct {
	Path     string // as given
	Manifest run.Manifest
	Index    Index
	Points   []*Point // in index order
}

// Index is index.json.
type Index struct {
	Status  string       `json:"status"`
	Runs    []IndexEntry `json:"runs"`
	Compare []run.Check  `json:"compare,omitempty"`
}

// IndexEntry is one run of the sweep in index.json.
type IndexEntry struct {
	Label  string         `json:"label"`
	Values map[string]any `json:"values,omitempty"`
	Rep    int            `json:"rep"`
	Dir    string         `json:"dir"`
	Status string         `json:"status"`
}

// Point is one run of the sweep: its summary.json and where it lives.
type Point struct {
	run.Point
	Rel  string // folder relative to the run directory ("." for a single run)
	Path string // folder as a path
}

// Open reads a run directory and checks it is whole. Its errors are user
// errors that say what the directory is and what to do.
func Open(path string) (*Run, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errkind.User("%s: no such run directory", path)
		}
		return nil, errkind.User("%s: %v", path, err)
	}
	if !st.IsDir() {
		return nil, errkind.User("%s is not a run directory: it is a file (give the folder that holds manifest.json)", path)
	}
	r := &Run{Path: path}
	if err := readJSON(filepath.Join(path, ManifestFile), &r.Manifest); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if exists(filepath.Join(path, IndexFile)) || exists(filepath.Join(path, SummaryFile)) || exists(filepath.Join(path, "experiment.yaml")) || hasPointDirs(path) {
				return nil, errkind.User("%s is a half-written run: it has no %s, so the run was cut off before it finished (rerun the experiment)", path, ManifestFile)
			}
			return nil, errkind.User("%s is not a run directory: it has no %s (run directories are made by tbctl run, under runs/<experiment>/<run-id>)", path, ManifestFile)
		}
		return nil, errkind.User("%s: %v", filepath.Join(path, ManifestFile), err)
	}
	if r.Manifest.RunID == "" || r.Manifest.Files == nil || r.Manifest.Tool.Name != "tbctl" {
		return nil, errkind.User("%s: not a tbctl run manifest (no runId, tool or files)", filepath.Join(path, ManifestFile))
	}
	if err := readJSON(filepath.Join(path, IndexFile), &r.Index); err != nil {
		return nil, errkind.User("%s is a half-written run: %s: %v", path, IndexFile, err)
	}
	for _, e := range r.Index.Runs {
		p := &Point{Rel: e.Dir, Path: filepath.Join(path, e.Dir)}
		if err := readJSON(filepath.Join(p.Path, SummaryFile), &p.Point); err != nil {
			return nil, errkind.User("%s is a half-written or damaged run: run %q: %v", path, e.Label, err)
		}
		r.Points = append(r.Points, p)
	}
	return r, nil
}

// Whole reports an error when the run did not finish: interrupted runs
// are kept for inspection but are not data to build on.
func (r *Run) Whole() error {
	if r.Manifest.Status == run.StatusInterrupted {
		return errkind.User("%s was interrupted: its runs are incomplete (rerun the experiment)", r.Path)
	}
	return nil
}

// Problem is one way a run directory differs from its manifest.
type Problem struct {
	File string
	What string // "changed", "missing", "not in the manifest"
}

func (p Problem) String() string { return p.File + ": " + p.What }

// Verify recomputes the hash of every file the manifest lists and reports
// each file that changed, went missing, or appeared (the report folder
// aside, which is derived).
func (r *Run) Verify() ([]Problem, error) {
	var probs []Problem
	seen := map[string]bool{}
	err := filepath.WalkDir(r.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.Path, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ReportDir {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == ManifestFile {
			return nil
		}
		seen[rel] = true
		want, ok := r.Manifest.Files[rel]
		if !ok {
			probs = append(probs, Problem{rel, "not in the manifest"})
			return nil
		}
		got, err := HashFile(path)
		if err != nil {
			return err
		}
		if got != want {
			probs = append(probs, Problem{rel, "changed (sha256 " + got[:12] + "…, manifest says " + short(want) + "…)"})
		}
		return nil
	})
	for rel := range r.Manifest.Files {
		if !seen[filepath.ToSlash(rel)] {
			probs = append(probs, Problem{rel, "missing"})
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].File < probs[j].File })
	return probs, err
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Files lists the run directory's files relative to it, sorted, the report
// folder included.
func (r *Run) Files() ([]string, error) {
	var out []string
	err := filepath.WalkDir(r.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.Path, path)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Events reads a run's events.jsonl, in file order (the runner writes it
// ordered by the monotonic clock).
func (p *Point) Events() ([]map[string]any, error) {
	var out []map[string]any
	err := eachLine(filepath.Join(p.Path, EventsFile), func(b []byte) error {
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	return out, err
}

// Sample is one line of metrics.jsonl.
type Sample struct {
	MonoNS int64   `json:"mono_ns"`
	Time   string  `json:"time"`
	Source string  `json:"source"`
	Node   string  `json:"node"`
	Object string  `json:"object,omitempty"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Metrics calls fn for every line of the run's metrics.jsonl; a run that
// collected nothing has none.
func (p *Point) Metrics(fn func(Sample) error) error {
	err := eachLine(filepath.Join(p.Path, MetricsFile), func(b []byte) error {
		var s Sample
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return fn(s)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// SeriesPoint is one line of an instance's series.jsonl: t_s (seconds
// since the instance started) and its numbers.
type SeriesPoint struct {
	T      float64
	Values map[string]float64
}

// Series reads an instance's series.jsonl; nil when it wrote none.
func (p *Point) Series(instance string) ([]SeriesPoint, error) {
	var out []SeriesPoint
	err := eachLine(filepath.Join(p.Path, "roles", instance, SeriesFile), func(b []byte) error {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		sp := SeriesPoint{Values: map[string]float64{}}
		for k, v := range m {
			f, ok := v.(float64)
			if !ok {
				continue
			}
			if k == "t_s" {
				sp.T = f
			} else {
				sp.Values[k] = f
			}
		}
		out = append(out, sp)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

// InstanceStart is the monotonic time (ns) of an instance's start event,
// the origin of its series; 0 when unknown.
func (p *Point) InstanceStart(instance string) int64 {
	var at int64
	eachLine(filepath.Join(p.Path, "roles", instance, EventsFile), func(b []byte) error {
		var ev struct {
			Event  string `json:"event"`
			MonoNS int64  `json:"mono_ns"`
		}
		if json.Unmarshal(b, &ev) == nil && ev.Event == "start" && at == 0 {
			at = ev.MonoNS
			return io.EOF
		}
		return nil
	})
	return at
}

// Window is the time a fault was in effect, on the monotonic clock.
type Window struct {
	ID, Name, Code, Target, Mechanism string
	Start, End                        int64 // ns; End is 0 when never reverted
	Verified                          bool
}

// FaultWindows reads the faults' exact windows from the run's events.
func (p *Point) FaultWindows() ([]Window, error) {
	evs, err := p.Events()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []Window
	at := map[string]int{}
	for _, ev := range evs {
		id := str(ev["id"])
		switch ev["event"] {
		case "fault-applied":
			if ev["error"] != nil && str(ev["error"]) != "" {
				continue
			}
			v, _ := ev["verified"].(bool)
			at[id] = len(out)
			out = append(out, Window{ID: id, Name: str(ev["name"]), Code: str(ev["code"]), Target: str(ev["target"]), Mechanism: str(ev["mechanism"]), Start: monoOf(ev), Verified: v})
		case "fault-reverted":
			if i, ok := at[id]; ok {
				out[i].End = monoOf(ev)
			}
		}
	}
	return out, nil
}

// MeasureStart is the monotonic time (ns) the measured window began; 0
// when the run never got there.
func (p *Point) MeasureStart() int64 {
	evs, _ := p.Events()
	for _, ev := range evs {
		if ev["event"] == "measure-start" {
			return monoOf(ev)
		}
	}
	return 0
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func monoOf(ev map[string]any) int64 {
	switch v := ev["mono_ns"].(type) {
	case float64:
		return int64(v)
	case json.Number:
		i, _ := v.Int64()
		return i
	}
	return 0
}

func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	return sc.Err()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hasPointDirs reports folders that look like runs of a sweep.
func hasPointDirs(path string) bool {
	m, _ := filepath.Glob(filepath.Join(path, "p[0-9]*", "r[0-9]*"))
	return len(m) > 0
}

// HashFile returns the hex SHA-256 of a file.
func HashFile(path string) (string, error) {
	return run.HashFile(path)
}

// Names lists the names a run's files carry that say where it ran: the
// host's name, every lab's name and every node's name (from each run's
// topology.yaml), each once, for anonymization.
func (r *Run) Names() (host string, labs, nodes []string) {
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, p := range r.Points {
		add(&labs, p.Lab)
		data, err := os.ReadFile(filepath.Join(p.Path, "topology.yaml"))
		if err != nil {
			continue
		}
		var doc struct {
			Topology struct {
				Nodes map[string]any `yaml:"nodes"`
			} `yaml:"topology"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			continue
		}
		var names []string
		for n := range doc.Topology.Nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			add(&nodes, n)
		}
	}
	return r.Manifest.Host.Hostname, labs, nodes
}

// OpenWhole opens a run directory to build on (a dataset, an artifact): it
// must be whole, not interrupted, and match its manifest. Each problem is
// named in the error.
func OpenWhole(path string) (*Run, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := r.Whole(); err != nil {
		return nil, err
	}
	probs, err := r.Verify()
	if err != nil {
		return nil, errkind.User("%s: %v", path, err)
	}
	if len(probs) > 0 {
		var list []string
		for _, p := range probs {
			list = append(list, filepath.ToSlash(filepath.Join(path, p.File))+": "+p.What)
		}
		return nil, errkind.User("%s does not match its manifest (%s): it was changed after the run, and only runs as they were recorded are used", path, strings.Join(list, "; "))
	}
	return r, nil
}
