package collective

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkAllReduceTCP reduces 64 MiB of float32 across 4 ranks in this
// process over loopback TCP and reports nccl-tests' algbw and busbw.
func BenchmarkAllReduceTCP(b *testing.B) {
	const n, l = 4, 16 << 20 // 64 MiB
	for _, nc := range []int{1, 2, 4} {
		for _, chunk := range []int{128 << 10, 512 << 10, 2 << 20} {
			for _, traced := range []bool{false, true} {
				b.Run(fmt.Sprintf("ch%d/chunk%dK/traced=%v", nc, chunk>>10, traced), func(b *testing.B) {
					ts := tcpRing(b, n, nc)
					defer closeAll(ts)
					tps := make([]Transport, n)
					var trs []*Tracer
					for r := range n {
						tps[r] = ts[r]
						if traced {
							trs = append(trs, NewTracer(io.Discard, 0))
						}
					}
					data := make([][]float32, n)
					for r := range data {
						data[r] = make([]float32, l)
					}
					o := Options{Channels: nc, ChunkBytes: chunk}
					b.ResetTimer()
					var total time.Duration
					for b.Loop() {
						start := time.Now()
						for r, err := range runRing(context.Background(), data, tps, o, trs) {
							if err != nil {
								b.Fatalf("rank %d: %v", r, err)
							}
						}
						total += time.Since(start)
					}
					alg := AlgBW(int64(l*4), total/time.Duration(b.N))
					b.ReportMetric(alg/1e9, "algbw_GB/s")
					b.ReportMetric(BusBW(alg, n)/1e9, "busbw_GB/s")
				})
			}
		}
	}
}

// BenchmarkTracerCost measures what tracing adds per chunk event (the
// counters and clock read of sent, recvd and ready on a live op) and per
// record (a state snapshot of 2 channels, a completion), to bound the
// tracer's share of an iteration from its event counts.
func BenchmarkTracerCost(b *testing.B) {
	plans := []*plan{makePlan(0, 4, 4<<20, Options{Channels: 2}, 0), makePlan(0, 4, 4<<20, Options{Channels: 2}, 1)}
	tr := NewTracer(io.Discard, -1)
	defer tr.Close()
	b.Run("chunk-event", func(b *testing.B) {
		op := tr.begin(0, 4, 16<<20, plans, true)
		for b.Loop() {
			op.sent(0)
		}
		op.end(nil)
	})
	b.Run("state-record", func(b *testing.B) {
		op := tr.begin(0, 4, 16<<20, plans, true)
		for b.Loop() {
			op.writeState()
		}
		op.end(nil)
	})
	b.Run("collective", func(b *testing.B) { // begin + completion record
		for b.Loop() {
			tr.begin(0, 4, 16<<20, plans, true).end(nil)
		}
	})
}
