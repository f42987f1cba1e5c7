// Package traffic is the traffic role: a traffic generator and its server,
// measuring what a path between two nodes carries.
//
// One instance runs in one of four modes (parameter mode):
//
//   - server listens on TCP and UDP port (default 7575) on every address and
//     serves the three client modes. Each TCP connection starts with one
//     JSON hello line, {"kind":"bulk"|"rr"|"udp-report","flow":ID,...}: a
//     bulk connection is read and discarded as fast as possible; an rr
//     connection has every request of "size" bytes echoed back; a udp-report
//     connection answers each line it gets with the receiver statistics of
//     UDP flow ID. UDP datagrams carry a header (magic, flow, sequence
//     number, send time) from which the server counts, per flow, datagrams
//     received, duplicates and out-of-order arrivals, and the interarrival
//     jitter of RFC 3550.
//   - tcp measures bulk throughput: streams parallel connections each write
//     buffer-sized blocks as fast as the socket takes them for duration.
//     Throughput counts bytes the receiver acknowledged (tcpi_bytes_acked of
//     TCP_INFO), not bytes handed to the kernel, so data still in the send
//     buffer at the end does not count. The per-stream spread is summarized
//     by Jain's fairness index.
//   - udp offers a paced stream of datagrams at rate_mbps (UDP payload bits;
//     headers not counted) and reads the receiver's statistics back over a
//     udp-report connection: loss, duplicates, reordering, jitter, goodput.
//   - rr measures request-response latency over one TCP connection with
//     TCP_NODELAY: closed loop (rate 0: the next request leaves when the
//     previous answer is in) or open loop at rate requests per second, where
//     each latency is taken from the request's scheduled send time, so a
//     slow answer that delays later requests is charged to them too (no
//     coordinated omission). Latencies go into a log-linear histogram of
//     128 sub-buckets per power of two (under 0.8% relative bucket width)
//     from 1 ns to 10 s.
//
// UDP pacing. Packet slots follow a fixed schedule from the start: with
// pattern constant, slot n is due at n*gap (gap = size*8/rate); with pattern
// bursty, slots come in groups of burst packets sent back to back, group k
// due at k*burst*gap, so the average rate is the same and only its
// burstiness differs. The sender never sends a slot before it is due. It
// sleeps when the next slot is at least 1 ms away and busy-waits below that
// (Go's timers cannot wait less than about 1 ms), so pacing at high rates
// costs up to one CPU core. When the sender falls behind (scheduling, a
// full socket buffer), it catches up by at most one burst (constant: the
// packets of 1 ms, at least one); older slots are dropped from the schedule
// and counted as late_slots, so over any window it never exceeds the rate by
// more than one burst.
//
// Clocks. The send time in each datagram is CLOCK_MONOTONIC in
// nanoseconds. Every network namespace of a host shares that clock, so the
// server reads the same clock as the sender; it is immune to wall-clock
// steps. Jitter only needs differences of transit times, so any constant
// offset between two hosts' clocks would cancel out too.
//
// Outputs: summary.json (the numbers below; "complete": false when the
// instance was stopped before its duration), series.jsonl (one line per
// interval), events "connected" and "done", and the Prometheus metrics
// traffic_bytes_total{direction}, traffic_rtt_seconds (rr) and
// traffic_udp_lost_total.
package traffic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tbctl/tbctl/roles"
)

