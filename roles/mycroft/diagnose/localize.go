package diagnose

import (
	"fmt"
	"strings"
	"time"
)

// Diagnosis classes.
const (
	// RankNotEntered: a rank did not enter the collective the others are
	// in (hang), or entered the recent ones late (slowdown): the problem
	// is on that rank's compute side (paused, CPU-starved, slow).
	RankNotEntered = "rank-not-entered"
	// RankStalled: a rank entered the collective and then stopped: it
	// neither consumes the chunks its left neighbour has written to it
	// nor sends to its right one.
	RankStalled = "rank-stalled"
	// LinkStalled: chunks written on link From→To are never received,
	// while both ranks are alive.
	LinkStalled = "link-stalled"
	// LinkSlow: chunks queue in front of link From→To far more than in
	// front of any other link, while no rank is stuck.
	LinkSlow = "link-slow"
	// Unknown: the rules found no root cause.
	Unknown = "unknown"
)

// Diagnosis is where Localize puts the root cause of an anomaly.
type Diagnosis struct {
	// At is when the anomaly was detected.
	At      time.Time
	Anomaly Anomaly
	Class   string
	// Rank is the root-cause rank (rank classes), else -1.
	Rank int
	// From and To are the root-cause link From→To (link classes), else
	// -1.
	From, To int
	// Channel is the one channel implicated, or -1 if all or unknown.
	Channel int
	// Evidence names the numbers the decision used.
	Evidence string
}

func (d Diagnosis) String() string {
	switch {
	case d.Rank >= 0:
		return fmt.Sprintf("%s: rank %d: %s", d.Class, d.Rank, d.Evidence)
	case d.From >= 0:
		return fmt.Sprintf("%s: link %d->%d: %s", d.Class, d.From, d.To, d.Evidence)
	}
	return fmt.Sprintf("%s: %s", d.Class, d.Evidence)
}

// Localize finds the root cause of a, which Detect returned for g (an
// Anomaly built by hand uses the default Options).
//
// A hang is localized by these rules, in order; k is the oldest op any
// rank is in (ranks that finished k and entered k+1 wait on those still in
// k):
//
//  1. rank-stalled (frozen): a rank with a collective in flight whose
//     newest snapshot is older than three snapshot intervals (estimated
//     from the view; at least HangAfter/4, at most HangAfter). The tracer
//     snapshots every interval while a collective is in flight, so
//     silence means the
//     process itself stopped (paused, killed, wedged); its counters are
//     frozen and say nothing about waiting, so it is excluded from the
//     walk below. Several: the one silent longest. (This needs the trace
//     interval well below HangAfter.)
//  2. rank-not-entered: a rank out of any collective whose newest op is
//     below the newest op in flight (it completed an earlier one and never
//     entered the next) and whose newest record is older than HangAfter/2
//     (one that completed just now is catching up, not kept out); its
//     neighbours block on it. Several: the one silent longest.
//  3. Otherwise walk the waits on the hung channel (a chunk is forwarded
//     on the channel it arrived on, so channels are independent rings),
//     starting at the rank where the hang was observed. Rank r waits on
//     its right neighbour if it has chunks written to r+1 and not
//     acknowledged (Sent > Acked): step right. Else
//     if its left neighbour has chunks written to r that r has not
//     acknowledged, or if r has chunks ready to send (Ready > Sent) with
//     none in flight, r holds up the ring: stop there. Else r waits on its
//     left neighbour for chunks not yet written (Recvd < ToRecv with
//     nothing pending): step left. In a ring a stopped rank or link into
//     X leaves X-1's sends unacknowledged (upstream ranks point right, to
//     X) and starves X+1, X+2, … (downstream ranks point left, back to
//     X), so every walk ends at X. A walk that revisits a rank, or meets
//     a rank not in k, ends with Unknown.
//  4. The holder X (left neighbour L) is alive (rule 1). It is
//     rank-stalled if it has chunks ready to send on the hung channel and
//     its link is idle (Ready > Sent, nothing unacknowledged): a live
//     sender with a free link sends at once, so its own sender stopped,
//     not the network. (Ready moves with every chunk received, so
//     since_send_ns cannot tell this apart.) Otherwise X is alive, has
//     nothing to send and is starved of chunks L reports
//     written: link-stalled L→X (Channel set when exactly one of X's
//     open channels is stuck: L has chunks unacknowledged on it and X
//     received nothing on it for HangAfter). A rank wedged whole while
//     its tracer runs on, with nothing ready to send, leaves the same
//     counters as a dead incoming link and is reported as link-stalled
//     L→X, which still names it as an endpoint.
//
// A slowdown is localized by:
//
//  1. rank-not-entered (entered late): take the last W ops every rank
//     completed, and of those the slow ones (the anomaly rank's duration
//     above SlowFactor × its baseline; all W if none). A rank's lateness
//     in an op is its start_unix_ns minus the earliest rank's, but no
//     more than its gap (start minus the end of its previous op: its
//     compute phase) exceeds the median rank's gap, since a rank whose
//     previous op ended late (a lossy link next to it) starts late
//     through no fault of its own. If rank X's median lateness is the
//     largest and at least half the anomaly rank's median excess
//     (duration − baseline), waiting for X to arrive explains the
//     slowdown: X's compute phase is slow. (A late rank's own collectives
//     are short: everyone is ready when it arrives.)
//  2. link-slow: for every link r→r+1 and channel, the backlog is the mean
//     over r's snapshots of those ops of Ready − Acked (chunks r could
//     send, or has sent, that r+1 has not taken). A ring runs at the pace
//     of its slowest link, and chunks pile up in front of it, so a link
//     whose backlog is at least LinkSlowFactor × the median backlog (and
//     at least 2 chunks) is slow. Backlog also spreads upstream of the
//     slow link (its sender takes its own incoming chunks more slowly),
//     so from the worst link the walk goes downstream while the next link
//     is backlogged too, and names the last.
//  3. Otherwise Unknown.
func Localize(g *Ring, a Anomaly) Diagnosis {
	o := a.opts.withDefaults()
	d := Diagnosis{At: a.At, Anomaly: a, Class: Unknown, Rank: -1, From: -1, To: -1, Channel: -1}
	if g.N == 0 {
		d.Evidence = "no ranks"
		return d
	}
	switch a.Kind {
	case Hang:
		localizeHang(g, a, o, &d)
	case Slowdown:
		localizeSlow(g, a, o, &d)
	default:
		d.Evidence = "unknown anomaly kind " + a.Kind
	}
	return d
}

