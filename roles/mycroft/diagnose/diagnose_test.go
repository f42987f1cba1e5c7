package diagnose

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testOpts = Options{HangAfter: 50 * time.Millisecond}

const warmOps = 12 // baseline and then some, before any fault

// detectUntil steps the simulator, running Detect every tick, until it
// reports an anomaly of kind, and returns it with the tick of detection.
// It fails on any other anomaly first.
func detectUntil(t *testing.T, s *sim, kind string, maxTicks int) Anomaly {
	t.Helper()
	for range maxTicks {
		s.step()
		for _, a := range Detect(s.ring, s.now(), testOpts) {
			if a.Kind == kind {
				return a
			}
			t.Fatalf("tick %d: unexpected anomaly %v", s.tick, a)
		}
	}
	t.Fatalf("no %s detected within %d ticks", kind, maxTicks)
	return Anomaly{}
}

// healthy checks that Detect finds nothing on every tick while the ring
// runs ops collectives.
func healthy(t *testing.T, s *sim, ops int) {
	t.Helper()
	target := s.ranks[0].op + uint64(ops)
	for s.ring.Ranks[0].LastCompleted() < target {
		s.step()
		if as := Detect(s.ring, s.now(), testOpts); len(as) > 0 {
			t.Fatalf("tick %d: false alarm %v", s.tick, as[0])
		}
	}
}

func sizes() []struct{ n, nc int } { return []struct{ n, nc int }{{4, 2}, {8, 1}, {8, 3}} }

func TestHealthyRingNoAlarm(t *testing.T) {
	for i, c := range sizes() {
		t.Run(fmt.Sprintf("n%d/c%d", c.n, c.nc), func(t *testing.T) {
			s := newSim(c.n, c.nc, uint64(i))
			healthy(t, s, 60)
			for r := range s.ring.Ranks {
				_, ok := s.ring.Ranks[r].InFlight()
				require.Equal(t, s.ranks[r].inFlight, ok, "rank %d", r)
			}
		})
	}
}

func TestRankNotEnteredHang(t *testing.T) {
	for i, c := range sizes() {
		for _, x := range []int{0, c.n - 1, c.n / 2} {
			t.Run(fmt.Sprintf("n%d/c%d/rank%d", c.n, c.nc, x), func(t *testing.T) {
				s := newSim(c.n, c.nc, uint64(i))
				healthy(t, s, warmOps)
				s.runUntilComputing(x)
				s.ranks[x].paused = true // stopped in its compute phase
				a := detectUntil(t, s, Hang, 1000)
				d := Localize(s.ring, a)
				t.Log(d)
				require.Equal(t, RankNotEntered, d.Class, d.String())
				require.Equal(t, x, d.Rank)
				require.Equal(t, -1, d.From)
				require.Contains(t, d.Evidence, fmt.Sprintf("rank %d is at op %d", x, s.ranks[x].op))
			})
		}
	}
}

func TestRankStalledHang(t *testing.T) {
	for i, c := range sizes() {
		for _, x := range []int{0, 1, c.n - 1} {
			t.Run(fmt.Sprintf("n%d/c%d/rank%d", c.n, c.nc, x), func(t *testing.T) {
				s := newSim(c.n, c.nc, uint64(i))
				healthy(t, s, warmOps)
				s.runUntilIn(x, 7)
				fault := s.tick
				s.ranks[x].paused = true // frozen inside the collective
				a := detectUntil(t, s, Hang, 1000)
				// Detected within HangAfter plus one snapshot interval.
				latency := time.Duration(s.tick-fault) * s.dt
				require.LessOrEqual(t, latency, testOpts.HangAfter+s.interval(), "detection latency")
				require.Greater(t, a.Value, testOpts.HangAfter)
				d := Localize(s.ring, a)
				t.Log(d)
				require.Equal(t, RankStalled, d.Class, d.String())
				require.Equal(t, x, d.Rank)
				require.Equal(t, -1, d.From)
			})
		}
	}
}

