package collective

import "time"

// AlgBW is the algorithm bandwidth of a collective over a buffer of bytes
// that took d, in bytes per second, as nccl-tests defines it.
func AlgBW(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds()
}

// BusBW converts an AllReduce's algorithm bandwidth among n ranks into bus
// bandwidth, algbw * 2(n-1)/n as nccl-tests does: the rate each rank's link
// carried, comparable with the hardware's peak whatever n is.
func BusBW(algbw float64, n int) float64 {
	if n < 1 {
		return 0
	}
	return algbw * 2 * float64(n-1) / float64(n)
}