// stateIn returns rank r's snapshot of op k if it is in it.
func stateIn(g *Ring, r int, k uint64) *State {
	if s, ok := g.Ranks[r].InFlight(); ok && s.Op == k {
		return s
	}
	return nil
}

func unacked(s *State) int64 {
	var u int64
	for i := range s.Channels {
		u += s.Channels[i].Unacked()
	}
	return u
}

func localizeHang(g *Ring, a Anomaly, o Options, d *Diagnosis) {
	now := a.At.UnixNano()
	// top is the newest op in flight, k the oldest: ranks in k+1… wait on
	// those still in k, so the walk looks at k.
	var top, k uint64
	for r := range g.Ranks {
		if s, ok := g.Ranks[r].InFlight(); ok {
			top = max(top, s.Op)
			if k == 0 || s.Op < k {
				k = s.Op
			}
		}
	}
	if k == 0 {
		d.Evidence = "no rank has a collective in flight"
		return
	}
	// Rule 1: a rank frozen inside a collective.
	silentAfter := silence(g, o)
	frozen := -1
	for r := range g.Ranks {
		st, ok := g.Ranks[r].InFlight()
		if ok && time.Duration(now-st.UnixNS) > silentAfter && (frozen < 0 || st.UnixNS < g.Ranks[frozen].Latest.UnixNS) {
			frozen = r
		}
	}
	if frozen >= 0 {
		st := g.Ranks[frozen].Latest
		d.Class, d.Rank = RankStalled, frozen
		d.Evidence = fmt.Sprintf("rank %d is in op %d but its newest snapshot is %s old (> %s, the silence limit): the process stopped",
			frozen, st.Op, time.Duration(now-st.UnixNS).Round(time.Millisecond), silentAfter)
		if l := stateIn(g, g.left(frozen), st.Op); l != nil {
			d.Evidence += fmt.Sprintf("; rank %d has %d chunks to it unacknowledged", g.left(frozen), unacked(l))
		}
		if rt := stateIn(g, g.right(frozen), st.Op); rt != nil {
			var recvd, to int64
			for i := range rt.Channels {
				recvd += rt.Channels[i].Recvd
				to += rt.Channels[i].ToRecv
			}
			d.Evidence += fmt.Sprintf("; rank %d received %d/%d chunks from it", g.right(frozen), recvd, to)
		}
		return
	}
	// Rule 2: a rank out of any collective that never entered top.
	lag, behind := -1, []string{}
	for r := range g.Ranks {
		v := &g.Ranks[r]
		if _, in := v.InFlight(); in || v.Op() >= top {
			continue
		}
		if v.LastSeen() > now-int64(o.HangAfter/2) {
			// It finished its op just now: catching up after being held
			// up, not kept out by its own compute phase.
			continue
		}
		behind = append(behind, fmt.Sprint(r))
		if lag < 0 || v.LastSeen() < g.Ranks[lag].LastSeen() {
			lag = r
		}
	}
	if lag >= 0 {
		v := &g.Ranks[lag]
		d.Class, d.Rank = RankNotEntered, lag
		silent := "no records at all"
		if v.LastSeen() > 0 {
			silent = fmt.Sprintf("last record %s before detection", time.Duration(now-v.LastSeen()).Round(time.Millisecond))
		}
		d.Evidence = fmt.Sprintf("rank %d is at op %d (%s) while op %d is in flight on other ranks; ranks out of any collective before op %d: %s",
			lag, v.Op(), silent, top, top, strings.Join(behind, ","))
		return
	}
	// Rule 3: walk the waits of the hung channel (channels never wait
	// for each other: a chunk is forwarded on the channel it came in on).
	r, ch := a.Rank, a.Channel
	if r < 0 || r >= g.N || stateIn(g, r, k) == nil || chanOf(stateIn(g, r, k), ch) == nil {
		r = -1
		for q := range g.Ranks {
			if s := stateIn(g, q, k); s != nil && len(s.Channels) > 0 {
				r, ch = q, s.Channels[0].Ch
				break
			}
		}
		if r < 0 {
			d.Evidence = fmt.Sprintf("no rank has channels in op %d", k)
			return
		}
	}
	var path []string
	seen := make([]bool, g.N)
	holder := -1
	for holder < 0 {
		c := chanOf(stateIn(g, r, k), ch)
		if c == nil {
			d.Evidence = fmt.Sprintf("walk on channel %d %s reached rank %d, which is not in op %d", ch, strings.Join(path, ""), r, k)
			return
		}
		if seen[r] {
			d.Evidence = fmt.Sprintf("walk on channel %d %s returned to rank %d: every rank waits, none holds chunks up", ch, strings.Join(path, ""), r)
			return
		}
		seen[r] = true
		lc := chanOf(stateIn(g, g.left(r), k), ch)
		switch {
		case c.Unacked() > 0:
			path = append(path, fmt.Sprintf("%d(%d unacked to %d)->", r, c.Unacked(), g.right(r)))
			r = g.right(r)
		case lc != nil && lc.Unacked() > 0, c.Ready > c.Sent:
			holder = r
		default:
			path = append(path, fmt.Sprintf("%d(recvd %d/%d, starved by %d)->", r, c.Recvd, c.ToRecv, g.left(r)))
			r = g.left(r)
		}
	}
	x, lft := holder, g.left(holder)
	s, l := stateIn(g, x, k), stateIn(g, lft, k)
	xc, lc := chanOf(s, ch), chanOf(l, ch)
	chain := fmt.Sprintf("channel %d: %s%d", ch, strings.Join(path, ""), x)
	// Rule 4: rank or link.
	age := time.Duration(now - s.UnixNS)
	if xc.Ready > xc.Sent && xc.Unacked() == 0 {
		lu := int64(0)
		if lc != nil {
			lu = lc.Unacked()
		}
		d.Class, d.Rank, d.Channel = RankStalled, x, ch
		d.Evidence = fmt.Sprintf("rank %d channel %d has %d chunks ready (ready %d, sent %d) and none unacknowledged, so nothing blocks its sends, yet rank %d starves (recvd %d/%d); rank %d has %d chunks to it unacknowledged; wait chain %s",
			x, ch, xc.Ready-xc.Sent, xc.Ready, xc.Sent, g.right(x), recvdOf(g, g.right(x), k, ch), xc.ToSend, lft, lu, chain)
		return
	}
	d.Class, d.From, d.To = LinkStalled, lft, x
	// Which channels of the link are stuck: chunks written by L,
	// unacknowledged, and nothing received by X for HangAfter.
	var per []string
	stuck, open := []int{}, 0
	for i := range s.Channels {
		c := &s.Channels[i]
		if c.Done() {
			continue
		}
		open++
		p := chanOf(l, c.Ch)
		sr := time.Duration(c.SinceRecvNS) + age
		if p != nil && p.Unacked() > 0 && sr > o.HangAfter {
			stuck = append(stuck, c.Ch)
			per = append(per, fmt.Sprintf("ch%d: %d sent %d acked %d, %d recvd %d/%d, nothing for %s",
				c.Ch, lft, p.Sent, p.Acked, x, c.Recvd, c.ToRecv, sr.Round(time.Millisecond)))
		}
	}
	if len(stuck) == 1 && len(s.Channels) > 1 {
		d.Channel = stuck[0]
	}
	d.Evidence = fmt.Sprintf("rank %d wrote chunks rank %d never took (%s); rank %d is alive (snapshot %s old) and has nothing to send; %d of %d open channels stuck; wait chain %s",
		lft, x, strings.Join(per, "; "), x, age.Round(time.Millisecond), len(stuck), open, chain)
}

