package run

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tbctl/tbctl/roles"
)

// timeline collects the runner's own events of one run; at the end they are
// merged with every instance's events into the run's events.jsonl, ordered
// by the host's monotonic clock.
type timeline struct {
	dir    string
	mu     sync.Mutex
	events []map[string]any
}

func openTimeline(dir string) (*timeline, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &timeline{dir: dir}, nil
}

// Emit records a runner event.
func (t *timeline) Emit(kind string, fields map[string]any) {
	ev := map[string]any{"source": "runner", "event": kind, "time": time.Now().UTC().Format(time.RFC3339Nano), "mono_ns": roles.MonotonicNS()}
	for k, v := range fields {
		ev[k] = v
	}
	t.mu.Lock()
	t.events = append(t.events, ev)
	t.mu.Unlock()
}

func (t *timeline) Close() {}

// write merges the runner's events with those of every instance and writes
// events.jsonl.
func (t *timeline) write() error {
	t.mu.Lock()
	all := append([]map[string]any(nil), t.events...)
	t.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(t.dir, "roles", "*", "events.jsonl"))
	for _, f := range files {
		all = append(all, readEvents(f)...)
	}
	sort.SliceStable(all, func(i, j int) bool { return mono(all[i]) < mono(all[j]) })
	f, err := os.Create(filepath.Join(t.dir, "events.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, ev := range all {
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return w.Flush()
}

func readEvents(path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			if _, ok := ev["source"]; !ok {
				ev["source"] = "role"
			}
			out = append(out, ev)
		}
	}
	return out
}

func mono(ev map[string]any) float64 {
	f, _ := ev["mono_ns"].(float64)
	if i, ok := ev["mono_ns"].(int64); ok {
		return float64(i)
	}
	return f
}
