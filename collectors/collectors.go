// Package collectors measures a lab while an experiment runs and writes
// every measurement as one line of a long-format table (metrics.jsonl in
// the run directory): one sample of one metric of one object per line,
// stamped with the host's monotonic clock so it lines up with the run's
// timeline. One package per source lives below this one. Collectors only
// read; they change nothing in the lab.
package collectors

import (
	"bufio"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tbctl/tbctl/roles"
)

// Sample is one measurement, one line of metrics.jsonl.
type Sample struct {
	MonoNS int64   `json:"mono_ns"`
	Time   string  `json:"time"`
	Source string  `json:"source"` // e.g. "netdev"
	Node   string  `json:"node"`
	Object string  `json:"object,omitempty"` // e.g. the interface
	Metric string  `json:"metric"`           // e.g. "rx_bytes"
	Value  float64 `json:"value"`
}

// Writer writes samples as JSON lines; it is safe for concurrent use. It
// writes a series (one metric of one object of one node of one source)
// only where it changes: its first sample, every sample whose value
// differs from the one before, the sample before such a change when that
// one was not written (so that a counter's flat stretch ends exactly where
// it ended), and its last sample at Finish. Reading the lines as points
// joined by straight lines gives back every sample; counters that do not
// move cost nothing. It formats lines by hand: collectors write thousands
// a second, and the reflection of encoding/json would be most of their
// cost.
type Writer struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	line   []byte
	series map[seriesKey]*last
}

type seriesKey struct{ source, node, object, metric string }

// last is a series' latest sample and whether it was written.
type last struct {
	value   float64
	mono    int64
	time    string
	written bool
}

// NewWriter writes samples to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{buf: bufio.NewWriterSize(w, 1<<16), series: map[seriesKey]*last{}}
}

// Write records samples taken now.
func (w *Writer) Write(samples []Sample) error {
	mono := roles.MonotonicNS()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range samples {
		s := &samples[i]
		s.MonoNS, s.Time = mono, now
		k := seriesKey{s.Source, s.Node, s.Object, s.Metric}
		l := w.series[k]
		switch {
		case l == nil:
			l = &last{}
			w.series[k] = l
		case l.value == s.Value:
			l.mono, l.time, l.written = mono, now, false
			continue
		case !l.written:
			prev := *s
			prev.Value, prev.MonoNS, prev.Time = l.value, l.mono, l.time
			if err := w.put(&prev); err != nil {
				return err
			}
		}
		l.value, l.mono, l.time, l.written = s.Value, mono, now, true
		if err := w.put(s); err != nil {
			return err
		}
	}
	return nil
}

// put writes one line.
func (w *Writer) put(s *Sample) error {
	b := append(w.line[:0], `{"mono_ns":`...)
	b = strconv.AppendInt(b, s.MonoNS, 10)
	b = appendField(b, "time", s.Time)
	b = appendField(b, "source", s.Source)
	b = appendField(b, "node", s.Node)
	if s.Object != "" {
		b = appendField(b, "object", s.Object)
	}
	b = appendField(b, "metric", s.Metric)
	b = append(b, `,"value":`...)
	b = strconv.AppendFloat(b, s.Value, 'f', -1, 64)
	b = append(b, "}\n"...)
	w.line = b
	_, err := w.buf.Write(b)
	return err
}

// Finish writes every series' last sample that is not written yet, so each
// series ends where sampling ended, and flushes.
func (w *Writer) Finish() error {
	w.mu.Lock()
	keys := make([]seriesKey, 0, len(w.series))
	for k, l := range w.series {
		if !l.written {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if w.series[a].mono != w.series[b].mono {
			return w.series[a].mono < w.series[b].mono
		}
		return a.source+a.node+a.object+a.metric < b.source+b.node+b.object+b.metric
	})
	for _, k := range keys {
		l := w.series[k]
		s := Sample{MonoNS: l.mono, Time: l.time, Source: k.source, Node: k.node, Object: k.object, Metric: k.metric, Value: l.value}
		if err := w.put(&s); err != nil {
			w.mu.Unlock()
			return err
		}
		l.written = true
	}
	w.mu.Unlock()
	return w.Flush()
}

// appendField appends ,"key":"value". Values are names and timestamps of
// printable ASCII, for which Go's quoting is JSON's; anything else goes
// through encoding/json.
func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c >= 0x7f {
			q, _ := json.Marshal(value)
			return append(b, q...)
		}
	}
	return strconv.AppendQuote(b, value)
}

// Flush writes buffered samples out.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}
