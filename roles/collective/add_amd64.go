package collective

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2

// addAVX2 adds n float32 from src to dst; n is a multiple of 32.
//
//go:noescape
func addAVX2(dst, src *float32, n int)

// addVector adds the longest prefix of src it can with AVX2 and returns
// its length (0 without AVX2).
func addVector(dst, src []float32) int {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0
	}
	addAVX2(&dst[0], &src[0], n)
	return n
}