// recvdOf is rank r's chunks received on channel ch in op k (-1 if
// unknown).
func recvdOf(g *Ring, r int, k uint64, ch int) int64 {
	if c := chanOf(stateIn(g, r, k), ch); c != nil {
		return c.Recvd
	}
	return -1
}

// chanOf returns channel ch of s (nil if s is nil or lacks it).
func chanOf(s *State, ch int) *ChannelState {
	if s == nil {
		return nil
	}
	for i := range s.Channels {
		if s.Channels[i].Ch == ch {
			return &s.Channels[i]
		}
	}
	return nil
}

// silence is how old a rank's newest snapshot may be, while it is in
// flight, before the rank counts as frozen: three snapshot intervals
// (estimated as the median gap between consecutive snapshots of one op
// in the view) but at least HangAfter/4, to tolerate a tracer delayed by
// load, and at most HangAfter.
func silence(g *Ring, o Options) time.Duration {
	var gaps []time.Duration
	for r := range g.Ranks {
		st := g.Ranks[r].States
		for i := max(1, len(st)-64); i < len(st); i++ {
			if st[i].Op == st[i-1].Op && st[i].UnixNS > st[i-1].UnixNS {
				gaps = append(gaps, time.Duration(st[i].UnixNS-st[i-1].UnixNS))
			}
		}
	}
	if iv := median(gaps); iv > 0 {
		return min(o.HangAfter, max(3*iv, o.HangAfter/4))
	}
	return o.HangAfter
}

