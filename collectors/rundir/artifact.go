package rundir

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Inputs of a run directory, at its top: what reruns the whole experiment
// (`tbctl run DIR/experiment.yaml`).
const (
	ExperimentFile = "experiment.yaml"
	TopologyFile   = "topology.yaml"
)

// Inputs returns the paths of the run directory's experiment.yaml and, when
// the experiment's topology came from a file, topology.yaml ("" when there
// is none). A run directory made before tbctl kept its inputs at the top
// has no experiment.yaml there and cannot be rerun as it is.
func (r *Run) Inputs() (experiment, topology string, err error) {
	experiment = filepath.Join(r.Path, ExperimentFile)
	if !exists(experiment) {
		return "", "", fmt.Errorf("%s has no %s at its top, so it cannot be rerun as it is (it was made by a tbctl that did not keep its inputs there; rerun the experiment with this tbctl)", r.Path, ExperimentFile)
	}
	if t := filepath.Join(r.Path, TopologyFile); exists(t) {
		topology = t
	}
	return experiment, topology, nil
}

// Rehash returns the SHA-256 of every file of the run directory as the
// manifest lists them: relative slash paths, manifest.json and the report
// folder left out. It serves to rewrite a manifest after the files were
// rewritten on purpose (anonymized).
func (r *Run) Rehash() (map[string]string, error) {
	files, err := r.Files()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, rel := range files {
		if rel == ManifestFile || rel == ReportDir || strings.HasPrefix(rel, ReportDir+"/") {
			continue
		}
		sum, err := HashFile(filepath.Join(r.Path, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		out[rel] = sum
	}
	return out, nil
}

// PointKey identifies a run of a sweep by its sweep values and repetition,
// independent of the order of keys in its label and of how numbers were
// decoded (4 and 4.0 are one value).
func PointKey(values map[string]any, rep int) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(canonicalValue(values[k]))
		b.WriteByte(';')
	}
	fmt.Fprintf(&b, "rep=%d", rep)
	return b.String()
}

func canonicalValue(v any) string {
	switch x := v.(type) {
	case int:
		return canonicalValue(float64(x))
	case int64:
		return canonicalValue(float64(x))
	case uint64:
		return canonicalValue(float64(x))
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return canonicalValue(f)
		}
		return x.String()
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case string:
		return fmt.Sprintf("%q", x)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	// Through JSON and back, so nested ints and floats read alike.
	var norm any
	if json.Unmarshal(data, &norm) == nil {
		data, _ = json.Marshal(norm)
	}
	return string(data)
}

// Key is the PointKey of a run of the sweep.
func (p *Point) Key() string { return PointKey(p.Values, p.Rep) }

// PointByKey returns the run whose PointKey is key, or nil.
func (r *Run) PointByKey(key string) *Point {
	for _, p := range r.Points {
		if p.Key() == key {
			return p
		}
	}
	return nil
}

// Metric reads KEY from an instance's summary as the runner's expectations
// do; nested objects are reached with dots (latency.p99).
func (p *Point) Metric(instance, key string) (float64, error) {
	for _, in := range p.Instances {
		if in.Name != instance {
			continue
		}
		var v any = in.Summary
		for _, part := range strings.Split(key, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return 0, fmt.Errorf("%s reported no %q", instance, key)
			}
			v = m[part]
		}
		switch f := v.(type) {
		case float64:
			return f, nil
		case int:
			return float64(f), nil
		case int64:
			return float64(f), nil
		case json.Number:
			return f.Float64()
		}
		return 0, fmt.Errorf("%s reported no number %q", instance, key)
	}
	return 0, fmt.Errorf("no instance %q in this run", instance)
}

// ReadManifestJSON reads a run directory's manifest.json as a generic JSON
// object (numbers kept as written), for rewriting it without losing fields
// this tbctl does not know.
func ReadManifestJSON(dir string) (map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return m, nil
}