// A rank whose sender stops while the rest of it (receiving,
// acknowledging, tracing) goes on: chunks pile up ready on it with its
// outgoing link idle.
func TestRankStalledAliveHang(t *testing.T) {
	for i, c := range sizes() {
		for _, x := range []int{0, c.n - 1} {
			t.Run(fmt.Sprintf("n%d/c%d/rank%d", c.n, c.nc, x), func(t *testing.T) {
				s := newSim(c.n, c.nc, uint64(i))
				healthy(t, s, warmOps)
				s.runUntilIn(x, 2)
				s.ranks[x].mute = true
				a := detectUntil(t, s, Hang, 1000)
				d := Localize(s.ring, a)
				t.Log(d)
				require.Equal(t, RankStalled, d.Class, d.String())
				require.Equal(t, x, d.Rank)
				require.Contains(t, d.Evidence, "ready")
			})
		}
	}
}

func TestLinkStalledHang(t *testing.T) {
	for i, c := range sizes() {
		for _, from := range []int{0, c.n - 1, 2} {
			for _, one := range []bool{false, true} {
				if one && c.nc == 1 {
					continue
				}
				t.Run(fmt.Sprintf("n%d/c%d/link%d/onech%v", c.n, c.nc, from, one), func(t *testing.T) {
					s := newSim(c.n, c.nc, uint64(i))
					healthy(t, s, warmOps)
					s.runUntilIn(from, 3)
					for ch := range c.nc {
						s.links[from].stalled[ch] = !one || ch == c.nc-1
					}
					a := detectUntil(t, s, Hang, 1000)
					// Detected within HangAfter plus one snapshot interval
					// of the hung channel's last movement anywhere in the
					// ring (the receiver drains what it had ready first).
					latency := time.Duration(s.tick-s.lastMove[c.nc-1]) * s.dt
					require.LessOrEqual(t, latency, testOpts.HangAfter+s.interval(), "detection latency")
					require.Greater(t, a.Value, testOpts.HangAfter)
					d := Localize(s.ring, a)
					t.Log(d)
					require.Equal(t, LinkStalled, d.Class, d.String())
					require.Equal(t, from, d.From)
					require.Equal(t, (from+1)%c.n, d.To)
					require.Equal(t, -1, d.Rank)
					if one {
						require.Equal(t, c.nc-1, d.Channel)
					} else if c.nc > 1 {
						require.Equal(t, -1, d.Channel)
					}
				})
			}
		}
	}
}

func TestComputeSlowdownLocalizedToRank(t *testing.T) {
	for i, c := range sizes() {
		for _, x := range []int{0, c.n - 2} {
			t.Run(fmt.Sprintf("n%d/c%d/rank%d", c.n, c.nc, x), func(t *testing.T) {
				s := newSim(c.n, c.nc, uint64(i))
				healthy(t, s, warmOps)
				s.ranks[x].computeScale = 3 // its compute phase takes 3× as long (the wait stays below HangAfter)
				a := detectUntil(t, s, Slowdown, 5000)
				require.NotEqual(t, x, a.Rank, "the slow rank itself waits least")
				d := Localize(s.ring, a)
				t.Log(d)
				require.Equal(t, RankNotEntered, d.Class, d.String())
				require.Equal(t, x, d.Rank)
			})
		}
	}
}

func TestLinkSlow(t *testing.T) {
	for i, c := range sizes() {
		for _, from := range []int{0, c.n - 1, 1} {
			t.Run(fmt.Sprintf("n%d/c%d/link%d", c.n, c.nc, from), func(t *testing.T) {
				s := newSim(c.n, c.nc, uint64(i))
				healthy(t, s, warmOps)
				s.links[from].slow = 5 // one chunk per 5 ticks
				a := detectUntil(t, s, Slowdown, 5000)
				d := Localize(s.ring, a)
				t.Log(d)
				require.Equal(t, LinkSlow, d.Class, d.String())
				require.Equal(t, from, d.From)
				require.Equal(t, (from+1)%c.n, d.To)
				require.Equal(t, -1, d.Rank)
			})
		}
	}
}

