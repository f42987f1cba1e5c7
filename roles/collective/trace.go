package collective

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Tracer writes Mycroft-style records of one rank's collectives to an
// io.Writer as JSON lines:
//
//	{"type":"completion","op":1,"rank":0,"n":4,"bytes":4096,"left":3,"right":1,
//	 "channels":2,"start_mono_ns":…,"end_mono_ns":…,"start_unix_ns":…,
//	 "end_unix_ns":…,"duration_ns":…,"chunks_sent":…,"chunks_recvd":…}
//
// once per collective when it ends (with "error":"…" if it failed), and
//
//	{"type":"state","op":1,"rank":0,"mono_ns":…,"unix_ns":…,"elapsed_ns":…,
//	 "channels":[{"ch":0,"right":1,"left":3,"ready":…,"sent":…,"acked":…,
//	 "to_send":…,"recvd":…,"to_recv":…,"since_send_ns":…,"since_recv_ns":…,
//	 "since_progress_ns":…},…]}
//
// every interval while one is in flight: one goroutine per Tracer ticks
// every interval from the first collective on and, at each tick, writes
// the state of the collective in flight, if any (so collectives shorter
// than the interval are sampled at the rate their share of time says, as
// Mycroft's agent samples), until Close. Per channel, ready, sent and
// acked count chunks for the right neighbour (produced locally and queued,
// written, acknowledged by it) out of to_send; recvd counts chunks from the
// left neighbour out of to_recv. since_send_ns is the time since the send
// side last moved (ready, sent or acked), since_recv_ns since the last
// chunk arrived, since_progress_ns the smaller: a channel whose peer has
// stalled shows it growing. Monotonic times count from NewTracer.
//
// The counters are atomics updated by the channel goroutines; records are
// built by hand into a reused buffer. A nil *Tracer traces nothing and
// costs a nil check per event.
type Tracer struct {
	w        io.Writer
	interval time.Duration
	base     time.Time
	seq      atomic.Uint64
	cur      atomic.Pointer[opTrace] // the collective in flight

	start     sync.Once // starts the snapshot goroutine
	started   atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}

	mu  sync.Mutex // guards w, buf, err
	buf []byte
	err error
}

// DefaultInterval is the state snapshot period when NewTracer gets 0.
const DefaultInterval = 100 * time.Millisecond

// NewTracer returns a tracer writing to w, taking state snapshots every
// interval (0 means DefaultInterval, negative means no state records).
func NewTracer(w io.Writer, interval time.Duration) *Tracer {
	if interval == 0 {
		interval = DefaultInterval
	}
	return &Tracer{w: w, interval: interval, base: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
}

// Close stops the snapshot goroutine. Records of collectives that end
// after it are still written; their state is no longer sampled.
func (t *Tracer) Close() {
	if t == nil {
		return
	}
	t.closeOnce.Do(func() {
		close(t.stop)
		t.start.Do(func() {}) // no snapshot goroutine after this
		if t.started.Load() {
			<-t.done
		}
	})
}

func (t *Tracer) snapshots() {
	defer close(t.done)
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			if op := t.cur.Load(); op != nil {
				op.writeState()
			}
		}
	}
}

// Err returns the first error writing a record.
func (t *Tracer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *Tracer) now() int64 { return int64(time.Since(t.base)) }

// chanTrace holds one channel's counters, padded to a cache line pair so
// channels do not share lines.
type chanTrace struct {
	ready, sent, acked, recvd atomic.Int64
	lastSend, lastRecv        atomic.Int64 // mono ns
	toSend, toRecv            int64
	_                         [64]byte
}

// opTrace is the trace of one collective in flight.
type opTrace struct {
	t           *Tracer
	seq         uint64
	rank, n     int
	left, right int
	bytes       int64
	noAck       bool
	ch          []chanTrace
	startMono   int64
	startWall   time.Time
}

func (t *Tracer) begin(rank, n int, bytes int64, plans []*plan, acks bool) *opTrace {
	if t == nil {
		return nil
	}
	op := &opTrace{
		t: t, seq: t.seq.Add(1), rank: rank, n: n,
		left: mod(rank-1, n), right: mod(rank+1, n),
		bytes: bytes, noAck: !acks,
		ch:        make([]chanTrace, len(plans)),
		startWall: time.Now(),
	}
	op.startMono = int64(op.startWall.Sub(t.base))
	for i, p := range plans {
		c := &op.ch[i]
		c.toSend, c.toRecv = int64(p.nSend), int64(p.nRecv)
		c.ready.Store(int64(p.first))
		c.lastSend.Store(op.startMono)
		c.lastRecv.Store(op.startMono)
	}
	if t.interval > 0 {
		t.start.Do(func() {
			t.started.Store(true)
			go t.snapshots()
		})
	}
	t.cur.Store(op)
	return op
}

