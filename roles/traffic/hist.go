package traffic

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in nanoseconds in log-linear buckets: exact
// below 256 ns, then every power of two is cut into 128 equal buckets, so a
// bucket is never wider than 1/128 (0.8%) of its lower bound. Values above
// HistMax count as HistMax. Percentiles return the middle of their bucket,
// within 0.4% of the true value, and never outside the recorded min and max.
// The zero value is not usable: call NewHistogram.
type Histogram struct {
	counts   []uint64
	n        uint64
	min, max int64
	sum      float64
}

const (
	subBits  = 7
	subCount = 1 << subBits
	// HistMax is the largest duration a Histogram tells apart.
	HistMax = int64(10 * time.Second)
)

var histBuckets = bucketIndex(HistMax) + 1

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, histBuckets)}
}

func bucketIndex(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 - subBits
	return e*subCount + int(v>>e)
}

// bucketBounds returns bucket i's lowest value and the lowest value of the
// next bucket.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i) + 1
	}
	e := i/subCount - 1
	sub := int64(i - e*subCount)
	return sub << e, (sub + 1) << e
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), HistMax)
	h.counts[bucketIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min, Max and Mean of the recorded values (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below or at which a fraction q of the
// recorded values lie (q in [0, 1]; 0 when empty).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketBounds(i)
			mid := lo + (hi-1-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.n, h.min, h.max, h.sum = 0, 0, 0, 0
}

// bucketCount is one non-empty bucket in summary.json.
type bucketCount struct {
	LeMS  float64 `json:"le_ms"` // upper bound of the bucket, inclusive
	Count uint64  `json:"count"`
}

// Buckets lists the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []bucketCount {
	var out []bucketCount
	for i, c := range h.counts {
		if c > 0 {
			_, hi := bucketBounds(i)
			out = append(out, bucketCount{LeMS: float64(hi-1) / 1e6, Count: c})
		}
	}
	return out
}
