package collective

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Transport moves the chunks of one rank: Send to its right neighbour
// (rank+1), Recv from its left one (rank-1), each on channel 0..C-1. Send
// must not keep b after returning. Recv fills all of b. The engine calls
// Send and Recv of one channel from one goroutine each, and different
// channels concurrently.
type Transport interface {
	Send(channel int, b []byte) error
	Recv(channel int, b []byte) error
}

// Acker is implemented by transports that carry acknowledgements from
// receiver back to sender. The engine then acknowledges the chunks it
// receives (SendAck to the left neighbour) and waits for the
// acknowledgements of everything it sent (RecvAck from the right one)
// before AllReduce returns; the tracer counts them as "acked". Without
// it, acked equals sent. Acknowledgements are cumulative: seq says that
// chunks 0..seq of this channel and collective have arrived. Each channel
// has an acknowledging goroutine that sends the latest count whenever it
// has moved, so a receiver that keeps up sends one per chunk and one that
// falls behind sends fewer, larger ones, as NCCL's receiver publishes its
// tail pointer to the sender.
type Acker interface {
	SendAck(channel int, seq uint32) error
	RecvAck(channel int) (uint32, error)
}

// Aborter is implemented by transports that can unblock every pending
// Send, Recv, SendAck and RecvAck (making them fail). AllReduce calls Abort
// when its context ends or a channel fails; the transport is then unusable.
type Aborter interface {
	Abort()
}

// Channeler is implemented by transports that know their channel count;
// AllReduce checks it against Options.Channels.
type Channeler interface {
	Channels() int
}

// AllReduce replaces data, on rank of n, with the element-wise sum of
// every rank's data, running the ring schedule over t. Every rank must call
// it with the same len(data) and opts. Each channel runs a sending and a
// receiving goroutine (and, with an Acker, an acknowledgement reader), so
// channels progress independently. tr may be nil. On error (including ctx
// ending) data is partly reduced and, with an Aborter, t is aborted.
func AllReduce(ctx context.Context, rank, n int, data []float32, t Transport, opts Options, tr *Tracer) error {
	if n < 1 || rank < 0 || rank >= n {
		return fmt.Errorf("allreduce: rank %d of %d is not a rank", rank, n)
	}
	nc := opts.channels()
	if c, ok := t.(Channeler); ok && c.Channels() != nc {
		return fmt.Errorf("allreduce: options ask for %d channels, transport has %d", nc, c.Channels())
	}
	plans := make([]*plan, nc)
	for ch := range plans {
		plans[ch] = makePlan(rank, n, len(data), opts, ch)
	}
	_, acks := t.(Acker)
	op := tr.begin(rank, n, int64(len(data))*4, plans, acks)
	err := run(ctx, rank, data, t, plans, op)
	op.end(err)
	return err
}

func run(ctx context.Context, rank int, data []float32, t Transport, plans []*plan, op *opTrace) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("allreduce rank %d: %w", rank, context.Cause(ctx))
	}
	ictx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if a, ok := t.(Aborter); ok {
		stop := context.AfterFunc(ictx, a.Abort)
		defer stop()
	}
	acker, _ := t.(Acker)
	raw := f32bytes(data)
	var wg sync.WaitGroup
	fail := func(err error) { cancel(err) }
	for ch, p := range plans {
		// ready carries one token per received chunk that a later step
		// forwards, in the order the sender forwards them.
		ready := make(chan struct{}, p.nRecv)
		sent := &chunkCount{poke: make(chan struct{}, 1)}
		var recvd *chunkCount // chunks received, for the acknowledging goroutine
		if acker != nil {
			recvd = &chunkCount{poke: make(chan struct{}, 1)}
		}
		wg.Go(func() {
			if err := sendLoop(ictx, ch, raw, t, p, ready, sent, op); err != nil {
				fail(fmt.Errorf("allreduce rank %d channel %d: %w", rank, ch, err))
			}
		})
		wg.Go(func() {
			if err := recvLoop(ictx, ch, data, raw, t, p, ready, sent, recvd, op); err != nil {
				fail(fmt.Errorf("allreduce rank %d channel %d: %w", rank, ch, err))
			}
		})
		if acker != nil {
			wg.Go(func() {
				if err := ackSendLoop(ictx, ch, acker, p, recvd); err != nil {
					fail(fmt.Errorf("allreduce rank %d channel %d: %w", rank, ch, err))
				}
			})
			wg.Go(func() {
				if err := ackRecvLoop(ch, acker, p, op); err != nil {
					fail(fmt.Errorf("allreduce rank %d channel %d: %w", rank, ch, err))
				}
			})
		}
	}
	wg.Wait()
	if ictx.Err() != nil {
		err := context.Cause(ictx)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("allreduce rank %d: %w (%w)", rank, context.Cause(ctx), err)
		} else if ctx.Err() != nil {
			err = fmt.Errorf("allreduce rank %d: %w", rank, err)
		}
		return err
	}
	return nil
}

