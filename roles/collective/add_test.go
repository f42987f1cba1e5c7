package collective

import (
	"math/rand/v2"
	"testing"
)

// TestAddTo checks the vector and portable reductions against the plain
// loop for every length up to 200 (covering tails of each width), at
// unaligned offsets, and that nothing past len(src) is touched.
func TestAddTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, scalarOnly := range []bool{false, true} {
		for n := range 200 {
			for _, off := range []int{0, 1, 3} {
				src := make([]float32, n+off)
				dst := make([]float32, n+off+5)
				for i := range src {
					src[i] = float32(rng.IntN(1000)) - 500
				}
				for i := range dst {
					dst[i] = float32(rng.IntN(1000))
				}
				want := append([]float32(nil), dst...)
				for i, v := range src[off:] {
					want[off+i] += v
				}
				if scalarOnly {
					addScalar(dst[off:], src[off:])
				} else {
					addTo(dst[off:], src[off:])
				}
				for i := range want {
					if dst[i] != want[i] {
						t.Fatalf("scalarOnly=%v n=%d off=%d: dst[%d] = %v, want %v", scalarOnly, n, off, i, dst[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkAddTo(b *testing.B) {
	dst := make([]float32, 128<<10)
	src := make([]float32, 128<<10)
	b.SetBytes(512 << 10)
	b.Run("vector", func(b *testing.B) {
		for b.Loop() {
			addTo(dst, src)
		}
	})
	b.Run("portable", func(b *testing.B) {
		for b.Loop() {
			addScalar(dst, src)
		}
	})
}
