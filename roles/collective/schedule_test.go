package collective

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sizesFor(n int) []int {
	return []int{0, 1, n - 1, n, n + 1, 1000, 1001, 4099}
}

func TestSegments(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for _, l := range sizesFor(n) {
			segs := Segments(l, n)
			require.Len(t, segs, n)
			off, lo, hi := 0, l, 0
			for _, s := range segs {
				require.Equal(t, off, s.Off)
				off += s.Len
				lo, hi = min(lo, s.Len), max(hi, s.Len)
			}
			require.Equal(t, l, off, "n=%d l=%d", n, l)
			require.LessOrEqual(t, hi-lo, 1, "n=%d l=%d", n, l)
		}
	}
}

func TestChunksTileSegment(t *testing.T) {
	seg := Segment{Off: 17, Len: 1001}
	for _, ce := range []int{1, 3, 64, 1000, 1001, 5000} {
		for nc := 1; nc <= 3; nc++ {
			covered := make([]int, seg.Len)
			for ch := range nc {
				for _, c := range Chunks(seg, ce, nc, ch) {
					require.LessOrEqual(t, c.Len, ce)
					require.Positive(t, c.Len)
					for i := c.Off; i < c.Off+c.Len; i++ {
						covered[i-seg.Off]++
					}
				}
			}
			for i, k := range covered {
				require.Equal(t, 1, k, "ce=%d nc=%d element %d", ce, nc, i)
			}
		}
	}
	assert.Empty(t, Chunks(Segment{Off: 5}, 4, 2, 0))
}

// TestRingStepsSimulated runs the schedule in lock step without a
// transport: every rank's step s send is delivered to its right neighbour
// before step s+1.
func TestRingStepsSimulated(t *testing.T) {
	for n := 2; n <= 9; n++ {
		for _, l := range sizesFor(n) {
			data, want := inputs(n, l)
			segs := Segments(l, n)
			for s := range 2 * (n - 1) {
				msgs := make([][]float32, n)
				for r := range n {
					st := RingSteps(r, n)[s]
					sg := segs[st.Send]
					msgs[mod(r+1, n)] = append([]float32(nil), data[r][sg.Off:sg.Off+sg.Len]...)
				}
				for r := range n {
					st := RingSteps(r, n)[s]
					require.Equal(t, RingSteps(mod(r-1, n), n)[s].Send, st.Recv)
					sg := segs[st.Recv]
					for i, v := range msgs[r] {
						if st.Reduce {
							data[r][sg.Off+i] += v
						} else {
							data[r][sg.Off+i] = v
						}
					}
				}
			}
			for r := range n {
				require.Equal(t, want, data[r], "n=%d l=%d rank %d", n, l, r)
			}
		}
	}
}

// inputs returns n distinct integer-valued buffers of l elements and
// their element-wise sum, exact in float32.
func inputs(n, l int) ([][]float32, []float32) {
	data := make([][]float32, n)
	want := make([]float32, l)
	for r := range data {
		data[r] = make([]float32, l)
		for i := range data[r] {
			v := float32((r+1)*10007 + (i*31+r*7)%9973)
			data[r][i] = v
			want[i] += v
		}
	}
	return data, want
}

// runRing runs one AllReduce on every rank concurrently.
func runRing(ctx context.Context, data [][]float32, ts []Transport, o Options, trs []*Tracer) []error {
	n := len(data)
	errs := make([]error, n)
	done := make(chan int)
	for r := range n {
		var tr *Tracer
		if trs != nil {
			tr = trs[r]
		}
		go func() {
			errs[r] = AllReduce(ctx, r, n, data[r], ts[r], o, tr)
			done <- r
		}()
	}
	for range n {
		<-done
	}
	return errs
}

func TestAllReduceMem(t *testing.T) {
	for n := 2; n <= 9; n++ {
		for _, l := range sizesFor(n) {
			for nc := 1; nc <= 3; nc++ {
				for _, ce := range []int{3, 64} {
					name := fmt.Sprintf("n%d/l%d/c%d/chunk%d", n, l, nc, ce)
					data, want := inputs(n, l)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					errs := runRing(ctx, data, MemRing(n, nc, 4), Options{ChunkBytes: ce * 4, Channels: nc}, nil)
					cancel()
					for r := range n {
						require.NoError(t, errs[r], name)
						require.Equal(t, want, data[r], "%s rank %d", name, r)
					}
				}
			}
		}
	}
}

func TestAllReduceSingleRank(t *testing.T) {
	d := []float32{1, 2, 3}
	require.NoError(t, AllReduce(context.Background(), 0, 1, d, nil, Options{}, nil))
	assert.Equal(t, []float32{1, 2, 3}, d)
	assert.Error(t, AllReduce(context.Background(), 3, 2, d, nil, Options{}, nil))
	assert.Error(t, AllReduce(context.Background(), 0, 2, d, MemRing(2, 2, 1)[0], Options{Channels: 3}, nil))
}

func TestBusBW(t *testing.T) {
	alg := AlgBW(1<<30, 2*time.Second)
	assert.Equal(t, float64(1<<29), alg)
	assert.InDelta(t, alg*2*3/4, BusBW(alg, 4), 1e-6)
	assert.InDelta(t, alg, BusBW(alg, 2), 1e-6)
	assert.InDelta(t, alg*2*7/8, BusBW(alg, 8), 1e-6)
	assert.Equal(t, 0.0, BusBW(alg, 1))
	assert.Equal(t, 0.0, AlgBW(100, 0))
}