// Params are the traffic role's parameters.
type Params struct {
	Mode     string        `param:"mode" help:"server, tcp (bulk throughput), udp (paced datagrams) or rr (request-response latency)"`
	Target   string        `param:"target" ref:"node" help:"the node running the server (client modes)"`
	Port     int           `param:"port" help:"TCP and UDP port of the server"`
	Duration time.Duration `param:"duration" help:"how long a client sends"`
	Interval time.Duration `param:"interval" help:"time between two lines of series.jsonl"`
	Streams  int           `param:"streams" help:"tcp: parallel connections"`
	Buffer   int           `param:"buffer" help:"tcp: bytes per write"`
	CC       string        `param:"cc" help:"tcp: congestion control of each socket, such as cubic or bbr (empty: the system's default)"`
	Size     int           `param:"size" help:"udp: datagram payload bytes (0: 1200); rr: request and response bytes (0: 64)"`
	RateMbps float64       `param:"rate_mbps" help:"udp: offered rate in Mbit/s of UDP payload"`
	Pattern  string        `param:"pattern" help:"udp: constant (evenly spaced) or bursty (burst packets back to back, same average rate)"`
	Burst    int           `param:"burst" help:"udp, pattern bursty: packets per burst"`
	Rate     float64       `param:"rate" help:"rr: requests per second on an open-loop schedule (0: closed loop, one request after another)"`
}

// Modes are the values of the mode parameter.
var Modes = []string{"server", "tcp", "udp", "rr"}

// DefaultPort is the server's port unless port says otherwise.
const DefaultPort = 7575

func defaults() any {
	return &Params{
		Mode:     "tcp",
		Port:     DefaultPort,
		Duration: 10 * time.Second,
		Interval: 100 * time.Millisecond,
		Streams:  1,
		Buffer:   128 << 10,
		RateMbps: 10,
		Pattern:  "constant",
		Burst:    10,
	}
}

func init() {
	roles.Register(&roles.Role{
		Name:    "traffic",
		Summary: "TCP throughput, paced UDP (loss, jitter) and request-response latency against a traffic server",
		Params:  defaults,
		Run:     run,
	})
}

// check validates p and fills mode-dependent defaults.
func (p *Params) check() error {
	valid := false
	for _, m := range Modes {
		valid = valid || p.Mode == m
	}
	if !valid {
		return fmt.Errorf("traffic: unknown mode %q (modes: %s)", p.Mode, strings.Join(Modes, ", "))
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if p.Port < 1 || p.Port > 65535 {
		bad("port %d is not between 1 and 65535", p.Port)
	}
	if p.Mode != "server" {
		if p.Target == "" {
			bad("mode %s needs a target (the node running the server)", p.Mode)
		}
		if p.Duration <= 0 {
			bad("duration must be positive, got %s", p.Duration)
		}
		if p.Interval <= 0 {
			bad("interval must be positive, got %s", p.Interval)
		}
	}
	switch p.Mode {
	case "tcp":
		if p.Streams < 1 || p.Streams > 1024 {
			bad("streams must be between 1 and 1024, got %d", p.Streams)
		}
		if p.Buffer < 1 || p.Buffer > 64<<20 {
			bad("buffer must be between 1 and 64 MiB, got %d", p.Buffer)
		}
	case "udp":
		if p.Size == 0 {
			p.Size = 1200
		}
		if p.Size < udpHeaderLen || p.Size > 65507 {
			bad("size must be between %d and 65507 bytes for udp, got %d", udpHeaderLen, p.Size)
		}
		if p.RateMbps <= 0 {
			bad("rate_mbps must be positive, got %v", p.RateMbps)
		}
		switch p.Pattern {
		case "constant", "bursty":
		default:
			bad("pattern must be constant or bursty, got %q", p.Pattern)
		}
		if p.Burst < 1 {
			bad("burst must be at least 1, got %d", p.Burst)
		}
	case "rr":
		if p.Size == 0 {
			p.Size = 64
		}
		if p.Size < 1 || p.Size > 16<<20 {
			bad("size must be between 1 and 16 MiB for rr, got %d", p.Size)
		}
		if p.Rate < 0 {
			bad("rate must be 0 (closed loop) or positive, got %v", p.Rate)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("traffic: %s", strings.Join(errs, "; "))
	}
	return nil
}

func run(ctx context.Context, env *roles.Env, params any) error {
	p := params.(*Params)
	if err := p.check(); err != nil {
		return err
	}
	m := newMetrics(env.Metrics)
	switch p.Mode {
	case "server":
		return runServer(ctx, env, p, m)
	case "tcp":
		return runTCP(ctx, env, p, m)
	case "udp":
		return runUDP(ctx, env, p, m)
	default:
		return runRR(ctx, env, p, m)
	}
}

// metrics are the role's Prometheus collectors.
type metrics struct {
	sent, received prometheus.Counter
	rtt            prometheus.Histogram
	udpLost        prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "traffic_bytes_total", Help: "Payload bytes moved by this instance, by direction (sent, received).",
	}, []string{"direction"})
	m := &metrics{
		sent:     bytes.WithLabelValues("sent"),
		received: bytes.WithLabelValues("received"),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "traffic_rtt_seconds", Help: "Request-response latency of rr mode, from each request's scheduled send time.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 22), // 5 µs .. 10.5 s
		}),
		udpLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "traffic_udp_lost_total", Help: "UDP datagrams sent by this instance that the server did not receive.",
		}),
	}
	if reg != nil {
		reg.MustRegister(bytes, m.rtt, m.udpLost)
	}
	return m
}

