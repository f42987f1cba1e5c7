package collective

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpRing connects n ranks on loopback with nc channels each.
func tcpRing(tb testing.TB, n, nc int) []*TCP {
	tb.Helper()
	return tcpRingWith(tb, n, TCPOptions{Channels: nc})
}

// tcpRingWith connects n ranks on loopback with options o.
func tcpRingWith(tb testing.TB, n int, o TCPOptions) []*TCP {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lns := make([]*net.TCPListener, n)
	for r := range n {
		ln, err := Listen(ctx, "127.0.0.1:0", o)
		require.NoError(tb, err)
		lns[r] = ln
	}
	ts := make([]*TCP, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			ts[r], errs[r] = Connect(ctx, lns[r], r, n, lns[mod(r+1, n)].Addr().String(), o)
		})
	}
	wg.Wait()
	for r := range n {
		require.NoError(tb, errs[r])
		require.NoError(tb, lns[r].Close())
	}
	return ts
}

func closeAll(ts []*TCP) {
	for _, t := range ts {
		t.Close()
	}
}

// syncBuf is a bytes.Buffer safe to read while a tracer writes it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type chanState struct {
	Ch, Right, Left                int
	Ready, Sent, Acked, ToSend     int64
	Recvd, ToRecv                  int64
	SinceSend, SinceRecv, Progress int64
}

type record struct {
	Type                    string
	Op, Rank, N             int
	Bytes                   int64
	Left, Right, ChannelsN  int
	StartMono, EndMono      int64
	StartUnix, EndUnix      int64
	Duration                int64
	ChunksSent, ChunksRecvd int64
	Error                   string
	Mono, Elapsed           int64
	Channels                []chanState
}

