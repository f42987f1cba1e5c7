// Package mycroft is the mycroft role: the workload half of a reproduction
// of Deng et al., "Mycroft: Tracing Dependencies in Collective Communication
// Towards Reliable LLM Training" (arXiv 2509.03018). It imitates the
// communication pattern of data-parallel training: one instance per rank,
// the ranks joined in a ring over TCP, each iteration a compute phase
// followed by an AllReduce of a gradient-sized buffer (package collective:
// NCCL-style ring, chunked, over several channels), with Mycroft-style
// tracing of every collective so that a slow or stalled rank, link or
// channel can be located from the traces of all ranks.
//
// Ring. Rank r (parameter rank, of ranks) listens on port (all addresses)
// for rank r-1 and connects to rank r+1 at next (a node reference the
// runner resolves to an address) on next_port (0: the same port; set it
// only when several ranks share one address, as in tests). The instance is
// ready once all its connections (channels to each neighbour) are up, so
// all ranks of one ring must start in the same wave (no `after` between
// them).
//
// Iteration. First the compute phase: a busy loop on one locked OS thread
// until that thread has used compute of CPU time (CLOCK_THREAD_CPUTIME_ID),
// so a CPU cap, or other load on the node's CPUs, stretches its wall time
// as it would a real training step. Then the AllReduce of size bytes of
// float32. Before it, rank r sets element j of iteration i to
// (r+1) + (i+j) mod 8; after it every element must equal
// ranks*(ranks+1)/2 + ranks*((i+j) mod 8), exact in float32, and every
// element that is not counts as a mismatch. Filling and checking happen
// outside the timed phases: iter_ms = compute_ms + allreduce_ms. The loop
// ends after iterations iterations (0: until the instance is stopped).
// Bandwidths follow nccl-tests: algbw = size/allreduce time, busbw = algbw
// * 2(ranks-1)/ranks, both in GB/s (1e9 bytes per second). recv_lowat
// (off by default) sets collective.TCPOptions.RecvLowat: each receive
// wakes once per chunk, which raises the bus bandwidth of ranks that
// stream with CPUs to themselves and, measured on 2 cores shared by 8
// computing ranks, stretches the slower collectives (docs/benchmarks.md).
//
// Stopping. SIGTERM (ctx) cancels the AllReduce in flight, which aborts the
// connections. A neighbour that was stopped first shows up as a ring error
// on this rank; the rank then waits up to stopGrace for its own stop and
// counts as stopped if it comes (the runner stops instances one after the
// other), and as failed otherwise. The instance fails (non-zero exit) on a
// ring error or on any mismatch; mismatches do not end the loop early, so
// the other ranks are not disturbed.
//
// Outputs, in the instance directory: trace.jsonl (trace true: the
// collective.Tracer's records, one "completion" per AllReduce and a
// "state" snapshot every trace_interval while one is in flight; 0 for
// completion records only), series.jsonl (one line per iteration: iter,
// t_s since the ring was up, iter_ms, compute_ms, allreduce_ms, algbw_gbps,
// busbw_gbps, mismatches), summary.json, the events "connected", "mismatch"
// (the first few) and "done", and the Prometheus metrics
// mycroft_iterations_total, mycroft_iteration_seconds,
// mycroft_allreduce_seconds, mycroft_busbw_bytes_per_second and
// mycroft_mismatches_total.
package mycroft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/roles/collective"
	"github.com/tbctl/tbctl/roles/mycroft/stream"
)

