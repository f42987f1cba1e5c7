package experiment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Point is one combination of sweep values.
type Point struct {
	Index  int
	Values map[string]any // sweep path → value
	Label  string         // e.g. "streams=4,cc=reno"; "" when nothing is swept
}

// Matches reports whether the point has every selector entry: each key is
// the last element of a swept path (or the whole path), and values compare
// as printed.
func (p Point) Matches(selector map[string]string) bool {
	for key, want := range selector {
		found := false
		for path, v := range p.Values {
			if path == key || lastElement(path) == key {
				if fmt.Sprint(v) != want {
					return false
				}
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (s Sweep) axes() []Axis { return append(append([]Axis(nil), s.Cartesian...), s.Zip...) }

func lastElement(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// Points lists the sweep points: every combination of the cartesian axes
// (the last axis varying fastest) times the zipped tuples (varying fastest
// of all). Without a sweep there is one point with no values.
func (e *Experiment) Points() []Point {
	combos := []map[string]any{{}}
	for _, ax := range e.Sweep.Cartesian {
		var next []map[string]any
		for _, c := range combos {
			for _, v := range ax.Values {
				m := copyValues(c)
				m[ax.Path] = v
				next = append(next, m)
			}
		}
		combos = next
	}
	tuples := []map[string]any{{}}
	if len(e.Sweep.Zip) > 0 {
		tuples = nil
		for i := range e.Sweep.Zip[0].Values {
			m := map[string]any{}
			for _, ax := range e.Sweep.Zip {
				m[ax.Path] = ax.Values[i]
			}
			tuples = append(tuples, m)
		}
	}
	var points []Point
	for _, c := range combos {
		for _, t := range tuples {
			values := copyValues(c)
			for k, v := range t {
				values[k] = v
			}
			points = append(points, Point{Index: len(points), Values: values, Label: e.label(values)})
		}
	}
	return points
}

func copyValues(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// label names values by the last element of their paths, in axis order.
func (e *Experiment) label(values map[string]any) string {
	var parts []string
	for _, ax := range e.Sweep.axes() {
		if v, ok := values[ax.Path]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", lastElement(ax.Path), v))
		}
	}
	return strings.Join(parts, ",")
}

// At returns the experiment with the point's values applied to its
// document, decoded afresh; e is left unchanged. Problems a value causes
// are reported at its sweep axis.
func (e *Experiment) At(p Point) (*Experiment, error) {
	var overrides []override
	for _, ax := range e.Sweep.axes() {
		v, ok := p.Values[ax.Path]
		if !ok {
			continue
		}
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return nil, fmt.Errorf("%s: %w", ax.Path, err)
		}
		movePositions(&n, ax.Pos.Line, ax.Pos.Col)
		overrides = append(overrides, override{ax.Path, &n})
	}
	if len(overrides) != len(p.Values) {
		return nil, fmt.Errorf("point %q sets paths that are not swept", p.Label)
	}
	return parse(e.data, e.File, e.sets, overrides, false)
}

// SeedFor is the seed of repetition rep (from 0) of sweep point point
// (its Index): the 64-bit FNV-1a hash of the experiment seed, the point
// index and rep, each written as eight big-endian bytes, with the top bit
// cleared. It depends on nothing else, so adding repetitions keeps the
// seeds of existing runs.
func (e *Experiment) SeedFor(point, rep int) int64 {
	h := fnv.New64a()
	var buf [24]byte
	binary.BigEndian.PutUint64(buf[0:], uint64(e.Seed))
	binary.BigEndian.PutUint64(buf[8:], uint64(point))
	binary.BigEndian.PutUint64(buf[16:], uint64(rep))
	h.Write(buf[:])
	return int64(h.Sum64() &^ (1 << 63))
}
