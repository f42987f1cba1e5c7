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
// formats lines by hand: collectors write thousands a second, and the
// reflection of encoding/json would be most of their cost.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	line []byte
}

// NewWriter writes samples to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{buf: bufio.NewWriterSize(w, 1<<16)}
}

// Write appends samples taken now.
func (w *Writer) Write(samples []Sample) error {
	mono := roles.MonotonicNS()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range samples {
		s := &samples[i]
		s.MonoNS, s.Time = mono, now
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
		if _, err := w.buf.Write(b); err != nil {
			return err
		}
	}
	return nil
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