// Params are the mycroft role's parameters.
type Params struct {
	Rank           int           `param:"rank" help:"this instance's rank, 0 .. ranks-1"`
	Ranks          int           `param:"ranks" help:"number of ranks in the ring (one instance each)"`
	Next           string        `param:"next" ref:"node" help:"the node running rank+1 (mod ranks); needed when ranks > 1"`
	Port           int           `param:"port" help:"TCP port this rank listens on for rank-1"`
	NextPort       int           `param:"next_port" help:"TCP port rank+1 listens on (0: the same as port; set it only when ranks share an address)"`
	Size           int           `param:"size" help:"bytes of the AllReduce buffer (float32, a multiple of 4)"`
	Compute        time.Duration `param:"compute" help:"CPU time of the compute phase of each iteration (busy loop; 0: none)"`
	Iterations     int           `param:"iterations" help:"iterations to run (0: until the instance is stopped)"`
	Channels       int           `param:"channels" help:"parallel TCP connections to each neighbour"`
	Chunk          int           `param:"chunk" help:"largest chunk in bytes that the ring moves at once"`
	RecvLowat      bool          `param:"recv_lowat" help:"wake the receiver once per chunk (SO_RCVLOWAT) instead of at every arriving segment: more bandwidth when each rank streams with CPUs to itself, more jitter when ranks share CPUs and compute"`
	Trace          bool          `param:"trace" help:"write Mycroft-style trace records to trace.jsonl"`
	TraceInterval  time.Duration `param:"trace_interval" help:"period of the per-channel state snapshots while an AllReduce is in flight (0: completion records only)"`
	TracePort      int           `param:"trace_port" help:"TCP port serving the trace records live to the mycroft-analyzer role (0: none)"`
	TraceAlternate bool          `param:"trace_alternate" help:"for measuring tracing's cost: trace one iteration of each pair (2k, 2k+1), which one drawn from the run's seed, so traced and untraced ones alternate within one run (series.jsonl marks the traced ones)"`
}

// DefaultPort is the port ranks listen on unless port says otherwise.
const DefaultPort = 7600

// DefaultTracePort is where ranks serve their trace records live unless
// trace_port says otherwise.
const DefaultTracePort = 7601

func defaults() any {
	return &Params{
		Ranks:         2,
		Port:          DefaultPort,
		Size:          16 << 20,
		Compute:       50 * time.Millisecond,
		Channels:      2,
		Chunk:         512 << 10,
		Trace:         true,
		TraceInterval: 100 * time.Millisecond,
		TracePort:     DefaultTracePort,
	}
}

func init() {
	roles.Register(&roles.Role{
		Name:    "mycroft",
		Summary: "one rank of a ring AllReduce training loop (compute, then AllReduce) with Mycroft-style collective tracing",
		Params:  defaults,
		Run:     run,
	})
}

// check validates p.
func (p *Params) check() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if p.Ranks < 1 || p.Ranks > 4096 {
		bad("ranks must be between 1 and 4096, got %d", p.Ranks)
	} else if p.Rank < 0 || p.Rank >= p.Ranks {
		bad("rank must be between 0 and ranks-1 = %d, got %d", p.Ranks-1, p.Rank)
	}
	if p.Ranks > 1 && p.Next == "" {
		bad("next is needed when ranks > 1 (the node running rank %d)", (p.Rank+1)%max(1, p.Ranks))
	}
	if p.Port < 1 || p.Port > 65535 {
		bad("port %d is not between 1 and 65535", p.Port)
	}
	if p.TracePort < 0 || p.TracePort > 65535 || p.TracePort != 0 && p.TracePort == p.Port {
		bad("trace_port %d must be 0 or a port between 1 and 65535 other than port", p.TracePort)
	}
	if p.NextPort < 0 || p.NextPort > 65535 {
		bad("next_port %d is not between 0 and 65535", p.NextPort)
	}
	if p.Size < 4 || p.Size > 1<<30 || p.Size%4 != 0 {
		bad("size must be a multiple of 4 between 4 bytes and 1 GiB, got %d", p.Size)
	}
	if p.Compute < 0 {
		bad("compute must not be negative, got %s", p.Compute)
	}
	if p.Iterations < 0 {
		bad("iterations must be 0 (until stopped) or positive, got %d", p.Iterations)
	}
	if p.Channels < 1 || p.Channels > 64 {
		bad("channels must be between 1 and 64, got %d", p.Channels)
	}
	if p.Chunk < 4 || p.Chunk > 64<<20 {
		bad("chunk must be between 4 bytes and 64 MiB, got %d", p.Chunk)
	}
	if p.TraceInterval < 0 {
		bad("trace_interval must not be negative, got %s", p.TraceInterval)
	}
	if p.TraceAlternate && !p.Trace {
		bad("trace_alternate needs trace true")
	}
	if len(errs) > 0 {
		return fmt.Errorf("mycroft: %s", strings.Join(errs, "; "))
	}
	return nil
}

// stopGrace is how long a rank whose ring broke waits for its own stop
// before it calls the break a failure.
var stopGrace = 3 * time.Second

// afterReduce, if set, sees every reduced buffer before it is checked
// (tests use it to corrupt one).
var afterReduce func(rank, iter int, data []float32)

// maxMismatchEvents limits the "mismatch" events an instance emits.
const maxMismatchEvents = 5

