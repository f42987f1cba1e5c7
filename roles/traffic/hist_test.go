package traffic

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuckets(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 100000 {
		v := int64(math.Exp(r.Float64() * math.Log(float64(HistMax))))
		i := bucketIndex(v)
		lo, hi := bucketBounds(i)
		require.True(t, lo <= v && v < hi, "v=%d bucket %d [%d,%d)", v, i, lo, hi)
		if lo >= 256 {
			require.LessOrEqual(t, float64(hi-lo)/float64(lo), 1.0/128)
		}
	}
	// Buckets tile the range without gaps.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		require.Equal(t, prevHi, lo, "bucket %d", i)
	}
	_, hi := bucketBounds(histBuckets - 1)
	assert.Greater(t, hi, HistMax)
}

func TestQuantilesUniform(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 100000; i++ { // 1 µs .. 100 ms
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 0.999} {
		want := math.Ceil(q*100000) * 1000
		assert.InEpsilon(t, want, float64(h.Quantile(q)), 0.01, "q=%v", q)
	}
	assert.Equal(t, time.Microsecond, h.Min())
	assert.Equal(t, 100*time.Millisecond, h.Max())
	assert.Equal(t, 100*time.Millisecond, h.Quantile(1))
	assert.InEpsilon(t, 50000.5e3, float64(h.Mean()), 1e-9)
}

func TestQuantilesLognormal(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	h := NewHistogram()
	var vals []float64
	for range 200000 {
		v := math.Exp(r.NormFloat64()*1.5 + math.Log(200e3)) // median 200 µs, long tail
		d := time.Duration(v)
		vals = append(vals, float64(d))
		h.Record(d)
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		assert.InEpsilon(t, want, float64(h.Quantile(q)), 0.01, "q=%v", q)
	}
	var n uint64
	prev := -1.0
	for _, b := range h.Buckets() {
		assert.Greater(t, b.LeMS, prev)
		prev = b.LeMS
		n += b.Count
	}
	assert.Equal(t, h.Count(), n)
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	assert.Equal(t, time.Duration(0), h.Quantile(0.5))
	h.Record(-time.Second)
	h.Record(time.Hour)
	assert.Equal(t, time.Duration(0), h.Min())
	assert.Equal(t, time.Duration(HistMax), h.Max())
	h.Reset()
	assert.Equal(t, uint64(0), h.Count())
	h.Record(42 * time.Nanosecond)
	assert.Equal(t, 42*time.Nanosecond, h.Quantile(0.99))
}
