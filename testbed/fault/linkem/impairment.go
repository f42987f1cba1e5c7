// Package linkem is a userspace link emulator for kernels without sch_netem.
// It splices a relay into a running veth link and gives that link netem's
// delay, jitter, loss (random or Gilbert-Elliott), reorder, duplicate,
// corrupt and rate, so that faults behave the same on kernels with and
// without netem.
//
// Insert moves end B of the link into a hidden network namespace pinned
// under the caller's directory (not under /run/netns), puts a new veth in
// its place in B's namespace with the same name, index, MAC, MTU,
// addresses, master and routes, and starts a relay process (`tbctl fault
// relay`) in the hidden namespace that copies frames between the two,
// through AF_PACKET sockets, applying the impairments. The endpoints see a
// carrier blip and nothing else. Remove undoes it, from the same or another
// process, from the State that Insert returned (which is JSON): it is how a
// crashed tbctl's faults are healed.
//
// What it touches: the two namespaces of the link (end B's interface, its
// addresses, master and routes), files under the directory it is given
// (the namespace pin, relay.log, config.json, stats.json, state.json) and
// the relay process it started. Nothing else.
package linkem

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Directions an impairment applies to. A is the end named by Link.NSA and
// Link.IfA: "a-to-b" impairs frames that IfA sends (as netem on IfA's
// egress would), "b-to-a" frames that IfB sends.
const (
	Both = "both"
	AtoB = "a-to-b"
	BtoA = "b-to-a"
)

// Distributions of the jitter.
const (
	Normal  = "normal"
	Uniform = "uniform"
)

// Impairment is what the emulator does to the frames of a link, with
// netem's semantics unless said otherwise. The zero value relays frames
// untouched.
type Impairment struct {
	// Direction is Both (the default, ""), AtoB or BtoA. With Both every
	// parameter applies to each direction on its own, so a Delay of 20ms
	// adds 40ms to a round trip; netem on one interface is AtoB or BtoA.
	Direction string `json:"direction,omitempty"`

	// Delay is added to every frame. Jitter varies it: with Distribution
	// "normal" (the default) the delay is drawn from a normal distribution
	// of mean Delay and standard deviation Jitter, truncated to Delay ±
	// 2·Jitter (drawn again when outside); with "uniform" it is uniform in
	// [Delay-Jitter, Delay+Jitter]. A negative draw counts as 0. As with
	// netem, frames leave in order of their send time, so jitter reorders
	// frames unless a rate is set.
	Delay        time.Duration `json:"delay,omitempty"`
	Jitter       time.Duration `json:"jitter,omitempty"`
	Distribution string        `json:"distribution,omitempty"`

	// LossPct drops each frame with this probability (percent), unless GE
	// is set, which replaces it.
	LossPct float64         `json:"lossPct,omitempty"`
	GE      *GilbertElliott `json:"gilbertElliott,omitempty"`

	// ReorderPct sends this percentage of frames at once, ahead of the
	// delayed ones (netem "delay D reorder R%"). Needs a Delay.
	ReorderPct float64 `json:"reorderPct,omitempty"`

	// DuplicatePct sends an extra copy of this percentage of frames; the
	// copy is delayed on its own. As in netem, a frame both duplicated and
	// lost is sent once.
	DuplicatePct float64 `json:"duplicatePct,omitempty"`

	// CorruptPct flips one random bit in this percentage of frames, after
	// the Ethernet header. A frame whose checksum the kernel had left to
	// the "hardware" gets it computed first, so the receiver sees the
	// damage. A GSO frame (a TCP burst the sender's stack has not cut into
	// MTU-sized frames yet) chosen for corruption is dropped and counted as
	// corrupted: the receiver would have discarded the damaged segment
	// (netem cuts the burst and damages one segment; the others arrive).
	CorruptPct float64 `json:"corruptPct,omitempty"`

	// RateMbps limits the rate (10^6 bit/s of Ethernet frames, header
	// included; a GSO frame counts as the frames it stands for). Frames
	// wait in a queue of at most QueueLimit frames (default 1000, netem's
	// default limit) — the queue also holds delayed frames, as netem's
	// does — and frames arriving at a full queue are dropped.
	RateMbps   float64 `json:"rateMbps,omitempty"`
	QueueLimit int     `json:"queueLimit,omitempty"`

	// Seed seeds the random draws (loss, jitter, ...), so that a run can be
	// repeated; 0 means seed 0, not a random seed.
	Seed int64 `json:"seed,omitempty"`
}

