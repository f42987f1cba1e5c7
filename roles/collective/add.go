package collective

// addTo adds src to dst element-wise: dst[i] += src[i] for i < len(src).
// It is the reduction of every chunk received in reduce-scatter, so it
// runs at memory speed where the CPU allows (add_amd64.s: AVX2, four
// 256-bit registers per step); the portable loop is unrolled by eight.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	n := addVector(dst, src)
	addScalar(dst[n:], src[n:])
}

func addScalar(dst, src []float32) {
	dst = dst[:len(src)]
	for len(src) >= 8 {
		d, s := dst[:8:8], src[:8:8]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
		d[4] += s[4]
		d[5] += s[5]
		d[6] += s[6]
		d[7] += s[7]
		dst, src = dst[8:], src[8:]
	}
	for i, v := range src {
		dst[i] += v
	}
}