// metrics are the role's Prometheus collectors.
type metrics struct {
	iterations prometheus.Counter
	iterTime   prometheus.Histogram
	arTime     prometheus.Histogram
	busbw      prometheus.Gauge
	mismatches prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	buckets := prometheus.ExponentialBuckets(1e-4, 2, 20) // 100 µs .. 52 s
	m := &metrics{
		iterations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mycroft_iterations_total", Help: "Training iterations (compute then AllReduce) completed by this rank.",
		}),
		iterTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mycroft_iteration_seconds", Help: "Duration of one iteration: compute phase plus AllReduce.", Buckets: buckets,
		}),
		arTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mycroft_allreduce_seconds", Help: "Duration of one AllReduce.", Buckets: buckets,
		}),
		busbw: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mycroft_busbw_bytes_per_second", Help: "Bus bandwidth of the last AllReduce (nccl-tests: algbw * 2(n-1)/n).",
		}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mycroft_mismatches_total", Help: "Elements of reduced buffers that differed from the expected sum.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.iterations, m.iterTime, m.arTime, m.busbw, m.mismatches)
	}
	return m
}

// point is one line of series.jsonl.
type point struct {
	Iter        int     `json:"iter"`
	T           float64 `json:"t_s"`
	IterMS      float64 `json:"iter_ms"`
	ComputeMS   float64 `json:"compute_ms"`
	AllReduceMS float64 `json:"allreduce_ms"`
	AlgBW       float64 `json:"algbw_gbps"`
	BusBW       float64 `json:"busbw_gbps"`
	Mismatches  int64   `json:"mismatches"`
	Traced      bool    `json:"traced,omitempty"` // with trace_alternate: this iteration was traced
}