// parse decodes a tracer's output; it fails the test on a malformed line.
func parse(t *testing.T, s string) []record {
	t.Helper()
	var out []record
	sc := bufio.NewScanner(bytes.NewBufferString(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		var r record
		get := func(k string, v any) {
			if raw, ok := m[k]; ok {
				require.NoError(t, json.Unmarshal(raw, v), k)
			}
		}
		get("type", &r.Type)
		get("op", &r.Op)
		get("rank", &r.Rank)
		get("n", &r.N)
		get("bytes", &r.Bytes)
		get("left", &r.Left)
		get("right", &r.Right)
		get("start_mono_ns", &r.StartMono)
		get("end_mono_ns", &r.EndMono)
		get("start_unix_ns", &r.StartUnix)
		get("end_unix_ns", &r.EndUnix)
		get("duration_ns", &r.Duration)
		get("chunks_sent", &r.ChunksSent)
		get("chunks_recvd", &r.ChunksRecvd)
		get("error", &r.Error)
		get("mono_ns", &r.Mono)
		get("elapsed_ns", &r.Elapsed)
		if r.Type == "completion" {
			get("channels", &r.ChannelsN)
		} else {
			var chs []map[string]int64
			get("channels", &chs)
			for _, c := range chs {
				r.Channels = append(r.Channels, chanState{
					Ch: int(c["ch"]), Right: int(c["right"]), Left: int(c["left"]),
					Ready: c["ready"], Sent: c["sent"], Acked: c["acked"], ToSend: c["to_send"],
					Recvd: c["recvd"], ToRecv: c["to_recv"],
					SinceSend: c["since_send_ns"], SinceRecv: c["since_recv_ns"], Progress: c["since_progress_ns"],
				})
			}
		}
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

func of(recs []record, typ string) []record {
	var out []record
	for _, r := range recs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// settleGoroutines waits up to 3 s for the goroutine count to fall to want.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > want {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after\n%s", want, got, buf[:runtime.Stack(buf, true)])
	}
}

func TestAllReduceTCP(t *testing.T) {
	for _, lowat := range []bool{false, true} {
		t.Run(fmt.Sprintf("recv_lowat=%v", lowat), func(t *testing.T) { testAllReduceTCP(t, lowat) })
	}
}

func testAllReduceTCP(t *testing.T, lowat bool) {
	before := runtime.NumGoroutine()
	const n, nc, l, ops = 4, 2, 100_003, 3
	ts := tcpRingWith(t, n, TCPOptions{Channels: nc, RecvLowat: lowat})
	bufs := make([]*syncBuf, n)
	trs := make([]*Tracer, n)
	for r := range n {
		bufs[r] = &syncBuf{}
		trs[r] = NewTracer(bufs[r], 0)
	}
	tps := make([]Transport, n)
	for r := range n {
		tps[r] = ts[r]
	}
	o := Options{ChunkBytes: 16 << 10, Channels: nc}
	for range ops {
		data, want := inputs(n, l)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs := runRing(ctx, data, tps, o, trs)
		cancel()
		for r := range n {
			require.NoError(t, errs[r], "rank %d", r)
			require.Equal(t, want, data[r], "rank %d", r)
		}
	}
	closeAll(ts)
	for r := range n {
		require.NoError(t, trs[r].Err())
		comp := of(parse(t, bufs[r].String()), "completion")
		require.Len(t, comp, ops, "rank %d", r)
		var chunks int64
		for ch := range nc {
			p := makePlan(r, n, l, o, ch)
			chunks += int64(p.nSend)
			assert.Equal(t, p.nSend, p.nRecv)
		}
		for i, c := range comp {
			assert.Equal(t, i+1, c.Op)
			assert.Equal(t, r, c.Rank)
			assert.Equal(t, n, c.N)
			assert.Equal(t, int64(l*4), c.Bytes)
			assert.Equal(t, mod(r-1, n), c.Left)
			assert.Equal(t, mod(r+1, n), c.Right)
			assert.Equal(t, nc, c.ChannelsN)
			assert.Equal(t, chunks, c.ChunksSent)
			assert.Equal(t, chunks, c.ChunksRecvd)
			assert.Empty(t, c.Error)
			assert.Positive(t, c.Duration)
			assert.GreaterOrEqual(t, c.EndMono, c.StartMono)
			assert.GreaterOrEqual(t, c.EndUnix, c.StartUnix)
		}
	}
	for _, tr := range trs {
		tr.Close()
	}
	settleGoroutines(t, before)
}

// gated is a TCP transport whose Send sleeps delay per chunk and, from
// its stallAt-th chunk on, waits for gate to close (or an abort).
type gated struct {
	*TCP
	delay   time.Duration
	stallAt int64
	gate    chan struct{}
	sends   atomic.Int64
	aborted chan struct{}
	once    sync.Once
}

func newGated(t *TCP, delay time.Duration, stallAt int64) *gated {
	return &gated{TCP: t, delay: delay, stallAt: stallAt, gate: make(chan struct{}), aborted: make(chan struct{})}
}

func (g *gated) Send(ch int, b []byte) error {
	if k := g.sends.Add(1); g.stallAt > 0 && k >= g.stallAt {
		select {
		case <-g.gate:
		case <-g.aborted:
			return ErrAborted
		}
	}
	if g.delay > 0 {
		select {
		case <-time.After(g.delay):
		case <-g.aborted:
			return ErrAborted
		}
	}
	return g.TCP.Send(ch, b)
}

func (g *gated) Abort() {
	g.once.Do(func() { close(g.aborted) })
	g.TCP.Abort()
}

func TestTraceStates(t *testing.T) {
	before := runtime.NumGoroutine()
	const n, nc, l = 4, 2, 40_000
	const stalled = 2
	const stall = 600 * time.Millisecond
	ts := tcpRing(t, n, nc)
	bufs := make([]*syncBuf, n)
	trs := make([]*Tracer, n)
	tps := make([]Transport, n)
	var g *gated
	for r := range n {
		bufs[r] = &syncBuf{}
		trs[r] = NewTracer(bufs[r], 20*time.Millisecond)
		if r == stalled {
			g = newGated(ts[r], 2*time.Millisecond, 10)
			tps[r] = g
		} else {
			tps[r] = newGated(ts[r], 2*time.Millisecond, 0)
		}
	}
	time.AfterFunc(stall, func() { close(g.gate) })
	o := Options{ChunkBytes: 4 << 10, Channels: nc}
	data, want := inputs(n, l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	errs := runRing(ctx, data, tps, o, trs)
	cancel()
	closeAll(ts)
	for r := range n {
		require.NoError(t, errs[r], "rank %d", r)
		require.Equal(t, want, data[r], "rank %d", r)
	}
	for r := range n {
		recs := parse(t, bufs[r].String())
		require.Len(t, of(recs, "completion"), 1)
		states := of(recs, "state")
		require.GreaterOrEqual(t, len(states), 10, "rank %d: too few state records", r)
		var maxStall int64
		for i, s := range states {
			require.Equal(t, 1, s.Op)
			require.Len(t, s.Channels, nc)
			for ch, c := range s.Channels {
				p := makePlan(r, n, l, o, ch)
				assert.Equal(t, ch, c.Ch)
				assert.Equal(t, mod(r+1, n), c.Right)
				assert.Equal(t, mod(r-1, n), c.Left)
				assert.Equal(t, int64(p.nSend), c.ToSend)
				assert.Equal(t, int64(p.nRecv), c.ToRecv)
				assert.True(t, c.Acked <= c.Sent && c.Sent <= c.Ready && c.Ready <= c.ToSend,
					"rank %d record %d ch %d: acked %d sent %d ready %d of %d", r, i, ch, c.Acked, c.Sent, c.Ready, c.ToSend)
				assert.LessOrEqual(t, c.Recvd, c.ToRecv)
				assert.Equal(t, min(c.SinceSend, c.SinceRecv), c.Progress)
				if i > 0 {
					prev := states[i-1].Channels[ch]
					assert.GreaterOrEqual(t, c.Ready, prev.Ready)
					assert.GreaterOrEqual(t, c.Sent, prev.Sent)
					assert.GreaterOrEqual(t, c.Acked, prev.Acked)
					assert.GreaterOrEqual(t, c.Recvd, prev.Recvd)
					assert.Greater(t, s.Mono, states[i-1].Mono)
				}
				maxStall = max(maxStall, c.Progress)
			}
		}
		// While rank 2 is held, the whole ring stops: every rank's
		// time since progress must climb to most of the stall, and it
		// must be seen growing over consecutive snapshots.
		assert.Greater(t, maxStall, int64(stall/2), "rank %d: longest stall seen %v", r, time.Duration(maxStall))
		grew := 0
		for i := 1; i < len(states); i++ {
			if states[i].Channels[0].Progress > states[i-1].Channels[0].Progress {
				grew++
			}
		}
		assert.GreaterOrEqual(t, grew, 5, "rank %d: time since progress grew in %d snapshots", r, grew)
	}
	for _, tr := range trs {
		tr.Close()
	}
	settleGoroutines(t, before)
}

func TestCancelUnblocks(t *testing.T) {
	before := runtime.NumGoroutine()
	const n, nc, l = 4, 2, 100_000
	ts := tcpRing(t, n, nc)
	tps := make([]Transport, n)
	for r := range n {
		tps[r] = newGated(ts[r], 0, 0)
	}
	// Rank 1 holds its sends forever, so the ring hangs until rank 0's
	// context ends; only rank 0 is cancelled, the others must learn of it
	// from their connections failing.
	tps[1] = newGated(ts[1], 0, 3)
	data, _ := inputs(n, l)
	ctx0, cancel0 := context.WithCancel(context.Background())
	errs := make([]error, n)
	trs := make([]*Tracer, n)
	var wg sync.WaitGroup
	for r := range n {
		ctx := context.Background()
		if r == 0 {
			ctx = ctx0
		}
		trs[r] = NewTracer(&syncBuf{}, 10*time.Millisecond)
		wg.Go(func() {
			errs[r] = AllReduce(ctx, r, n, data[r], tps[r], Options{ChunkBytes: 4 << 10, Channels: nc}, trs[r])
		})
	}
	time.Sleep(200 * time.Millisecond)
	cancel0()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AllReduce did not return after cancel")
	}
	for r := range n {
		require.Error(t, errs[r], "rank %d", r)
	}
	assert.True(t, errors.Is(errs[0], context.Canceled), "rank 0: %v", errs[0])
	closeAll(ts)
	// A context already cancelled fails at once.
	assert.ErrorIs(t, AllReduce(ctx0, 0, 2, []float32{1}, MemRing(2, 1, 1)[0], Options{}, nil), context.Canceled)
	for _, tr := range trs {
		tr.Close()
	}
	settleGoroutines(t, before)
}

func TestConnectRejectsWrongPeer(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ln, err := Listen(ctx, "127.0.0.1:0", TCPOptions{})
	require.NoError(t, err)
	defer ln.Close()
	// Rank 0 of 3 listens for rank 2; rank 1 dials it as if it were its
	// right neighbour: rank 0 must drop that connection and time out.
	ln1, err := Listen(ctx, "127.0.0.1:0", TCPOptions{})
	require.NoError(t, err)
	defer ln1.Close()
	var wg sync.WaitGroup
	var err0, err1 error
	wg.Go(func() { _, err0 = Connect(ctx, ln, 0, 3, ln1.Addr().String(), TCPOptions{}) })
	wg.Go(func() { _, err1 = Connect(ctx, ln1, 1, 3, ln.Addr().String(), TCPOptions{}) })
	wg.Wait()
	assert.Error(t, err0)
	assert.Error(t, err1)
	ln.Close()
	ln1.Close()
	settleGoroutines(t, before)
}

// With RecvLowat, Recv raises the socket's receive low-water mark to the
// bytes it still needs; it must lower it again as they arrive, or a chunk
// whose last bytes are fewer than the mark (the sender then waits for an
// acknowledgement and sends nothing more) would never wake the reader.
func TestRecvWakesForTheLastBytes(t *testing.T) {
	ts := tcpRingWith(t, 2, TCPOptions{Channels: 1, RecvLowat: true})
	defer closeAll(ts)
	recv := func(n int) ([]byte, error) {
		b := make([]byte, n)
		done := make(chan error, 1)
		go func() { done <- ts[1].Recv(0, b) }()
		select {
		case err := <-done:
			return b, err
		case <-time.After(5 * time.Second):
			ts[1].Abort()
			<-done
			return nil, errors.New("Recv still waiting 5 s after its last bytes were sent")
		}
	}
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	// The first part arrives alone, the rest 50 ms later.
	go func() {
		ts[0].Send(0, data[:1000])
		time.Sleep(50 * time.Millisecond)
		ts[0].Send(0, data[1000:])
	}()
	got, err := recv(len(data))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	// A small read after a large one: the mark must come down to it.
	go ts[0].Send(0, data[:10])
	got, err = recv(10)
	require.NoError(t, err)
	assert.Equal(t, data[:10], got)
	// A sender that goes away mid-chunk fails the read.
	go func() {
		ts[0].Send(0, data[:100])
		ts[0].Close()
	}()
	_, err = recv(1000)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}
