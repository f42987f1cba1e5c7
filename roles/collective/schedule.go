package collective

// Segment is a range of buffer elements [Off, Off+Len).
type Segment struct{ Off, Len int }

// Segments splits l elements into n segments in order; the first l%n are
// one element longer than the rest, so sizes differ by at most one (and
// are empty when l < n).
func Segments(l, n int) []Segment {
	segs := make([]Segment, n)
	base, extra := l/n, l%n
	off := 0
	for i := range segs {
		sz := base
		if i < extra {
			sz++
		}
		segs[i] = Segment{off, sz}
		off += sz
	}
	return segs
}

// Step is one step of the ring for one rank: it sends segment Send to its
// right neighbour and receives segment Recv from its left one, adding the
// received values into its own (Reduce, the reduce-scatter phase) or
// overwriting them (the all-gather phase).
type Step struct {
	Send, Recv int
	Reduce     bool
}

// RingSteps returns the 2(n-1) steps of rank in a ring of n: at step s the
// rank sends segment (rank-s) mod n and receives (rank-s-1) mod n; the
// first n-1 steps reduce. After them rank holds the full sum of segment
// (rank+1) mod n, and after all steps of every segment.
func RingSteps(rank, n int) []Step {
	if n < 2 {
		return nil
	}
	steps := make([]Step, 2*(n-1))
	for s := range steps {
		steps[s] = Step{
			Send:   mod(rank-s, n),
			Recv:   mod(rank-s-1, n),
			Reduce: s < n-1,
		}
	}
	return steps
}

func mod(a, n int) int { return ((a % n) + n) % n }

// Chunks cuts seg into chunks of at most chunkElems elements and returns
// those of channel ch out of channels: chunk k goes to channel k mod
// channels. Both ends of a channel compute the same list for a segment,
// and a segment's chunk k is forwarded at the next step on the same
// channel, so channels never wait for each other.
func Chunks(seg Segment, chunkElems, channels, ch int) []Segment {
	var out []Segment
	for k, off := 0, seg.Off; off < seg.Off+seg.Len; k, off = k+1, off+chunkElems {
		if k%channels == ch {
			out = append(out, Segment{off, min(chunkElems, seg.Off+seg.Len-off)})
		}
	}
	return out
}

// plan is what one channel of one rank does in one AllReduce.
type plan struct {
	steps   []Step
	send    [][]Segment // per step, the chunks sent on this channel
	recv    [][]Segment // per step, the chunks received
	cumSend []int       // per step, chunks sent on this channel before it
	nSend   int
	nRecv   int
	first   int // chunks sent at step 0 (ready before anything arrives)
	maxCh   int // largest chunk received, in elements
}

func makePlan(rank, n, l int, o Options, ch int) *plan {
	segs := Segments(l, n)
	p := &plan{steps: RingSteps(rank, n)}
	ce, nc := o.chunkElems(), o.channels()
	for s, st := range p.steps {
		snd := Chunks(segs[st.Send], ce, nc, ch)
		rcv := Chunks(segs[st.Recv], ce, nc, ch)
		p.cumSend = append(p.cumSend, p.nSend)
		p.send = append(p.send, snd)
		p.recv = append(p.recv, rcv)
		p.nSend += len(snd)
		p.nRecv += len(rcv)
		if s == 0 {
			p.first = len(snd)
		}
		for _, c := range rcv {
			p.maxCh = max(p.maxCh, c.Len)
		}
	}
	return p
}