func localizeSlow(g *Ring, a Anomaly, o Options, d *Diagnosis) {
	if a.Rank < 0 || a.Rank >= g.N {
		d.Evidence = "anomaly names no rank"
		return
	}
	base, recent, ok := baseline(&g.Ranks[a.Rank], o)
	if !ok {
		d.Evidence = fmt.Sprintf("rank %d has too few completions", a.Rank)
		return
	}
	limit := time.Duration(float64(base) * o.SlowFactor)
	// The last W ops every rank completed; of those, the slow ones (the
	// anomaly rank took longer than SlowFactor × its baseline), or all if
	// none is.
	var ops, slow []uint64
	var excesses []time.Duration
	v := &g.Ranks[a.Rank]
	for i := len(v.Completions) - 1; i >= 0 && len(ops) < o.RecentOps; i-- {
		c := &v.Completions[i]
		all := true
		for r := range g.Ranks {
			if _, ok := g.Ranks[r].completion(c.Op); !ok {
				all = false
				break
			}
		}
		if all && c.Error == "" {
			ops = append(ops, c.Op)
			if c.Duration() > limit {
				slow = append(slow, c.Op)
				excesses = append(excesses, c.Duration()-base)
			}
		}
	}
	if len(ops) == 0 {
		d.Evidence = "no recent op completed by every rank"
		return
	}
	if len(slow) == 0 {
		slow = ops
		excesses = []time.Duration{recent - base}
	}
	excess := median(excesses)
	// Rule 1: lateness that the rank's own compute phase explains. A rank
	// whose previous collective ended late also starts late, through no
	// fault of its own (a lossy link delays the end of the ops of the
	// ranks around it), so lateness counts only as far as the rank's gap
	// (start of op k - end of its op k-1: its compute phase) exceeds the
	// median rank's gap.
	late := make([][]time.Duration, g.N)
	for _, op := range slow {
		first := int64(0)
		gaps := make([]time.Duration, g.N)
		known := true
		for r := range g.Ranks {
			c, _ := g.Ranks[r].completion(op)
			if r == 0 || c.StartUnixNS < first {
				first = c.StartUnixNS
			}
			prev, ok := g.Ranks[r].completion(op - 1)
			if !ok {
				known = false
				continue
			}
			gaps[r] = time.Duration(c.StartUnixNS - prev.EndUnixNS)
		}
		mg := median(gaps)
		for r := range g.Ranks {
			c, _ := g.Ranks[r].completion(op)
			l := time.Duration(c.StartUnixNS - first)
			if known {
				l = min(l, max(0, gaps[r]-mg))
			}
			late[r] = append(late[r], l)
		}
	}
	worst, worstLate := -1, time.Duration(0)
	for r := range late {
		if m := median(late[r]); worst < 0 || m > worstLate {
			worst, worstLate = r, m
		}
	}
	if excess > 0 && worstLate > 0 && 2*worstLate >= excess {
		d.Class, d.Rank = RankNotEntered, worst
		d.Evidence = fmt.Sprintf("rank %d entered the slow ops %v a median %s after the first rank; that explains ≥ half of rank %d's median excess %s over its baseline %s",
			worst, slow, worstLate.Round(time.Microsecond), a.Rank, excess.Round(time.Microsecond), base.Round(time.Microsecond))
		return
	}
	// Rule 2: backlog per link and channel.
	lo := ops[len(ops)-1]
	type link struct {
		from, ch int
		backlog  float64
	}
	var links []link
	var all []float64
	for r := range g.Ranks {
		sum := map[int]float64{}
		cnt := map[int]int{}
		for i := range g.Ranks[r].States {
			s := &g.Ranks[r].States[i]
			if s.Op < lo {
				continue
			}
			for j := range s.Channels {
				c := &s.Channels[j]
				sum[c.Ch] += float64(c.Ready - c.Acked)
				cnt[c.Ch]++
			}
		}
		for ch, n := range cnt {
			b := sum[ch] / float64(n)
			links = append(links, link{r, ch, b})
			all = append(all, b)
		}
	}
	if len(links) == 0 {
		d.Evidence = fmt.Sprintf("no state snapshots of ops %d..%d and no rank entered late (worst: rank %d, median %s)", lo, ops[0], worst, worstLate)
		return
	}
	med := medianF(all)
	top := links[0]
	for _, l := range links[1:] {
		if l.backlog > top.backlog || l.backlog == top.backlog && (l.from < top.from || l.from == top.from && l.ch < top.ch) {
			top = l
		}
	}
	thr := max(2, o.LinkSlowFactor*med)
	if top.backlog >= thr {
		// A slow link X→Y holds X back, and X then takes the chunks of
		// its own left link W→X more slowly (in all-gather it may not
		// overwrite what it has not yet sent), so backlog spreads
		// upstream from the root. Walk downstream from the worst link
		// while the next one is backlogged too: the root is the last.
		perLink := map[int]link{}
		for _, l := range links {
			if p, ok := perLink[l.from]; !ok || l.backlog > p.backlog {
				perLink[l.from] = l
			}
		}
		root, chain := top, []string{fmt.Sprintf("%d->%d %.1f", top.from, g.right(top.from), top.backlog)}
		for range g.N - 1 {
			next, ok := perLink[g.right(root.from)]
			if !ok || next.backlog < thr || next.from == top.from {
				break
			}
			root = next
			chain = append(chain, fmt.Sprintf("%d->%d %.1f", next.from, g.right(next.from), next.backlog))
		}
		d.Class, d.From, d.To = LinkSlow, root.from, g.right(root.from)
		// Name the channel only when the others of this link are normal.
		d.Channel = root.ch
		for _, l := range links {
			if l.from == root.from && l.ch != root.ch && l.backlog >= thr {
				d.Channel = -1
			}
		}
		d.Evidence = fmt.Sprintf("link %d->%d channel %d: mean backlog (ready-acked) %.1f chunks over ops %d..%d vs median %.1f over %d link-channels (factor %.1f; backlogged downstream chain %s); no rank entered late (worst: rank %d, median %s); rank %d's excess %s",
			root.from, d.To, root.ch, root.backlog, lo, ops[0], med, len(links), o.LinkSlowFactor, strings.Join(chain, ", "), worst, worstLate.Round(time.Microsecond), a.Rank, excess.Round(time.Microsecond))
		return
	}
	d.Evidence = fmt.Sprintf("no rank entered late (worst: rank %d, median %s vs excess %s) and no link backlog stands out (max %.1f at %d->%d ch%d vs median %.1f)",
		worst, worstLate.Round(time.Microsecond), excess.Round(time.Microsecond), top.backlog, top.from, g.right(top.from), top.ch, med)
}
