// Package diagnose decides, from the Mycroft-style trace records that
// package collective's Tracer writes for every rank of a ring (one
// "completion" record per collective, a "state" snapshot of per-channel
// chunk counters every interval while one is in flight), whether the ring
// is unhealthy and where the fault is, after Deng et al., "Mycroft: Tracing
// Dependencies in Collective Communication Towards Reliable LLM Training"
// (arXiv 2509.03018).
//
// Detect finds anomalies: a hang (a collective in flight whose channels
// have stopped moving) or a slowdown (recent collectives much longer than
// the rank's own early ones). Localize turns an anomaly into a Diagnosis:
// a root-cause rank (it never entered the collective, or entered late:
// "rank-not-entered"; it entered and froze: "rank-stalled") or a root-cause
// link r→r+1 (chunks written and never received: "link-stalled"; chunks
// queueing in front of one link only: "link-slow"), with the numbers used
// as evidence. The rules follow the ring's dependency structure: rank r
// receives only from r-1 and sends only to r+1, and after its first step
// it can only send what it has received, so a fault shows up as waiting
// that points, link by link, towards where it started (see Localize).
//
// Everything here is a pure function of decoded records; the only I/O is
// Decoder, which reads the JSON lines from an io.Reader. Times compared
// across ranks are the records' Unix times (unix_ns, start_unix_ns,
// end_unix_ns), so ranks on different hosts need synchronised clocks to
// within a small fraction of the thresholds.
package diagnose

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Completion is a "completion" record: one collective of one rank ended.
type Completion struct {
	Op          uint64 `json:"op"`
	Rank        int    `json:"rank"`
	N           int    `json:"n"`
	Bytes       int64  `json:"bytes"`
	Left        int    `json:"left"`
	Right       int    `json:"right"`
	Channels    int    `json:"channels"`
	StartMonoNS int64  `json:"start_mono_ns"`
	EndMonoNS   int64  `json:"end_mono_ns"`
	StartUnixNS int64  `json:"start_unix_ns"`
	EndUnixNS   int64  `json:"end_unix_ns"`
	DurationNS  int64  `json:"duration_ns"`
	ChunksSent  int64  `json:"chunks_sent"`
	ChunksRecvd int64  `json:"chunks_recvd"`
	Error       string `json:"error,omitempty"`
}

// Duration is the collective's wall time.
func (c *Completion) Duration() time.Duration { return time.Duration(c.DurationNS) }

// ChannelState is one channel of a "state" record. Ready, Sent and Acked
// count chunks for the right neighbour (queued, written, acknowledged by
// it) out of ToSend; Recvd counts chunks from the left one out of ToRecv.
type ChannelState struct {
	Ch              int   `json:"ch"`
	Right           int   `json:"right"`
	Left            int   `json:"left"`
	Ready           int64 `json:"ready"`
	Sent            int64 `json:"sent"`
	Acked           int64 `json:"acked"`
	ToSend          int64 `json:"to_send"`
	Recvd           int64 `json:"recvd"`
	ToRecv          int64 `json:"to_recv"`
	SinceSendNS     int64 `json:"since_send_ns"`
	SinceRecvNS     int64 `json:"since_recv_ns"`
	SinceProgressNS int64 `json:"since_progress_ns"`
}

// Unacked is the number of chunks written to the right neighbour and not
// yet acknowledged by it.
func (c *ChannelState) Unacked() int64 { return c.Sent - c.Acked }

// Done reports whether the channel has nothing left to send or receive.
func (c *ChannelState) Done() bool { return c.Acked >= c.ToSend && c.Recvd >= c.ToRecv }

// State is a "state" record: a snapshot of one rank's collective in
// flight.
type State struct {
	Op        uint64         `json:"op"`
	Rank      int            `json:"rank"`
	MonoNS    int64          `json:"mono_ns"`
	UnixNS    int64          `json:"unix_ns"`
	ElapsedNS int64          `json:"elapsed_ns"`
	Channels  []ChannelState `json:"channels"`
}

// Record is one decoded trace line: exactly one of Completion and State is
// set.
type Record struct {
	Completion *Completion
	State      *State
}

// Rank is the rank the record is about.
func (r Record) Rank() int {
	if r.Completion != nil {
		return r.Completion.Rank
	}
	if r.State != nil {
		return r.State.Rank
	}
	return -1
}

// Decoder reads trace records from JSON lines.
type Decoder struct{ d *json.Decoder }

// NewDecoder returns a decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{d: json.NewDecoder(r)} }