func (op *opTrace) ready(ch int) {
	if op == nil {
		return
	}
	c := &op.ch[ch]
	c.ready.Add(1)
	c.lastSend.Store(op.t.now())
}

func (op *opTrace) sent(ch int) {
	if op == nil {
		return
	}
	c := &op.ch[ch]
	c.sent.Add(1)
	if op.noAck {
		c.acked.Add(1)
	}
	c.lastSend.Store(op.t.now())
}

func (op *opTrace) acked(ch int, n int64) {
	if op == nil {
		return
	}
	c := &op.ch[ch]
	c.acked.Add(n)
	c.lastSend.Store(op.t.now())
}

func (op *opTrace) recvd(ch int) {
	if op == nil {
		return
	}
	c := &op.ch[ch]
	c.recvd.Add(1)
	c.lastRecv.Store(op.t.now())
}

func (op *opTrace) end(err error) {
	if op == nil {
		return
	}
	// Clear cur before taking mu: a snapshot that loaded op checks cur
	// again under mu, so no state record of op follows its completion.
	op.t.cur.CompareAndSwap(op, nil)
	endWall := time.Now()
	var sent, recvd int64
	for i := range op.ch {
		sent += op.ch[i].sent.Load()
		recvd += op.ch[i].recvd.Load()
	}
	t := op.t
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf[:0]
	b = append(b, `{"type":"completion","op":`...)
	b = strconv.AppendUint(b, op.seq, 10)
	b = op.appendHead(b)
	b = appendInt(b, "n", int64(op.n))
	b = appendInt(b, "bytes", op.bytes)
	b = appendInt(b, "left", int64(op.left))
	b = appendInt(b, "right", int64(op.right))
	b = appendInt(b, "channels", int64(len(op.ch)))
	b = appendInt(b, "start_mono_ns", op.startMono)
	b = appendInt(b, "end_mono_ns", int64(endWall.Sub(t.base)))
	b = appendInt(b, "start_unix_ns", op.startWall.UnixNano())
	b = appendInt(b, "end_unix_ns", endWall.UnixNano())
	b = appendInt(b, "duration_ns", int64(endWall.Sub(op.startWall)))
	b = appendInt(b, "chunks_sent", sent)
	b = appendInt(b, "chunks_recvd", recvd)
	if err != nil {
		msg, _ := json.Marshal(err.Error())
		b = append(b, `,"error":`...)
		b = append(b, msg...)
	}
	b = append(b, "}\n"...)
	t.writeLocked(b)
}

func (op *opTrace) writeState() {
	t := op.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur.Load() != op {
		return // ended meanwhile
	}
	nowWall := time.Now()
	now := int64(nowWall.Sub(t.base))
	b := t.buf[:0]
	b = append(b, `{"type":"state","op":`...)
	b = strconv.AppendUint(b, op.seq, 10)
	b = op.appendHead(b)
	b = appendInt(b, "mono_ns", now)
	b = appendInt(b, "unix_ns", nowWall.UnixNano())
	b = appendInt(b, "elapsed_ns", now-op.startMono)
	b = append(b, `,"channels":[`...)
	for i := range op.ch {
		c := &op.ch[i]
		if i > 0 {
			b = append(b, ',')
		}
		// Read acked before sent and sent before ready; an
		// acknowledgement can still be counted just before its send is,
		// so clamp: a snapshot never shows more acked than sent.
		acked := c.acked.Load()
		sent := c.sent.Load()
		ready := c.ready.Load()
		acked = min(acked, sent)
		recvd := c.recvd.Load()
		ss := max(0, now-c.lastSend.Load())
		sr := max(0, now-c.lastRecv.Load())
		b = append(b, `{"ch":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = appendInt(b, "right", int64(op.right))
		b = appendInt(b, "left", int64(op.left))
		b = appendInt(b, "ready", ready)
		b = appendInt(b, "sent", sent)
		b = appendInt(b, "acked", acked)
		b = appendInt(b, "to_send", c.toSend)
		b = appendInt(b, "recvd", recvd)
		b = appendInt(b, "to_recv", c.toRecv)
		b = appendInt(b, "since_send_ns", ss)
		b = appendInt(b, "since_recv_ns", sr)
		b = appendInt(b, "since_progress_ns", min(ss, sr))
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	t.writeLocked(b)
}

func (op *opTrace) appendHead(b []byte) []byte {
	return appendInt(b, "rank", int64(op.rank))
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func (t *Tracer) writeLocked(b []byte) {
	t.buf = b
	if t.err != nil {
		return
	}
	if _, err := t.w.Write(b); err != nil {
		t.err = err
	}
}
