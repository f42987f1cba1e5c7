// Package analyzer is the mycroft-analyzer role: it follows the trace
// records of every rank of a mycroft ring live (package stream), detects
// a hang or a slowdown and localizes its root cause (package diagnose),
// and emits one "diagnosis" event per incident, as Mycroft's backend does
// (Deng et al., arXiv 2509.03018).
//
// Like Mycroft's trigger it watches closely only a sample of ranks (their
// state snapshots) and the rest lightly (their completion records, one
// per collective). Once Detect finds an anomaly in that view it asks every
// rank for everything, including the snapshots each still holds from the
// recent past, waits settle for them, checks the anomaly is still there
// and localizes it on the full view. The incident then stays open, and no
// new diagnosis is made, until the ring has looked healthy for recover;
// then the analyzer goes back to its sample ("recovered"). A slowdown is
// judged against each rank's pace over its baseline_ops collectives before
// the recent ones; while an incident is open, against the pace from before
// it.
//
// Events: "connected" (per rank, with its node), "triggered", "diagnosis"
// (kind, class, root-cause rank and root_node, or link from → to and
// from_node → to_node, channel,
// evidence, detected_mono_ns / detected_unix_ns: when the trigger fired),
// "dismissed" (the anomaly was gone once the full view came), "recovered".
// The runner scores diagnosis events against the faults it injected (see
// testbed/run, score.go). Summary: counts of each and the ranks' nodes.
// The role touches nothing but its own directory and its connections to
// the ranks.
package analyzer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/roles/mycroft"
	"github.com/tbctl/tbctl/roles/mycroft/diagnose"
	"github.com/tbctl/tbctl/roles/mycroft/stream"
)

// Params are the analyzer's parameters.
type Params struct {
	Ranks          []string      `param:"ranks" ref:"node" help:"the nodes running the ring's ranks (any order; each says its rank)"`
	Port           int           `param:"port" help:"the ranks' trace_port"`
	Sample         int           `param:"sample" help:"ranks whose state snapshots are followed all the time (the rest: completions only until a trigger)"`
	Check          time.Duration `param:"check" help:"how often the view is checked for anomalies"`
	HangAfter      time.Duration `param:"hang_after" help:"a channel of a collective in flight without progress this long is a hang"`
	BaselineOps    int           `param:"baseline_ops" help:"a rank's first collectives whose median duration is its baseline"`
	RecentOps      int           `param:"recent_ops" help:"a rank's last collectives whose median is compared with the baseline"`
	SlowFactor     float64       `param:"slow_factor" help:"a slowdown is a recent median above this times the baseline"`
	LinkSlowFactor float64       `param:"link_slow_factor" help:"a link is slow when its backlog is this times the median link's"`
	Settle         time.Duration `param:"settle" help:"how long to gather every rank's records after a trigger before localizing"`
	Recover        time.Duration `param:"recover" help:"how long the ring must look healthy before an incident is closed"`
}

func defaults() any {
	return &Params{
		Port:           mycroft.DefaultTracePort,
		Sample:         2,
		Check:          100 * time.Millisecond,
		HangAfter:      time.Second,
		BaselineOps:    10,
		RecentOps:      3,
		SlowFactor:     1.5,
		LinkSlowFactor: 3,
		Settle:         300 * time.Millisecond,
		Recover:        2 * time.Second,
	}
}

func init() {
	roles.Register(&roles.Role{
		Name:      "mycroft-analyzer",
		Summary:   "follows a mycroft ring's trace records live, detects hangs and slowdowns and localizes their root cause (diagnosis events)",
		Params:    defaults,
		Run:       run,
		Diagnoses: true,
	})
}

func (p *Params) check() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if len(p.Ranks) == 0 {
		bad("ranks must list the nodes of the ring's ranks")
	}
	if p.Port < 1 || p.Port > 65535 {
		bad("port %d is not between 1 and 65535", p.Port)
	}
	if p.Sample < 1 {
		bad("sample must be at least 1, got %d", p.Sample)
	}
	for name, d := range map[string]time.Duration{"check": p.Check, "hang_after": p.HangAfter, "settle": p.Settle, "recover": p.Recover} {
		if d <= 0 {
			bad("%s must be positive, got %s", name, d)
		}
	}
	if p.BaselineOps < 1 || p.RecentOps < 1 {
		bad("baseline_ops and recent_ops must be at least 1")
	}
	if p.SlowFactor <= 1 || p.LinkSlowFactor <= 1 {
		bad("slow_factor and link_slow_factor must be above 1")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("mycroft-analyzer: %s", strings.Join(errs, "; "))
	}
	return nil
}

