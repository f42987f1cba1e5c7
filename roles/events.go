package roles

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EventLog writes an instance's events as JSON lines. Every line carries
// the wall-clock time and CLOCK_MONOTONIC in nanoseconds, which all
// processes of a host share, so events of different instances can be put on
// one timeline.
type EventLog struct {
	mu   sync.Mutex
	enc  *json.Encoder
	base map[string]any
}

// NewEventLog writes to w; base fields (instance, node, role) go on every
// line.
func NewEventLog(w io.Writer, base map[string]any) *EventLog {
	return &EventLog{enc: json.NewEncoder(w), base: base}
}

// Emit writes one event of the given kind with extra fields.
func (l *EventLog) Emit(kind string, fields map[string]any) {
	if l == nil {
		return
	}
	line := make(map[string]any, len(l.base)+len(fields)+3)
	for k, v := range l.base {
		line[k] = v
	}
	for k, v := range fields {
		line[k] = v
	}
	line["event"] = kind
	line["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	line["mono_ns"] = MonotonicNS()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.enc.Encode(line)
}

// MonotonicNS reads CLOCK_MONOTONIC, shared by all processes of the host.
func MonotonicNS() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
