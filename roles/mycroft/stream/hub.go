package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Keep is how many recent records a Hub holds for readers that ask for
// everything late (at the default 100 ms snapshots, well over a minute
// of one collective in flight).
const Keep = 1024

// Hub is an io.Writer for a collective.Tracer (one record per Write)
// that keeps the last Keep records and lets any number of readers follow
// them.
type Hub struct {
	mu     sync.Mutex
	cond   *sync.Cond
	recs   [][]byte // ring of the last Keep records
	next   uint64   // sequence number of the next record written
	closed bool

	// Dropped counts records readers skipped because they fell behind.
	Dropped atomic.Int64
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	h := &Hub{recs: make([][]byte, Keep)}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// Write keeps a copy of one record. It never blocks on readers.
func (h *Hub) Write(b []byte) (int, error) {
	rec := append([]byte(nil), b...)
	h.mu.Lock()
	h.recs[h.next%Keep] = rec
	h.next++
	h.mu.Unlock()
	h.cond.Broadcast()
	return len(b), nil
}

// Close wakes every reader; they end once they have sent what is held.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cond.Broadcast()
}

func (h *Hub) oldest() uint64 {
	if h.next > Keep {
		return h.next - Keep
	}
	return 0
}

// Serve accepts analyzers on ln until ctx ends, serving each from h with
// hello as its first line.
func (h *Hub) Serve(ctx context.Context, ln net.Listener, hello Hello) error {
	hello.Type = "hello"
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var conns sync.Map
	defer conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		conns.Store(c, true)
		wg.Go(func() {
			defer conns.Delete(c)
			defer c.Close()
			h.serveConn(ctx, c, hello)
		})
	}
}

// serveConn sends hello, then records as the reader's latest command says.
func (h *Hub) serveConn(ctx context.Context, c net.Conn, hello Hello) {
	line, _ := json.Marshal(hello)
	if _, err := c.Write(append(line, '\n')); err != nil {
		return
	}
	var want atomic.Value
	want.Store(WantCompletions)
	var replay atomic.Bool
	done := make(chan struct{})
	go func() { // commands
		defer close(done)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var cmd Command
			if json.Unmarshal(sc.Bytes(), &cmd) != nil {
				continue
			}
			if cmd.Want == WantAll || cmd.Want == WantCompletions {
				if cmd.Want == WantAll && want.Load() != WantAll {
					replay.Store(true)
				}
				want.Store(cmd.Want)
				h.cond.Broadcast()
			}
		}
		h.cond.Broadcast()
	}()
	stop := context.AfterFunc(ctx, func() { h.cond.Broadcast() })
	defer stop()

	h.mu.Lock()
	pos := h.next // a new reader starts with what comes next
	h.mu.Unlock()
	w := bufio.NewWriter(c)
	var batch [][]byte
	for {
		h.mu.Lock()
		for {
			gone := ctx.Err() != nil || isClosed(done)
			if replay.Load() {
				replay.Store(false)
				pos = h.oldest()
			}
			if pos < h.oldest() {
				h.Dropped.Add(int64(h.oldest() - pos))
				pos = h.oldest()
			}
			if pos < h.next || gone || h.closed {
				break
			}
			h.cond.Wait()
		}
		all := want.Load() == WantAll
		batch = batch[:0]
		for ; pos < h.next; pos++ {
			if rec := h.recs[pos%Keep]; all || isCompletion(rec) {
				batch = append(batch, rec)
			}
		}
		end := ctx.Err() != nil || isClosed(done) || h.closed
		h.mu.Unlock()
		for _, rec := range batch {
			w.Write(rec)
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if w.Flush() != nil || end {
			return
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