// line is one record from one rank's stream.
type line struct {
	conn int // index into the analyzer's connections
	rec  diagnose.Record
	err  error // the stream ended
}

func run(ctx context.Context, env *roles.Env, params any) error {
	p := params.(*Params)
	if err := p.check(); err != nil {
		return err
	}
	a := &analyzer{p: p, env: env, opts: diagnose.Options{
		HangAfter: p.HangAfter, BaselineOps: p.BaselineOps, RecentOps: p.RecentOps,
		SlowFactor: p.SlowFactor, LinkSlowFactor: p.LinkSlowFactor,
	}}
	if err := a.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	env.Ready()
	lines := make(chan line, 1024)
	var wg sync.WaitGroup
	for i, c := range a.conns {
		wg.Go(func() { a.read(ctx, i, c, lines) })
	}
	defer func() {
		for _, c := range a.conns {
			c.Close()
		}
		wg.Wait()
	}()
	a.loop(ctx, lines)
	summary := map[string]any{
		"ranks":      len(a.conns),
		"nodes":      a.nodes,
		"sample":     a.sampleRanks(),
		"triggers":   a.triggers,
		"diagnoses":  a.diagnoses,
		"dismissed":  a.dismissed,
		"recoveries": a.recoveries,
	}
	return env.WriteJSON("summary.json", summary)
}

type analyzer struct {
	p     *Params
	env   *roles.Env
	opts  diagnose.Options
	conns []*stream.Conn
	nodes map[string]string // rank → node, from the hellos
	ring  *diagnose.Ring
	watch map[int]bool // sampled ranks (by rank)

	triggers, diagnoses, dismissed, recoveries int
}

