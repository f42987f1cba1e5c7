package diagnose

import (
	"math/rand/v2"
	"time"
)

// sim is a discrete-time simulator of a ring AllReduce traced like
// collective.Tracer: every rank alternates a compute phase and a
// collective of 2(n-1) steps of m chunks per channel; link r→r+1 carries
// at most one chunk per tick per channel (or one per slow[r] ticks), holds
// up to depth written chunks, and the receiver acknowledges each chunk it
// takes. It feeds the records it would write into a Ring.
type sim struct {
	n, nc, m  int
	depth     int64
	dt        time.Duration
	base      int64 // unix ns of tick 0
	snapEvery int
	compute   int // ticks
	jitter    int // ± ticks of compute
	rng       *rand.Rand

	tick     int
	lastMove []int // per channel: the last tick any rank's counters of it changed
	ranks    []simRank
	links    []simLink // links[r]: r -> r+1
	ring     *Ring
}

type simRank struct {
	op           uint64
	inFlight     bool
	computeLeft  int
	computeScale int // compute ticks multiplier
	start        int
	paused       bool // frozen: no progress, no records
	mute         bool // its sender stopped; it still receives, acknowledges and snapshots
	ch           []simCh
}

type simCh struct {
	ready, sent, acked, recvd, toSend, toRecv int64
	lastSend, lastRecv                        int
}

type simLink struct {
	queue, acks []int64 // per channel: chunks written not taken; acks not yet read
	stalled     []bool  // per channel: delivers nothing
	slow        int     // deliver one chunk per slow ticks (0, 1: every tick)
}

func newSim(n, nc int, seed uint64) *sim {
	s := &sim{
		n: n, nc: nc, m: 4, depth: 3, dt: time.Millisecond,
		base: 1_700_000_000_000_000_000, snapEvery: 5, compute: 20, jitter: 3,
		rng:  rand.New(rand.NewPCG(seed, 1)),
		ring: NewRing(n),
	}
	s.lastMove = make([]int, nc)
	s.ranks = make([]simRank, n)
	s.links = make([]simLink, n)
	for r := range s.ranks {
		s.ranks[r].computeScale = 1
		s.ranks[r].computeLeft = s.computeTicks(r)
		s.links[r] = simLink{queue: make([]int64, nc), acks: make([]int64, nc), stalled: make([]bool, nc)}
	}
	return s
}

func (s *sim) computeTicks(r int) int {
	c := s.compute * s.ranks[r].computeScale
	if s.jitter > 0 {
		c += s.rng.IntN(2*s.jitter+1) - s.jitter
	}
	return max(1, c)
}

func (s *sim) now() time.Time          { return time.Unix(0, s.unix(s.tick)) }
func (s *sim) unix(tick int) int64     { return s.base + int64(tick)*int64(s.dt) }
func (s *sim) ns(ticks int) int64      { return int64(ticks) * int64(s.dt) }
func (s *sim) interval() time.Duration { return time.Duration(s.snapEvery) * s.dt }

