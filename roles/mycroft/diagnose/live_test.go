package diagnose

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/roles/collective"
)

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

func (s *syncBuf) snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// gate wraps one rank's in-memory transport: once the rank has moved
// after chunks (sends plus receives), its Send (stallSend) and/or Recv
// (stallRecv) block until the ring is aborted, as a wedged rank or a dead
// link would.
type gate struct {
	collective.Transport
	collective.Acker
	collective.Channeler
	inner                collective.Aborter
	after                int64
	moved                atomic.Int64
	stallSend, stallRecv bool
	once                 sync.Once
	release              chan struct{}
}

func (g *gate) Abort() {
	g.once.Do(func() { close(g.release) })
	g.inner.Abort()
}

func (g *gate) block() error {
	<-g.release
	return collective.ErrAborted
}

func (g *gate) Send(ch int, b []byte) error {
	if g.stallSend && g.moved.Load() >= g.after {
		return g.block()
	}
	g.moved.Add(1)
	return g.Transport.Send(ch, b)
}

func (g *gate) Recv(ch int, b []byte) error {
	if g.stallRecv && g.moved.Load() >= g.after {
		return g.block()
	}
	g.moved.Add(1)
	return g.Transport.Recv(ch, b)
}

// TestLiveRing runs real collectives on an in-memory ring with a fault on
// rank x, feeding the tracers' output to Detect and Localize while the
// ring hangs, as an analyzer would.
func TestLiveRing(t *testing.T) {
	const n, nc, x = 4, 2, 2
	for _, tc := range []struct {
		name                 string
		skip                 bool // rank x does not call the second AllReduce
		stallSend, stallRecv bool
		class                string
		rank, from, to       int
	}{
		{name: "not-entered", skip: true, class: RankNotEntered, rank: x, from: -1, to: -1},
		// Its sender wedges; it still receives, so chunks pile up ready.
		{name: "rank-stalled", stallSend: true, class: RankStalled, rank: x, from: -1, to: -1},
		{name: "link-stalled", stallRecv: true, class: LinkStalled, rank: -1, from: x - 1, to: x},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := collective.MemRing(n, nc, 4)
			gates := make([]collective.Transport, n)
			for r := range n {
				tr := ts[r]
				gt := &gate{Transport: tr, Acker: tr.(collective.Acker), Channeler: tr.(collective.Channeler),
					inner: tr.(collective.Aborter), after: 1 << 62, release: make(chan struct{})}
				gates[r] = gt
			}
			bufs := make([]*syncBuf, n)
			trs := make([]*collective.Tracer, n)
			for r := range n {
				bufs[r] = &syncBuf{}
				trs[r] = collective.NewTracer(bufs[r], 5*time.Millisecond)
				defer trs[r].Close()
			}
			opts := collective.Options{ChunkBytes: 1 << 10, Channels: nc}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			run := func(skip int) chan error {
				errs := make(chan error, n)
				for r := range n {
					if r == skip {
						continue
					}
					go func() {
						data := make([]float32, 8<<10)
						errs <- collective.AllReduce(ctx, r, n, data, gates[r], opts, trs[r])
					}()
				}
				return errs
			}
			errs := run(-1) // a healthy first op
			for range n {
				require.NoError(t, <-errs)
			}
			skip := -1
			if tc.skip {
				skip = x
			} else {
				g := gates[x].(*gate)
				g.stallSend, g.stallRecv = tc.stallSend, tc.stallRecv
				g.after = g.moved.Load() + 10
			}
			running := n
			if skip >= 0 {
				running--
			}
			errs = run(skip)
			o := Options{HangAfter: 100 * time.Millisecond}
			var d Diagnosis
			start := time.Now()
			for {
				require.Less(t, time.Since(start), 10*time.Second, "no hang detected")
				time.Sleep(10 * time.Millisecond)
				now := time.Now() // before reading: the records are as of now
				g := NewRing(n)
				for r := range n {
					recs, err := DecodeAll(bytes.NewReader(bufs[r].snapshot()))
					require.NoError(t, err)
					for _, rec := range recs {
						g.Add(rec)
					}
				}
				as := Detect(g, now, o)
				if len(as) == 0 {
					continue
				}
				require.Equal(t, Hang, as[0].Kind, fmt.Sprint(as[0]))
				d = Localize(g, as[0])
				break
			}
			t.Log(d)
			cancel()
			for range running {
				require.Error(t, <-errs)
			}
			require.Equal(t, tc.class, d.Class, d.String())
			require.Equal(t, tc.rank, d.Rank)
			require.Equal(t, tc.from, d.From)
			require.Equal(t, tc.to, d.To)
		})
	}
}