// GilbertElliott is the classic four-parameter Gilbert-Elliott loss model:
// a two-state Markov chain, evaluated once per frame. In the good state a
// frame goes through with probability K, in the bad state with probability
// H; from good the chain moves to bad with probability P, from bad to good
// with probability R. All four are probabilities in [0, 1] (not percent).
// The Gilbert model is H=0, K=1. netem's "loss gemodel p r 1-h 1-k" (in
// percent) is P=p/100, R=r/100, H=1-(1-h)/100, K=1-(1-k)/100.
type GilbertElliott struct {
	P float64 `json:"p"`
	R float64 `json:"r"`
	H float64 `json:"h"`
	K float64 `json:"k"`
}

// DefaultQueueLimit is the queue limit when QueueLimit is 0.
const DefaultQueueLimit = 1000

// Validate says what is wrong with an impairment, if anything.
func (imp Impairment) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch imp.Direction {
	case "", Both, AtoB, BtoA:
	default:
		bad("direction %q: want %q, %q or %q", imp.Direction, Both, AtoB, BtoA)
	}
	if imp.Delay < 0 {
		bad("delay %s is negative", imp.Delay)
	}
	if imp.Jitter < 0 {
		bad("jitter %s is negative", imp.Jitter)
	}
	if imp.Delay > time.Hour || imp.Jitter > time.Hour {
		bad("delay and jitter must be at most an hour")
	}
	switch imp.Distribution {
	case "", Normal, Uniform:
	default:
		bad("distribution %q: want %q or %q", imp.Distribution, Normal, Uniform)
	}
	pct := func(name string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 100 {
			bad("%s %v%%: want a percentage from 0 to 100", name, v)
		}
	}
	pct("loss", imp.LossPct)
	pct("reorder", imp.ReorderPct)
	pct("duplicate", imp.DuplicatePct)
	pct("corrupt", imp.CorruptPct)
	if imp.ReorderPct > 0 && imp.Delay == 0 {
		bad("reorder %v%% needs a delay: reordered frames are those sent ahead of the delayed ones", imp.ReorderPct)
	}
	if g := imp.GE; g != nil {
		if imp.LossPct > 0 {
			bad("loss %v%% and a Gilbert-Elliott model: give one or the other", imp.LossPct)
		}
		for _, p := range []struct {
			n string
			v float64
		}{{"p", g.P}, {"r", g.R}, {"h", g.H}, {"k", g.K}} {
			if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
				bad("gilbert-elliott %s=%v: want a probability from 0 to 1", p.n, p.v)
			}
		}
		if g.K == 0 {
			bad("gilbert-elliott k=0 drops every frame in the good state: k is the probability that a frame gets through there (1 for the Gilbert model)")
		}
	}
	if math.IsNaN(imp.RateMbps) || imp.RateMbps < 0 {
		bad("rate %v Mbit/s is negative", imp.RateMbps)
	} else if imp.RateMbps > 0 && imp.RateMbps < 0.001 {
		bad("rate %v Mbit/s is below 1 kbit/s", imp.RateMbps)
	}
	if imp.QueueLimit < 0 {
		bad("queue limit %d is negative", imp.QueueLimit)
	}
	return errors.Join(errs...)
}

// zero reports whether the impairment leaves frames alone.
func (imp *Impairment) zero() bool {
	return imp.Delay == 0 && imp.Jitter == 0 && imp.LossPct == 0 && imp.GE == nil &&
		imp.DuplicatePct == 0 && imp.CorruptPct == 0 && imp.RateMbps == 0
}

// applies reports whether the impairment applies to a direction.
func (imp *Impairment) applies(dir string) bool {
	return imp.Direction == "" || imp.Direction == Both || imp.Direction == dir
}

func (imp *Impairment) queueLimit() int {
	if imp.QueueLimit > 0 {
		return imp.QueueLimit
	}
	return DefaultQueueLimit
}