func run(ctx context.Context, env *roles.Env, params any) error {
	p := params.(*Params)
	if err := p.check(); err != nil {
		return err
	}
	m := newMetrics(env.Metrics)
	nc := p.Channels
	tcpo := collective.TCPOptions{Channels: nc, RecvLowat: p.RecvLowat}
	ln, err := collective.Listen(ctx, net.JoinHostPort("", strconv.Itoa(p.Port)), tcpo)
	if err != nil {
		return fmt.Errorf("mycroft: %w", err)
	}
	nextPort := p.NextPort
	if nextPort == 0 {
		nextPort = p.Port
	}
	var nextAddr string
	if p.Ranks > 1 {
		nextAddr = net.JoinHostPort(p.Next, strconv.Itoa(nextPort))
	}
	t0 := time.Now()
	ring, err := collective.Connect(ctx, ln, p.Rank, p.Ranks, nextAddr, tcpo)
	ln.Close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("mycroft: %w", err)
	}
	defer ring.Close()
	env.Events.Emit("connected", map[string]any{"rank": p.Rank, "ranks": p.Ranks, "next": nextAddr,
		"channels": nc, "connect_ms": ms(time.Since(t0))})
	env.Ready()

	var tr *collective.Tracer
	var traceFile *os.File
	if p.Trace {
		if traceFile, err = env.Create("trace.jsonl"); err != nil {
			return err
		}
		defer traceFile.Close()
		interval := p.TraceInterval
		if interval == 0 {
			interval = -1 // NewTracer: no state records
		}
		var w io.Writer = traceFile
		if p.TracePort > 0 {
			hub := stream.NewHub()
			tln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(p.TracePort)))
			if err != nil {
				return fmt.Errorf("mycroft: trace stream: %w", err)
			}
			sctx, stop := context.WithCancel(ctx)
			served := make(chan struct{})
			go func() {
				defer close(served)
				hub.Serve(sctx, tln, stream.Hello{Rank: p.Rank, Ranks: p.Ranks, Node: env.Node})
			}()
			defer func() { hub.Close(); stop(); <-served }()
			w = io.MultiWriter(traceFile, hub)
		}
		tr = collective.NewTracer(w, interval)
		defer tr.Close() // before traceFile.Close
	}
	seriesFile, err := env.Create("series.jsonl")
	if err != nil {
		return err
	}
	defer seriesFile.Close()
	enc := json.NewEncoder(seriesFile)

	data := make([]float32, p.Size/4)
	opts := collective.Options{ChunkBytes: p.Chunk, Channels: nc}
	var (
		iterT, computeT, arT []time.Duration
		algbws, busbws       []float64
		mismatches, badIters int64
		ringErr              error
	)
	start := time.Now()
	for i := 0; p.Iterations == 0 || i < p.Iterations; i++ {
		if ctx.Err() != nil {
			break
		}
		if i == 0 {
			fill(data, p.Rank, i)
		}
		c0 := time.Now()
		if !busy(ctx, p.Compute) {
			break
		}
		itr := tr
		if p.TraceAlternate && !tracedInPair(env.Seed, i) {
			itr = nil
		}
		a0 := time.Now()
		err := collective.AllReduce(ctx, p.Rank, p.Ranks, data, ring, opts, itr)
		a1 := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				ringErr = err
			}
			break
		}
		if afterReduce != nil {
			afterReduce(p.Rank, i, data)
		}
		next := pattern(p.Rank+1, 1, i+1)
		bad := verifyRefill(data, p.Ranks, i, &next)
		if bad > 0 {
			if badIters < maxMismatchEvents {
				env.Events.Emit("mismatch", map[string]any{"iter": i, "elements": bad})
			}
			mismatches += bad
			badIters++
			m.mismatches.Add(float64(bad))
		}
		comp, ar, it := a0.Sub(c0), a1.Sub(a0), a1.Sub(c0)
		algbw := collective.AlgBW(int64(p.Size), ar)
		busbw := collective.BusBW(algbw, p.Ranks)
		iterT, computeT, arT = append(iterT, it), append(computeT, comp), append(arT, ar)
		algbws, busbws = append(algbws, algbw), append(busbws, busbw)
		m.iterations.Inc()
		m.iterTime.Observe(it.Seconds())
		m.arTime.Observe(ar.Seconds())
		m.busbw.Set(busbw)
		enc.Encode(point{Iter: i, T: round3(a1.Sub(start).Seconds()), IterMS: round3(ms(it)), ComputeMS: round3(ms(comp)),
			AllReduceMS: round3(ms(ar)), AlgBW: sig4(algbw / 1e9), BusBW: sig4(busbw / 1e9), Mismatches: bad,
			Traced: p.TraceAlternate && itr != nil})
	}
	elapsed := time.Since(start)
	ring.Close()
	if ringErr != nil {
		// A neighbour stopped before us looks like a broken ring; wait a
		// little for our own stop before calling it a failure.
		select {
		case <-ctx.Done():
		case <-time.After(stopGrace):
		}
		if ctx.Err() != nil {
			env.Events.Emit("ring-closed", map[string]any{"error": ringErr.Error()})
			ringErr = nil
		}
	}

	complete := ctx.Err() == nil && ringErr == nil && p.Iterations > 0 && len(iterT) == p.Iterations
	ringErrors := 0
	if ringErr != nil {
		ringErrors = 1
	}
	summary := map[string]any{
		"rank":             p.Rank,
		"ranks":            p.Ranks,
		"size_bytes":       p.Size,
		"channels":         nc,
		"chunk_bytes":      p.Chunk,
		"compute_ms":       ms(p.Compute),
		"iterations":       len(iterT),
		"complete":         complete,
		"elapsed_s":        round3(elapsed.Seconds()),
		"iter_p50_ms":      round3(ms(pct(iterT, 50))),
		"iter_p99_ms":      round3(ms(pct(iterT, 99))),
		"iter_max_ms":      round3(ms(pct(iterT, 100))),
		"compute_p50_ms":   round3(ms(pct(computeT, 50))),
		"allreduce_p50_ms": round3(ms(pct(arT, 50))),
		"allreduce_p99_ms": round3(ms(pct(arT, 99))),
		"busbw_p50_gbps":   sig4(pctF(busbws, 50) / 1e9),
		"algbw_p50_gbps":   sig4(pctF(algbws, 50) / 1e9),
		"mismatches":       mismatches,
		"bad_iterations":   badIters,
		"errors":           ringErrors,
	}
	if ringErr != nil {
		summary["error"] = ringErr.Error()
	}
	var werrs []error
	if tr != nil {
		werrs = append(werrs, tr.Err())
	}
	werrs = append(werrs, seriesFile.Close(), env.WriteJSON("summary.json", summary))
	env.Events.Emit("done", summary)
	switch {
	case ringErr != nil:
		return fmt.Errorf("mycroft: ring broke after %d iterations: %w", len(iterT), ringErr)
	case mismatches > 0:
		return fmt.Errorf("mycroft: %d elements in %d of %d iterations differed from the expected sum", mismatches, badIters, len(iterT))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return errors.Join(werrs...)
}