// step advances one tick.
func (s *sim) step() {
	s.tick++
	t := s.tick
	steps := int64(2 * (s.n - 1))
	// Compute phases; entering a collective.
	for r := range s.ranks {
		k := &s.ranks[r]
		if k.paused || k.inFlight {
			continue
		}
		if k.computeLeft--; k.computeLeft > 0 {
			continue
		}
		k.op++
		k.inFlight, k.start = true, t
		k.ch = make([]simCh, s.nc)
		for c := range k.ch {
			k.ch[c] = simCh{ready: int64(s.m), toSend: steps * int64(s.m), toRecv: steps * int64(s.m), lastSend: t, lastRecv: t}
			s.lastMove[c] = t
		}
	}
	// Links: delivery (receiver takes one chunk and acknowledges it), then
	// the sender reads acknowledgements and writes one chunk.
	for r := range s.links {
		lk := &s.links[r]
		snd, rcv := &s.ranks[r], &s.ranks[(r+1)%s.n]
		for c := range s.nc {
			if rcv.inFlight && !rcv.paused && !lk.stalled[c] && lk.queue[c] > 0 && (lk.slow <= 1 || t%lk.slow == 0) {
				rc := &rcv.ch[c]
				if rc.recvd < rc.toRecv {
					lk.queue[c]--
					lk.acks[c]++
					rc.recvd++
					rc.lastRecv = t
					s.lastMove[c] = t
					if rc.recvd <= rc.toRecv-int64(s.m) {
						rc.ready++
						rc.lastSend = t
					}
				}
			}
			if snd.inFlight && !snd.paused {
				sc := &snd.ch[c]
				if lk.acks[c] > 0 {
					sc.acked += lk.acks[c]
					lk.acks[c] = 0
					sc.lastSend = t
					s.lastMove[c] = t
				}
				if sc.ready > sc.sent && lk.queue[c] < s.depth && !snd.mute {
					lk.queue[c]++
					sc.sent++
					sc.lastSend = t
					s.lastMove[c] = t
				}
			}
		}
	}
	// Completions and snapshots.
	for r := range s.ranks {
		k := &s.ranks[r]
		if !k.inFlight || k.paused {
			continue
		}
		done := true
		for _, c := range k.ch {
			if c.acked < c.toSend || c.recvd < c.toRecv {
				done = false
			}
		}
		if done {
			var sent, recvd int64
			for _, c := range k.ch {
				sent += c.sent
				recvd += c.recvd
			}
			s.ring.Add(Record{Completion: &Completion{
				Op: k.op, Rank: r, N: s.n, Bytes: 1 << 20, Left: (r + s.n - 1) % s.n, Right: (r + 1) % s.n,
				Channels: s.nc, StartMonoNS: s.ns(k.start), EndMonoNS: s.ns(t),
				StartUnixNS: s.unix(k.start), EndUnixNS: s.unix(t), DurationNS: s.ns(t - k.start),
				ChunksSent: sent, ChunksRecvd: recvd,
			}})
			k.inFlight = false
			k.computeLeft = s.computeTicks(r)
			continue
		}
		if (t-k.start)%s.snapEvery == 0 && t > k.start {
			st := &State{Op: k.op, Rank: r, MonoNS: s.ns(t), UnixNS: s.unix(t), ElapsedNS: s.ns(t - k.start)}
			for i, c := range k.ch {
				ss, sr := s.ns(t-c.lastSend), s.ns(t-c.lastRecv)
				st.Channels = append(st.Channels, ChannelState{
					Ch: i, Right: (r + 1) % s.n, Left: (r + s.n - 1) % s.n,
					Ready: c.ready, Sent: c.sent, Acked: c.acked, ToSend: c.toSend,
					Recvd: c.recvd, ToRecv: c.toRecv,
					SinceSendNS: ss, SinceRecvNS: sr, SinceProgressNS: min(ss, sr),
				})
			}
			s.ring.Add(Record{State: st})
		}
	}
}

// runOps steps until every rank has completed ops collectives.
func (s *sim) runOps(ops int) {
	for limit := 0; limit < 1_000_000; limit++ {
		all := true
		for r := range s.ring.Ranks {
			if s.ring.Ranks[r].LastCompleted() < uint64(ops) {
				all = false
			}
		}
		if all {
			return
		}
		s.step()
	}
	panic("sim: ring does not progress")
}

// runUntilIn steps until rank r is in flight for at least ticks ticks.
func (s *sim) runUntilIn(r, ticks int) {
	for limit := 0; limit < 1_000_000; limit++ {
		if k := &s.ranks[r]; k.inFlight && s.tick-k.start >= ticks {
			return
		}
		s.step()
	}
	panic("sim: rank never in flight")
}

// runUntilComputing steps until rank r has just completed a collective.
func (s *sim) runUntilComputing(r int) {
	for limit := 0; limit < 1_000_000; limit++ {
		if k := &s.ranks[r]; !k.inFlight && k.op > 0 && k.computeLeft > 2 {
			return
		}
		s.step()
	}
	panic("sim: rank never computing")
}