// chunkCount counts chunks of one channel and lets a goroutine wait for a
// count. As the count of completed sends it serves the receiver, which
// must not overwrite a chunk (all-gather) before the send that read the
// same place N-1 steps earlier has returned. On a real ring the data
// cannot arrive before then, so the wait never lasts; it makes the
// ordering explicit to the memory model (and the race detector), which
// cannot see causality that runs through the network. As the count of
// received chunks it serves the acknowledging goroutine.
type chunkCount struct {
	n    atomic.Int64
	poke chan struct{}
}

func (c *chunkCount) inc() {
	c.n.Add(1)
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (c *chunkCount) wait(ctx context.Context, n int64) error {
	for c.n.Load() < n {
		select {
		case <-c.poke:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

func sendLoop(ctx context.Context, ch int, raw []byte, t Transport, p *plan, ready <-chan struct{}, sent *chunkCount, op *opTrace) error {
	for s, chunks := range p.send {
		for k, c := range chunks {
			if s > 0 {
				select {
				case <-ready:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			if err := t.Send(ch, raw[c.Off*4:(c.Off+c.Len)*4]); err != nil {
				return fmt.Errorf("step %d: sending chunk %d: %w", s, k, err)
			}
			sent.inc()
			op.sent(ch)
		}
	}
	return nil
}

func recvLoop(ctx context.Context, ch int, data []float32, raw []byte, t Transport, p *plan, ready chan<- struct{}, sent, recvd *chunkCount, op *opTrace) error {
	tmp := make([]float32, p.maxCh)
	tmpRaw := f32bytes(tmp)
	last := len(p.steps) - 1
	n := len(p.steps)/2 + 1
	for s, chunks := range p.recv {
		reduce := p.steps[s].Reduce
		for k, c := range chunks {
			var err error
			if reduce {
				err = t.Recv(ch, tmpRaw[:c.Len*4])
				if err == nil {
					addTo(data[c.Off:c.Off+c.Len], tmp[:c.Len])
				}
			} else {
				// Step s+1-n sent this same chunk list.
				if err := sent.wait(ctx, int64(p.cumSend[s+1-n]+k+1)); err != nil {
					return err
				}
				err = t.Recv(ch, raw[c.Off*4:(c.Off+c.Len)*4])
			}
			if err != nil {
				return fmt.Errorf("step %d: receiving chunk %d: %w", s, k, err)
			}
			op.recvd(ch)
			if recvd != nil {
				recvd.inc()
			}
			if s < last {
				op.ready(ch)
				ready <- struct{}{} // never blocks: capacity is every chunk
			}
		}
	}
	return nil
}

// ackSendLoop acknowledges, cumulatively, every chunk recvLoop has
// counted, sending whenever the count has moved since the last
// acknowledgement, until all of the channel's chunks are acknowledged.
func ackSendLoop(ctx context.Context, ch int, a Acker, p *plan, recvd *chunkCount) error {
	var done int64
	for done < int64(p.nRecv) {
		if err := recvd.wait(ctx, done+1); err != nil {
			return err
		}
		n := recvd.n.Load()
		if err := a.SendAck(ch, uint32(n-1)); err != nil {
			return fmt.Errorf("acknowledging chunks %d..%d: %w", done, n-1, err)
		}
		done = n
	}
	return nil
}

// ackRecvLoop reads the right neighbour's cumulative acknowledgements
// until every chunk sent on the channel is acknowledged.
func ackRecvLoop(ch int, a Acker, p *plan, op *opTrace) error {
	var acked int64
	for acked < int64(p.nSend) {
		seq, err := a.RecvAck(ch)
		if err != nil {
			return fmt.Errorf("reading acknowledgement after %d of %d chunks: %w", acked, p.nSend, err)
		}
		if n := int64(seq) + 1; n <= acked || n > int64(p.nSend) {
			return fmt.Errorf("acknowledgement of chunks up to %d after %d of %d were acknowledged", seq, acked, p.nSend)
		}
		op.acked(ch, int64(seq)+1-acked)
		acked = int64(seq) + 1
	}
	return nil
}

// f32bytes views a float32 slice as its bytes in host order.
func f32bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}