// connect dials every rank's stream and picks the sample.
func (a *analyzer) connect(ctx context.Context) error {
	a.conns = make([]*stream.Conn, len(a.p.Ranks))
	errs := make([]error, len(a.p.Ranks))
	var wg sync.WaitGroup
	for i, addr := range a.p.Ranks {
		wg.Go(func() {
			a.conns[i], errs[i] = stream.Dial(ctx, net.JoinHostPort(addr, strconv.Itoa(a.p.Port)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range a.conns {
			if c != nil {
				c.Close()
			}
		}
		return fmt.Errorf("mycroft-analyzer: %w", err)
	}
	a.nodes = map[string]string{}
	n := 0
	for _, c := range a.conns {
		a.nodes[strconv.Itoa(c.Hello.Rank)] = c.Hello.Node
		n = max(n, c.Hello.Ranks)
		a.env.Events.Emit("connected", map[string]any{"rank": c.Hello.Rank, "node": c.Hello.Node, "ranks": c.Hello.Ranks})
	}
	a.ring = diagnose.NewRing(n)
	rng := rand.New(rand.NewPCG(uint64(a.env.Seed), 0x6d7963726f6674)) // "mycroft"
	a.watch = map[int]bool{}
	for _, i := range rng.Perm(len(a.conns))[:min(a.p.Sample, len(a.conns))] {
		a.watch[a.conns[i].Hello.Rank] = true
	}
	return a.wantSample()
}

func (a *analyzer) sampleRanks() []int {
	var out []int
	for r := range a.watch {
		out = append(out, r)
	}
	sort.Ints(out)
	return out
}

// wantSample asks the sampled ranks for everything and the rest for
// completions only.
func (a *analyzer) wantSample() error {
	var errs []error
	for _, c := range a.conns {
		want := stream.WantCompletions
		if a.watch[c.Hello.Rank] {
			want = stream.WantAll
		}
		errs = append(errs, c.Want(want))
	}
	return errors.Join(errs...)
}

func (a *analyzer) wantAll() {
	for _, c := range a.conns {
		c.Want(stream.WantAll) // a rank that is gone or stopped says so by its silence
	}
}

// read decodes one rank's stream into lines until it ends.
func (a *analyzer) read(ctx context.Context, i int, c *stream.Conn, out chan<- line) {
	for {
		b, err := c.Next()
		if err != nil {
			select {
			case out <- line{conn: i, err: err}:
			case <-ctx.Done():
			}
			return
		}
		rec, err := diagnose.NewDecoder(bytes.NewReader(b)).Next()
		if err != nil || (rec.Completion == nil && rec.State == nil) {
			continue
		}
		select {
		case out <- line{conn: i, rec: rec}:
		case <-ctx.Done():
			return
		}
	}
}

// Analyzer states.
const (
	watching  = iota // sample only
	gathering        // triggered: every rank asked for everything
	open             // diagnosed; waiting for recovery
)

// ConfirmWait bounds how long past the settle time a slowdown waits for a
// collective that ended after its trigger.
var ConfirmWait = 2 * time.Second

func (a *analyzer) loop(ctx context.Context, lines <-chan line) {
	tk := time.NewTicker(a.p.Check)
	defer tk.Stop()
	state := watching
	var trigger diagnose.Anomaly
	var triggerAt time.Time
	var triggerMono int64
	var healthySince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-lines:
			if l.err == nil {
				a.ring.Add(l.rec)
			}
			continue
		case <-tk.C:
		}
		now := time.Now()
		opts := a.opts
		if state != watching {
			opts.BaselineBefore = triggerAt // the pace from before the incident
		}
		found := diagnose.Detect(a.ring, now, opts)
		switch state {
		case watching:
			if len(found) == 0 {
				continue
			}
			trigger, triggerAt, triggerMono = found[0], now, roles.MonotonicNS()
			a.triggers++
			a.env.Events.Emit("triggered", map[string]any{"kind": trigger.Kind, "observed_rank": trigger.Rank, "detail": trigger.Detail})
			a.wantAll()
			state = gathering
		case gathering:
			if trigger.Kind == diagnose.Slowdown && len(found) > 0 && found[0].Kind == diagnose.Hang {
				// A hang while a slowdown is being confirmed: the hang
				// is the incident, from now.
				trigger, triggerAt, triggerMono = found[0], now, roles.MonotonicNS()
				a.env.Events.Emit("triggered", map[string]any{"kind": trigger.Kind, "observed_rank": trigger.Rank, "detail": trigger.Detail})
				continue
			}
			if now.Sub(triggerAt) < a.p.Settle {
				continue
			}
			if trigger.Kind == diagnose.Slowdown {
				// Confirm with collectives that ended after the trigger:
				// a burst of slow ones that is already over (the host
				// was busy for a moment) is not a slowdown. Wait until
				// the slow rank has completed RecentOps of them, up to
				// ConfirmWait past the settle time, then judge with
				// those there are.
				if trigger.Rank >= 0 && trigger.Rank < len(a.ring.Ranks) &&
					a.ring.Ranks[trigger.Rank].CompletedSince(triggerAt) < a.p.RecentOps && now.Sub(triggerAt) < a.p.Settle+ConfirmWait {
					continue
				}
				confirm := opts
				confirm.RecentSince = triggerAt
				found = diagnose.Detect(a.ring, now, confirm)
			}
			if len(found) == 0 {
				a.dismissed++
				a.env.Events.Emit("dismissed", map[string]any{"kind": trigger.Kind, "detail": trigger.Detail})
				a.wantSample()
				state = watching
				continue
			}
			d := diagnose.Localize(a.ring, found[0])
			a.diagnoses++
			a.env.Events.Emit("diagnosis", a.fields(d, triggerAt, triggerMono))
			state, healthySince = open, time.Time{}
		case open:
			if len(found) > 0 {
				healthySince = time.Time{}
				continue
			}
			if healthySince.IsZero() {
				healthySince = now
			}
			if now.Sub(healthySince) >= a.p.Recover {
				a.recoveries++
				a.env.Events.Emit("recovered", map[string]any{"after_ms": now.Sub(triggerAt).Milliseconds()})
				a.wantSample()
				state = watching
			}
		}
	}
}

// fields is a diagnosis as an event.
func (a *analyzer) fields(d diagnose.Diagnosis, at time.Time, mono int64) map[string]any {
	f := map[string]any{
		"kind":             d.Anomaly.Kind,
		"class":            d.Class,
		"evidence":         d.Evidence,
		"observed_rank":    d.Anomaly.Rank,
		"observed":         d.Anomaly.Detail,
		"detected_unix_ns": at.UnixNano(),
		"detected_mono_ns": mono,
		"localized_ms":     time.Since(at).Milliseconds(),
	}
	if d.Rank >= 0 {
		f["rank"], f["root_node"] = d.Rank, a.nodes[strconv.Itoa(d.Rank)]
	}
	if d.From >= 0 {
		f["from"], f["to"] = d.From, d.To
		f["from_node"], f["to_node"] = a.nodes[strconv.Itoa(d.From)], a.nodes[strconv.Itoa(d.To)]
	}
	if d.Channel >= 0 {
		f["channel"] = d.Channel
	}
	return f
}
