package diagnose

import (
	"fmt"
	"slices"
	"time"
)

// Options are the thresholds of Detect and Localize; zero fields take the
// defaults.
type Options struct {
	// HangAfter is how long a channel of a collective in flight may go
	// without progress before the ring counts as hung (default 1 s).
	HangAfter time.Duration
	// BaselineOps is K: a rank's baseline is the median duration of the K
	// completions before its recent W (default 5), so it follows slow
	// drifts of the healthy pace; with fewer, of those there are (at
	// least 1).
	BaselineOps int
	// BaselineBefore, when set, keeps the baseline to completions that
	// ended before it: an analyzer holds the pace from before an incident
	// while the incident lasts, so a long slowdown is not learned as
	// normal.
	BaselineBefore time.Time
	// RecentOps is W, the number of a rank's last completions whose median
	// duration is compared with the baseline (default 3).
	RecentOps int
	// RecentSince, when set, counts as recent only completions that ended
	// after it (the last RecentOps of them): an analyzer confirms a
	// slowdown with collectives that ended after it was triggered, so a
	// burst of slow collectives that is already over is not confirmed. A
	// rank with none is not judged slow.
	RecentSince time.Time
	// SlowFactor: a rank is slow when its recent median exceeds
	// SlowFactor × its baseline (default 1.5).
	SlowFactor float64
	// LinkSlowFactor: a link is slow when its mean backlog exceeds
	// LinkSlowFactor × the median backlog of all links (default 3).
	LinkSlowFactor float64
}

func (o Options) withDefaults() Options {
	if o.HangAfter <= 0 {
		o.HangAfter = time.Second
	}
	if o.BaselineOps <= 0 {
		o.BaselineOps = 5
	}
	if o.RecentOps <= 0 {
		o.RecentOps = 3
	}
	if o.SlowFactor <= 0 {
		o.SlowFactor = 1.5
	}
	if o.LinkSlowFactor <= 0 {
		o.LinkSlowFactor = 3
	}
	return o
}

// Anomaly kinds.
const (
	Hang     = "hang"
	Slowdown = "slowdown"
)

// Anomaly is something Detect found wrong, observed on one rank.
type Anomaly struct {
	Kind string
	// At is the time of detection (Detect's now).
	At time.Time
	// Rank is where it was observed: for a hang the rank and Channel with
	// the longest time without progress, for a slowdown the rank with the
	// largest recent/baseline ratio.
	Rank, Channel int
	// Op is the collective in flight (hang) or the last one completed
	// (slowdown).
	Op uint64
	// Value is the time without progress (hang) or the recent median
	// duration (slowdown); Threshold is what it exceeded.
	Value, Threshold time.Duration
	Detail           string

	opts Options // Detect's, for Localize
}

func (a Anomaly) String() string {
	return fmt.Sprintf("%s at rank %d op %d: %s", a.Kind, a.Rank, a.Op, a.Detail)
}

// sinceProgress is how long channel c of snapshot s has gone without
// progress as of now: the snapshot's since_progress_ns plus the
// snapshot's age. A rank whose process froze writes no more snapshots, so
// the age keeps its last one counting up.
func sinceProgress(s *State, c *ChannelState, now time.Time) time.Duration {
	return time.Duration(c.SinceProgressNS + max(0, now.UnixNano()-s.UnixNS))
}

// Detect returns the anomalies of the ring as of now, at most one per
// kind, hang first. now should be when the records were read up to (take
// it before reading, not after): the age of a rank's newest snapshot
// counts as time without progress.
//
//   - Hang: some rank has a collective in flight (its newest snapshot is
//     of an op it has not completed) and a channel that has not progressed
//     (sinceProgress: since_progress_ns plus the snapshot's age) for more
//     than HangAfter. Completed channels are ignored.
//   - Slowdown: some rank has at least K+W successful completions (K =
//     BaselineOps, W = RecentOps) and the median duration of its last W
//     exceeds SlowFactor × the median of the K before them (of the K
//     before BaselineBefore, when set). The anomaly names the rank with
//     the largest ratio.
func Detect(g *Ring, now time.Time, opts Options) []Anomaly {
	o := opts.withDefaults()
	var out []Anomaly
	if a, ok := detectHang(g, now, o); ok {
		out = append(out, a)
	}
	if a, ok := detectSlow(g, now, o); ok {
		out = append(out, a)
	}
	return out
}