// hello opens every TCP connection to the server.
type hello struct {
	Kind string `json:"kind"`           // bulk, rr or udp-report
	Flow uint64 `json:"flow,omitempty"` // udp-report: the UDP flow
	Size int    `json:"size,omitempty"` // rr: bytes per request and response
}

// dialRetry is how long clients keep trying to reach a server that may
// still be binding its port.
const dialRetry = 3 * time.Second

// dial connects to addr over TCP, retrying for dialRetry, and sends the
// hello line. control, if set, runs on the socket before connecting.
func dial(ctx context.Context, addr string, h hello, control func(fd uintptr) error) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: time.Second}
	var cerr error // the control function's error, which no retry fixes
	if control != nil {
		d.ControlContext = func(_ context.Context, _, _ string, c syscall.RawConn) error {
			if err := c.Control(func(fd uintptr) { cerr = control(fd) }); err != nil {
				return err
			}
			return cerr
		}
	}
	deadline := time.Now().Add(dialRetry)
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			tc := c.(*net.TCPConn)
			if _, err := tc.Write(append(mustJSON(h), '\n')); err != nil {
				tc.Close()
				return nil, fmt.Errorf("traffic: server %s: %w", addr, err)
			}
			return tc, nil
		}
		if cerr != nil && errors.Is(err, cerr) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("traffic: cannot connect to the traffic server at %s over TCP within %s (is a traffic server running there?): %w", addr, dialRetry, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// series writes series.jsonl, one JSON object a line.
type series struct {
	f   io.WriteCloser
	w   *bufio.Writer
	enc *json.Encoder
}

func newSeries(env *roles.Env) (*series, error) {
	f, err := env.Create("series.jsonl")
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	return &series{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (s *series) add(v any) { s.enc.Encode(v) }

func (s *series) close() error {
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mbps converts bytes over d to Mbit/s.
func mbps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * 8 / d.Seconds() / 1e6
}

// round3 keeps three decimals, which is all a summary needs.
func round3(x float64) float64 {
	if x < 0 {
		return -round3(-x)
	}
	return float64(int64(x*1000+0.5)) / 1000
}

// finish ends a client: it writes the summary, emits "done" and returns
// ctx's error when the client was stopped early.
func finish(ctx context.Context, env *roles.Env, s *series, summary map[string]any) error {
	complete := ctx.Err() == nil
	summary["complete"] = complete
	err := s.close()
	if werr := env.WriteJSON("summary.json", summary); err == nil {
		err = werr
	}
	done := map[string]any{}
	for k, v := range summary {
		switch v.(type) {
		case []float64, []streamResult, []bucketCount:
			continue // lists stay in summary.json
		}
		done[k] = v
	}
	env.Events.Emit("done", done)
	if !complete {
		return ctx.Err()
	}
	return err
}
