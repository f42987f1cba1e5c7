package run

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// window is the time a named fault was in effect, on the host's monotonic
// clock.
type window struct {
	name       string
	start, end float64 // ns
}

// faultWindows reads the named faults' windows from the runner's events.
func faultWindows(tl *timeline) []window {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	names := map[string]string{}
	starts := map[string]float64{}
	var out []window
	for _, ev := range tl.events {
		id, _ := ev["id"].(string)
		switch ev["event"] {
		case "fault-applied":
			if name, _ := ev["name"].(string); name != "" {
				names[id], starts[id] = name, mono(ev)
			}
		case "fault-reverted":
			if name, ok := names[id]; ok {
				out = append(out, window{name: name, start: starts[id], end: mono(ev)})
			}
		}
	}
	return out
}

// addWindowMetrics adds to each instance's summary the median of every
// number of its series (series.jsonl) before, during and after each named
// fault (a median, so the interval that straddles the fault's start or end
// does not dominate):
// before_NAME_KEY, during_NAME_KEY and after_NAME_KEY, each window as long
// as the fault was in effect. Expectations can then say what a fault did
// and that it went away.
func addWindowMetrics(pt *Point, tl *timeline) {
	wins := faultWindows(tl)
	if len(wins) == 0 {
		return
	}
	for _, in := range pt.Instances {
		dir := filepath.Join(pt.Dir, "roles", in.Name)
		origin := roleStart(filepath.Join(dir, "events.jsonl"))
		points := readSeries(filepath.Join(dir, "series.jsonl"))
		if origin == 0 || len(points) == 0 {
			continue
		}
		if in.Summary == nil {
			in.Summary = map[string]any{}
		}
		for _, w := range wins {
			span := w.end - w.start
			for prefix, lo := range map[string]float64{"before": w.start - span, "during": w.start, "after": w.end} {
				for key, m := range medians(points, origin, lo, lo+span) {
					in.Summary[fmt.Sprintf("%s_%s_%s", prefix, w.name, key)] = m
				}
			}
		}
	}
}

// roleStart is the monotonic time of an instance's start event.
func roleStart(path string) float64 {
	for _, ev := range readEvents(path) {
		if ev["event"] == "start" {
			return mono(ev)
		}
	}
	return 0
}

func readSeries(path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p map[string]any
		if json.Unmarshal(sc.Bytes(), &p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// medians takes the median of every numeric field of the series points
// whose time (origin + t_s) falls in [lo, hi).
func medians(points []map[string]any, origin, lo, hi float64) map[string]float64 {
	values := map[string][]float64{}
	for _, p := range points {
		ts, ok := p["t_s"].(float64)
		if !ok {
			continue
		}
		if at := origin + ts*1e9; at < lo || at >= hi {
			continue
		}
		for k, v := range p {
			if f, ok := v.(float64); ok && k != "t_s" {
				values[k] = append(values[k], f)
			}
		}
	}
	out := map[string]float64{}
	for k, vs := range values {
		sort.Float64s(vs)
		n := len(vs)
		if n%2 == 1 {
			out[k] = vs[n/2]
		} else {
			out[k] = (vs[n/2-1] + vs[n/2]) / 2
		}
	}
	return out
}