// tracedInPair reports whether iteration i is traced under
// trace_alternate: one iteration of each pair (2k, 2k+1), which one drawn
// from seed, alike on every rank of the run. Drawing it, rather than
// tracing even iterations, cancels whatever an iteration's position does
// to its time (a run that traced nothing found its even iterations 0.7%
// slower than their odd neighbours).
func tracedInPair(seed int64, i int) bool {
	// SplitMix64 of the seed and the pair's number.
	z := uint64(seed) + uint64(i/2+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return int(z&1) == i%2
}

// The buffers cycle through 8 values: rank's element j in iteration iter
// is rank+1+((iter+j)&7), so the reduced element is
// ranks(ranks+1)/2 + ranks*((iter+j)&7), exact in float32.

// pattern returns the 8-element cycle of fill(rank, iter) (scale 1, offset
// rank+1) or of the expected sum (scale ranks, offset ranks(ranks+1)/2).
func pattern(offset, scale, iter int) (p [8]float32) {
	for k := range p {
		p[k] = float32(offset + scale*((iter+k)&7))
	}
	return p
}

// fill sets rank's buffer for iteration iter.
func fill(data []float32, rank, iter int) {
	p := pattern(rank+1, 1, iter)
	for len(data) >= 8 {
		copy(data, p[:])
		data = data[8:]
	}
	copy(data, p[:])
}

// verify counts the elements of a reduced buffer that are not the sum of
// every rank's fill.
func verify(data []float32, ranks, iter int) int64 {
	return verifyRefill(data, ranks, iter, nil)
}

// verifyRefill is verify that also fills the buffer for the next
// iteration as it goes (when next is not nil, next = pattern of rank's
// fill for iter+1), so the loop passes over the buffer once between
// AllReduces instead of twice. Its main loop compares 8 elements as four
// 64-bit words (the values are exact, so equal floats are equal bits; a
// NaN or -0 where a sum belongs differs in bits too) and looks at single
// elements only in a word that differs.
func verifyRefill(data []float32, ranks, iter int, next *[8]float32) int64 {
	want := pattern(ranks*(ranks+1)/2, ranks, iter)
	w := *(*[4]uint64)(unsafe.Pointer(&want))
	var nw [4]uint64
	if next != nil {
		nw = *(*[4]uint64)(unsafe.Pointer(next))
	}
	var bad int64
	for len(data) >= 8 {
		d := (*[4]uint64)(unsafe.Pointer((*[8]float32)(data)))
		if d[0] != w[0] || d[1] != w[1] || d[2] != w[2] || d[3] != w[3] {
			for k, v := range data[:8] {
				if v != want[k] {
					bad++
				}
			}
		}
		if next != nil {
			*d = nw
		}
		data = data[8:]
	}
	for k, v := range data {
		if v != want[k] {
			bad++
		}
		if next != nil {
			data[k] = next[k]
		}
	}
	return bad
}

// busy spins on one locked OS thread until that thread has used d of CPU
// time, so CPU contention or a CPU cap lengthens it. It returns false if
// ctx ended first.
func busy(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	startCPU := threadCPU()
	x := uint64(88172645463325252)
	for {
		// About 10-50 µs of work between clock reads.
		for range 20000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		if threadCPU()-startCPU >= d {
			sink.Store(x)
			return true
		}
		if ctx.Err() != nil {
			sink.Store(x)
			return false
		}
	}
}

// sink keeps the busy loop's result alive.
var sink atomic.Uint64

func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// pct returns the q-th percentile (nearest rank) of ds; 0 for none.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[rankIndex(len(s), q)]
}

func pctF(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[rankIndex(len(s), q)]
}

// rankIndex is the index of the nearest-rank q-th percentile of n sorted
// values.
func rankIndex(n int, q float64) int {
	i := int(float64(n)*q/100+0.999999999) - 1
	return min(max(i, 0), n-1)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// round3 keeps three decimals.
func round3(x float64) float64 {
	if x < 0 {
		return -round3(-x)
	}
	return float64(int64(x*1000+0.5)) / 1000
}

// sig4 keeps four significant digits, so that slow links' bandwidths in
// GB/s do not round to 0.
func sig4(x float64) float64 {
	y, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return y
}
