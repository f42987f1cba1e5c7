// Package experiment reads experiment files: which topology to build, which
// roles to run on which nodes and in what order, how long, how often, over
// which parameter sweep, and which expectations the measured metrics must
// meet. It resolves and validates them with file positions, expands sweeps
// into points, derives per-run seeds and evaluates expectations. It touches
// no kernel objects and starts no processes.
package experiment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/tbctl/tbctl/testbed/topo"
)

// Defaults for optional fields.
const (
	// DefaultProvider is "": the topology's provider (its provider:
	// field, or remote when it has a remote: section), else netns.
	DefaultProvider    = ""
	DefaultRepetitions = 1
	DefaultSeed        = 1
	MaxRepetitions     = 1000
	MaxName            = topo.MaxLabName

	DefaultCollectInterval = 100 * time.Millisecond

	// DefaultTolerance is how far (relative) a rerun's key metric may be
	// from the original's when reproduce: gives no tolerance.
	DefaultTolerance = 0.10
)

// Experiment is a resolved, validated experiment file.
type Experiment struct {
	Name, Claim, Provider string
	File                  string // path it was read from
	Topology              TopologyRef
	Duration, Warmup      time.Duration
	Repetitions           int
	Seed                  int64
	Roles                 []*Instance  // in file order
	Faults                []*FaultSpec // applied during the measured window
	Chaos                 *Chaos       // a seeded random schedule, when set
	Collect               Collect      // what is measured while roles run
	Sweep                 Sweep
	Expect                []*Expectation // evaluated on every run
	Compare               []*Expectation // evaluated once across all runs
	Reproduce             Reproduce      // how a rerun is judged (tbctl artifact reproduce)
	Doc                   map[string]any // the document after --set, for manifests

	data []byte   // the file as read, so that At can re-decode it
	sets []string // the --set overrides it was parsed with
}

// TopologyRef names the topology the experiment runs on; exactly one field
// is set.
type TopologyRef struct {
	File     string         // absolute path
	Inline   map[string]any // a whole topology document
	Generate *Generate
}

// Generate asks for a generated topology (see package topo/gen).
type Generate struct {
	Shape                                   string
	Hosts, Depth, Fanout, Spines, Leaves, K int
}

// Instance is one role placed on a node.
type Instance struct {
	Name   string
	Role   string
	Node   string
	After  []string // instances that must be ready before this one starts
	Params map[string]any
	Pos    topo.Pos // of the instance's name
}

// FaultSpec schedules one fault: applied At after the measured window
// starts, reverted For later (or at the end of the run when For is 0), and
// applied again Every so often when Every is set.
type FaultSpec struct {
	Name           string // names its windows in metrics: during_NAME_KEY, after_NAME_KEY
	Code           string
	Target         string
	Params         map[string]string
	At, For, Every time.Duration
	Pos            topo.Pos
}

// Chaos picks Count faults at random from Faults, each lasting For, at
// random times of the measured window. The draw depends only on the seed
// (Seed, or the run's seed when 0), so a run can be replayed exactly.
//
// Pick says how candidates are drawn: PickUniform (each draw any
// candidate) or PickEachCode (rounds in which every fault code appears
// once, in a random order, each time with a random candidate of that code:
// every kind of fault is exercised, on varying targets). With Gap set the
// faults come one at a time: each is preceded by at least Gap with no
// fault (a quiet period to recover in, and for a baseline before the
// first), at random times within the slack left.
type Chaos struct {
	Seed   int64
	Count  int
	For    time.Duration
	Gap    time.Duration
	Pick   string
	Faults []*FaultSpec
	Pos    topo.Pos
}

// Chaos picks.
const (
	PickUniform  = "uniform"
	PickEachCode = "each-code"
)

// Schedule draws the chaos faults for a run whose seed is runSeed.
func (c *Chaos) Schedule(duration time.Duration, runSeed int64) []*FaultSpec {
	seed := c.Seed
	if seed == 0 {
		seed = runSeed
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7462637463686173)) // "tbctchas"
	picks := c.pick(rng)
	var ats []time.Duration
	if c.Gap > 0 {
		// One at a time: gap, fault, gap, fault, ...; the slack is spread
		// at random between them.
		slack := max(0, duration-time.Duration(c.Count)*(c.For+c.Gap))
		var offs []int64
		for range c.Count {
			offs = append(offs, rng.Int64N(int64(slack)+1))
		}
		slices.Sort(offs)
		for i, off := range offs {
			ats = append(ats, time.Duration(i+1)*c.Gap+time.Duration(i)*c.For+time.Duration(off))
		}
	} else {
		span := duration - c.For
		for range c.Count {
			ats = append(ats, time.Duration(rng.Int64N(int64(span)+1)))
		}
	}
	var out []*FaultSpec
	for i, pick := range picks {
		f := *pick
		f.At = ats[i]
		f.For = c.For
		f.Every = 0
		f.Name = fmt.Sprintf("chaos%d", i+1)
		out = append(out, &f)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].At < out[b].At })
	return out
}

// pick draws Count candidates as Pick says.
func (c *Chaos) pick(rng *rand.Rand) []*FaultSpec {
	var out []*FaultSpec
	if c.Pick != PickEachCode {
		for range c.Count {
			out = append(out, c.Faults[rng.IntN(len(c.Faults))])
		}
		return out
	}
	var codes []string
	byCode := map[string][]*FaultSpec{}
	for _, f := range c.Faults {
		if byCode[f.Code] == nil {
			codes = append(codes, f.Code)
		}
		byCode[f.Code] = append(byCode[f.Code], f)
	}
	for len(out) < c.Count {
		for _, k := range rng.Perm(len(codes)) {
			if len(out) == c.Count {
				break
			}
			cands := byCode[codes[k]]
			out = append(out, cands[rng.IntN(len(cands))])
		}
	}
	return out
}

// Sweep lists the parameters varied across runs.
type Sweep struct {
	Cartesian []Axis // every combination
	Zip       []Axis // equal-length lists, taken together
}

// Axis is one swept path and its values.
type Axis struct {
	Path   string // dotted path into the document, e.g. roles.flow1.params.streams
	Values []any
	Pos    topo.Pos
}

// Expectation is one expect or compare line.
type Expectation struct {
	Text string
	Expr Expr
	Pos  topo.Pos
}

// Reproduce says how a rerun of the experiment from a packed artifact is
// judged: every expectation must hold again, and every key metric (Metrics
// when given, else those the expectations name) must be within Tolerance
// of the original run's value.
type Reproduce struct {
	Tolerance float64  // relative: 0.1 is 10%; DefaultTolerance when not written
	Metrics   []string // INSTANCE.KEY, in file order
	Pos       topo.Pos // of the reproduce section; zero when absent
}

// Instance returns the instance called name, or nil.
func (e *Experiment) Instance(name string) *Instance {
	for _, in := range e.Roles {
		if in.Name == name {
			return in
		}
	}
	return nil
}