func detectHang(g *Ring, now time.Time, o Options) (Anomaly, bool) {
	best := Anomaly{Kind: Hang, At: now, Threshold: o.HangAfter, opts: o, Rank: -1}
	for r := range g.Ranks {
		s, ok := g.Ranks[r].InFlight()
		if !ok {
			continue
		}
		for i := range s.Channels {
			c := &s.Channels[i]
			if c.Done() {
				continue
			}
			if d := sinceProgress(s, c, now); d > o.HangAfter && d > best.Value {
				best.Rank, best.Channel, best.Op, best.Value = r, c.Ch, s.Op, d
				best.Detail = fmt.Sprintf("rank %d channel %d: no progress for %s (> %s) in op %d; sent %d/%d acked %d, recvd %d/%d",
					r, c.Ch, d.Round(time.Millisecond), o.HangAfter, s.Op, c.Sent, c.ToSend, c.Acked, c.Recvd, c.ToRecv)
			}
		}
	}
	return best, best.Rank >= 0
}

// durations returns the durations of the rank's successful completions in
// op order.
func durations(v *RankView) []time.Duration {
	var d []time.Duration
	for i := range v.Completions {
		if v.Completions[i].Error == "" {
			d = append(d, v.Completions[i].Duration())
		}
	}
	return d
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianF(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// baseline returns the rank's baseline and recent median durations, and
// whether it has enough completions for both.
func baseline(v *RankView, o Options) (base, recent time.Duration, ok bool) {
	var d []time.Duration
	var ends []int64
	for i := range v.Completions {
		if c := &v.Completions[i]; c.Error == "" {
			d = append(d, c.Duration())
			ends = append(ends, c.EndUnixNS)
		}
	}
	if len(d) < o.BaselineOps+o.RecentOps {
		return 0, 0, false
	}
	hi := len(d) - o.RecentOps
	if !o.BaselineBefore.IsZero() {
		cut := o.BaselineBefore.UnixNano()
		for hi > 0 && ends[hi-1] >= cut {
			hi--
		}
	}
	if hi == 0 {
		return 0, 0, false
	}
	recentD := d[len(d)-o.RecentOps:]
	if !o.RecentSince.IsZero() {
		lo := len(d)
		for lo > len(d)-o.RecentOps && ends[lo-1] > o.RecentSince.UnixNano() {
			lo--
		}
		if recentD = d[lo:]; len(recentD) == 0 {
			return 0, 0, false
		}
	}
	return median(d[max(0, hi-o.BaselineOps):hi]), median(recentD), true
}

// CompletedSince counts the rank's collectives that ended after t.
func (v *RankView) CompletedSince(t time.Time) int {
	n := 0
	for i := len(v.Completions) - 1; i >= 0 && v.Completions[i].EndUnixNS > t.UnixNano(); i-- {
		n++
	}
	return n
}

func detectSlow(g *Ring, now time.Time, o Options) (Anomaly, bool) {
	best := Anomaly{Kind: Slowdown, At: now, Rank: -1, Channel: -1, opts: o}
	bestRatio := 0.0
	for r := range g.Ranks {
		v := &g.Ranks[r]
		base, recent, ok := baseline(v, o)
		if !ok || base <= 0 {
			continue
		}
		limit := time.Duration(float64(base) * o.SlowFactor)
		ratio := float64(recent) / float64(base)
		if recent > limit && ratio > bestRatio {
			bestRatio = ratio
			best.Rank, best.Op, best.Value, best.Threshold = r, v.LastCompleted(), recent, limit
			best.Detail = fmt.Sprintf("rank %d: median of last %d collectives %s > %.2f × baseline %s (median of the %d before)",
				r, o.RecentOps, recent.Round(time.Microsecond), o.SlowFactor, base.Round(time.Microsecond), o.BaselineOps)
		}
	}
	return best, best.Rank >= 0
}
