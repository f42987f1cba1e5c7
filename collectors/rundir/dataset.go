package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Helpers for building datasets from run directories (collectors/dataset).

// ManifestSHA256 is the SHA-256 of the run's manifest.json. Since the
// manifest lists the hash of every other file, it names the run's content.
func (r *Run) ManifestSHA256() (string, error) {
	return HashFile(filepath.Join(r.Path, ManifestFile))
}

// EachEvent calls fn for every event of the run's events.jsonl, in file
// order, with numbers kept exact as json.Number (Events reads them as
// float64, which rounds integers above 2^53 such as seeds). A run without
// events.jsonl has none.
func (p *Point) EachEvent(fn func(map[string]any) error) error {
	err := eachLine(filepath.Join(p.Path, EventsFile), func(b []byte) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		return fn(ev)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// EventMono is an event's mono_ns, read as float64 or json.Number; 0 when
// it has none.
func EventMono(ev map[string]any) int64 { return monoOf(ev) }

// MeasureEnd is the monotonic time (ns) the measured window ended; 0 when
// the run never got there.
func (p *Point) MeasureEnd() int64 {
	var at int64
	p.EachEvent(func(ev map[string]any) error {
		if ev["event"] == "measure-end" && at == 0 {
			at = monoOf(ev)
		}
		return nil
	})
	return at
}

// SeriesInstances lists, sorted, the role instances of the run that wrote
// a series.jsonl.
func (p *Point) SeriesInstances() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.Path, "roles"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && exists(filepath.Join(p.Path, "roles", e.Name(), SeriesFile)) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
