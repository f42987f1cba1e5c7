package facts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sample is one exchange: the controller's send and receive times and the
// host's clock reading between them.
type Sample struct {
	Sent, Received, Remote time.Time
}

// Offset is the estimated offset of a host's clock from the controller's.
type Offset struct {
	OffsetNs int64 `json:"offset_ns"` // host clock minus controller clock
	RTTNs    int64 `json:"rtt_ns"`    // round trip of the best sample
	ErrorNs  int64 `json:"error_ns"`  // bound: half the best round trip
	Samples  int   `json:"samples"`
}

// Estimate estimates a host's clock offset in the manner of Cristian's
// algorithm and NTP: it takes the sample with the smallest round trip and
// assumes the host read its clock halfway through it, so that the offset
// is Remote - (Sent + rtt/2), wrong by at most rtt/2.
//
// The round trip is Received - Sent, on the monotonic clock when both
// carry a reading of it (as times from time.Now do); the offset compares
// wall clocks. It is an error to give no samples, a sample received
// before it was sent or one without a remote time.
func Estimate(samples []Sample) (Offset, error) {
	if len(samples) == 0 {
		return Offset{}, errors.New("facts: no clock samples")
	}
	best := -1
	var bestRTT time.Duration
	for i, s := range samples {
		rtt := s.Received.Sub(s.Sent)
		if rtt < 0 {
			return Offset{}, fmt.Errorf("facts: clock sample %d received %v before it was sent", i, -rtt)
		}
		if s.Remote.IsZero() {
			return Offset{}, fmt.Errorf("facts: clock sample %d has no remote time", i)
		}
		if best < 0 || rtt < bestRTT {
			best, bestRTT = i, rtt
		}
	}
	s := samples[best]
	mid := s.Sent.Round(0).Add(bestRTT / 2) // Round(0) drops the monotonic reading
	return Offset{
		OffsetNs: s.Remote.Round(0).Sub(mid).Nanoseconds(),
		RTTNs:    bestRTT.Nanoseconds(),
		ErrorNs:  (bestRTT / 2).Nanoseconds(),
		Samples:  len(samples),
	}, nil
}

// Measure asks for the host's clock n times, one exchange after the other,
// times each exchange with time.Now and estimates the offset from them.
// It stops at the first error from ask or ctx.
func Measure(ctx context.Context, n int, ask func(ctx context.Context) (time.Time, error)) (Offset, error) {
	if n < 1 {
		return Offset{}, fmt.Errorf("facts: %d clock samples asked for, want at least 1", n)
	}
	samples := make([]Sample, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return Offset{}, err
		}
		sent := time.Now()
		remote, err := ask(ctx)
		received := time.Now()
		if err != nil {
			return Offset{}, fmt.Errorf("facts: clock sample %d: %w", i, err)
		}
		samples = append(samples, Sample{Sent: sent, Received: received, Remote: remote})
	}
	return Estimate(samples)
}