// Next returns the next record, or io.EOF after the last. Records of an
// unknown type are skipped; a malformed record is an error.
func (d *Decoder) Next() (Record, error) {
	for {
		var raw json.RawMessage
		if err := d.d.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return Record{}, fmt.Errorf("decoding trace record: %w", err)
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return Record{}, fmt.Errorf("decoding trace record: %w", err)
		}
		switch head.Type {
		case "completion":
			c := new(Completion)
			if err := json.Unmarshal(raw, c); err != nil {
				return Record{}, fmt.Errorf("decoding completion record: %w", err)
			}
			return Record{Completion: c}, nil
		case "state":
			s := new(State)
			if err := json.Unmarshal(raw, s); err != nil {
				return Record{}, fmt.Errorf("decoding state record: %w", err)
			}
			return Record{State: s}, nil
		}
	}
}

// DecodeAll reads every record from r.
func DecodeAll(r io.Reader) ([]Record, error) {
	d := NewDecoder(r)
	var out []Record
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

// MaxStates is how many recent state snapshots a RankView keeps.
const MaxStates = 1024

// RankView is what the records say about one rank.
type RankView struct {
	Rank int
	// Latest is the newest state snapshot (nil before the first).
	Latest *State
	// States are the most recent snapshots, oldest first, at most
	// MaxStates.
	States []State
	// Completions are the completion records in op order.
	Completions []Completion
}

// LastCompleted is the op of the newest completion (0 if none).
func (v *RankView) LastCompleted() uint64 {
	if len(v.Completions) == 0 {
		return 0
	}
	return v.Completions[len(v.Completions)-1].Op
}

// InFlight returns the snapshot of the collective the rank is in, if the
// newest snapshot is of an op that has not completed.
func (v *RankView) InFlight() (*State, bool) {
	if v.Latest != nil && v.Latest.Op > v.LastCompleted() {
		return v.Latest, true
	}
	return nil, false
}

// Op is the newest op the rank is known to have entered (0 if none).
func (v *RankView) Op() uint64 {
	if s, ok := v.InFlight(); ok {
		return s.Op
	}
	return v.LastCompleted()
}

// LastSeen is the Unix time of the rank's newest record (0 if none).
func (v *RankView) LastSeen() int64 {
	var t int64
	if v.Latest != nil {
		t = v.Latest.UnixNS
	}
	if n := len(v.Completions); n > 0 {
		t = max(t, v.Completions[n-1].EndUnixNS)
	}
	return t
}

// completion returns the rank's completion of op.
func (v *RankView) completion(op uint64) (*Completion, bool) {
	i := sort.Search(len(v.Completions), func(i int) bool { return v.Completions[i].Op >= op })
	if i < len(v.Completions) && v.Completions[i].Op == op {
		return &v.Completions[i], true
	}
	return nil, false
}

// Ring is the view of a ring of N ranks built from their records; rank r
// receives from r-1 and sends to r+1 (mod N).
type Ring struct {
	N     int
	Ranks []RankView
}

// NewRing returns an empty view of a ring of n ranks.
func NewRing(n int) *Ring {
	g := &Ring{}
	g.grow(n)
	return g
}

func (g *Ring) grow(n int) {
	for len(g.Ranks) < n {
		g.Ranks = append(g.Ranks, RankView{Rank: len(g.Ranks)})
	}
	g.N = len(g.Ranks)
}

// Add folds one record into the view. Records of one rank should come in
// the order that rank wrote them; ranks may interleave freely. The ring
// grows to cover a record's rank (and a completion's n).
func (g *Ring) Add(rec Record) {
	switch {
	case rec.Completion != nil:
		c := *rec.Completion
		if c.Rank < 0 {
			return
		}
		g.grow(max(c.Rank+1, c.N))
		v := &g.Ranks[c.Rank]
		i := sort.Search(len(v.Completions), func(i int) bool { return v.Completions[i].Op >= c.Op })
		if i < len(v.Completions) && v.Completions[i].Op == c.Op {
			v.Completions[i] = c
			return
		}
		v.Completions = append(v.Completions, Completion{})
		copy(v.Completions[i+1:], v.Completions[i:])
		v.Completions[i] = c
	case rec.State != nil:
		s := *rec.State
		if s.Rank < 0 {
			return
		}
		g.grow(s.Rank + 1)
		v := &g.Ranks[s.Rank]
		if v.Latest != nil && (s.Op < v.Latest.Op || s.Op == v.Latest.Op && s.UnixNS < v.Latest.UnixNS) {
			return // older than what we have
		}
		if len(v.States) == MaxStates {
			v.States = append(v.States[:0], v.States[1:]...)
		}
		v.States = append(v.States, s)
		v.Latest = &v.States[len(v.States)-1]
	}
}

func (g *Ring) left(r int) int  { return ((r-1)%g.N + g.N) % g.N }
func (g *Ring) right(r int) int { return (r + 1) % g.N }