func TestDetectSlowdownRule(t *testing.T) {
	g := NewRing(1)
	add := func(op uint64, ms int) {
		g.Add(Record{Completion: &Completion{Op: op, Rank: 0, N: 1, DurationNS: int64(ms) * 1e6, EndUnixNS: int64(op) * 1e9}})
	}
	for op, ms := range []int{10, 11, 9, 10, 12, 14, 15, 15} { // baseline 10, recent 15 = 1.5×: not above
		add(uint64(op+1), ms)
	}
	require.Empty(t, Detect(g, time.Now(), Options{}))
	add(9, 17)
	add(10, 17) // recent median 17; the sliding baseline (ops 3..7) is 12: 17 < 18
	require.Empty(t, Detect(g, time.Now(), Options{}), "the baseline follows the pace")
	// Held at the pace before op 6 ended (ops 1..5, median 10): 17 > 15.
	held := Options{BaselineBefore: time.Unix(6, 0)}
	as := Detect(g, time.Now(), held)
	require.Len(t, as, 1)
	require.Equal(t, Slowdown, as[0].Kind)
	require.Equal(t, 17*time.Millisecond, as[0].Value)
	require.Equal(t, 15*time.Millisecond, as[0].Threshold)
	// A failed collective does not count.
	g.Add(Record{Completion: &Completion{Op: 11, Rank: 0, N: 1, DurationNS: 1, Error: "aborted", EndUnixNS: 11e9}})
	require.Len(t, Detect(g, time.Now(), held), 1)
}

func TestDetectHangDefaultAndStaleness(t *testing.T) {
	g := NewRing(2)
	t0 := time.Unix(1000, 0)
	st := func(rank int, since time.Duration) *State {
		return &State{Op: 3, Rank: rank, UnixNS: t0.UnixNano(), Channels: []ChannelState{{
			Ch: 0, Sent: 2, Acked: 1, ToSend: 8, Recvd: 2, ToRecv: 8,
			SinceSendNS: int64(since), SinceRecvNS: int64(since), SinceProgressNS: int64(since),
		}}}
	}
	g.Add(Record{State: st(0, 100*time.Millisecond)})
	g.Add(Record{State: st(1, 10*time.Millisecond)})
	require.Empty(t, Detect(g, t0, Options{}))
	// Default HangAfter is 1 s; a silent snapshot keeps ageing.
	require.Empty(t, Detect(g, t0.Add(900*time.Millisecond), Options{}))
	as := Detect(g, t0.Add(901*time.Millisecond+time.Microsecond), Options{})
	require.Len(t, as, 1)
	require.Equal(t, 0, as[0].Rank)
	require.Equal(t, uint64(3), as[0].Op)
	// Once the op completed, it is no longer in flight.
	g.Add(Record{Completion: &Completion{Op: 3, Rank: 0, N: 2}})
	g.Add(Record{Completion: &Completion{Op: 3, Rank: 1, N: 2}})
	require.Empty(t, Detect(g, t0.Add(time.Hour), Options{}))
}

// A burst of slow collectives that is over by the time the analyzer
// confirms is not a slowdown: with RecentSince, only collectives that
// ended after the trigger count, and a rank with none is not judged.
func TestDetectSlowdownConfirmedAfterTrigger(t *testing.T) {
	g := NewRing(1)
	add := func(op uint64, ms int) {
		g.Add(Record{Completion: &Completion{Op: op, Rank: 0, N: 1, DurationNS: int64(ms) * 1e6, EndUnixNS: int64(op) * 1e9}})
	}
	for op, ms := range []int{10, 10, 10, 10, 10, 60, 60, 60} { // a burst: ops 6..8
		add(uint64(op+1), ms)
	}
	held := Options{BaselineBefore: time.Unix(5, 500)}
	require.Len(t, Detect(g, time.Now(), held), 1, "triggered by the burst")
	confirm := held
	confirm.RecentSince = time.Unix(8, 500) // the trigger, after op 8 ended
	require.Empty(t, Detect(g, time.Now(), confirm), "nothing ended since the trigger: not judged")
	add(9, 10)
	require.Empty(t, Detect(g, time.Now(), confirm), "the pace after the trigger is back to normal")
	require.Equal(t, 1, g.Ranks[0].CompletedSince(confirm.RecentSince))
	add(10, 70)
	add(11, 70)
	as := Detect(g, time.Now(), confirm)
	require.Len(t, as, 1, "still slow after the trigger: median of 10, 70, 70")
	require.Equal(t, 70*time.Millisecond, as[0].Value)
}
