package traffic

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/roles"
)

// stream is one connection of tcp mode.
type stream struct {
	c        *net.TCPConn
	raw      syscall.RawConn
	written  atomic.Int64
	helloLen int64
}

// info reads the socket's TCP_INFO.
func (s *stream) info() (*unix.TCPInfo, error) {
	var info *unix.TCPInfo
	var ierr error
	if err := s.raw.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, err
	}
	return info, ierr
}

// acked is how many payload bytes the receiver has acknowledged; on
// kernels without tcpi_bytes_acked, how many were written.
func (s *stream) acked() int64 {
	if info, err := s.info(); err == nil && info.Bytes_acked > 0 {
		return max(0, int64(info.Bytes_acked)-1-s.helloLen) // the SYN counts one
	}
	return s.written.Load()
}

// streamResult is one stream's line in summary.json.
type streamResult struct {
	Stream      int     `json:"stream"`
	Bytes       int64   `json:"bytes"`
	Mbps        float64 `json:"mbps"`
	Retransmits uint32  `json:"retransmits"`
	RTTMS       float64 `json:"rtt_ms"`     // smoothed RTT at the end
	MinRTTMS    float64 `json:"min_rtt_ms"` // lowest RTT seen
	Cwnd        uint32  `json:"cwnd"`       // segments
}

// tcpInterval is a line of series.jsonl in tcp mode.
type tcpInterval struct {
	T     float64 `json:"t_s"`
	Mbps  float64 `json:"mbps"`
	Bytes int64   `json:"bytes"` // acknowledged during the interval, all streams
}

func runTCP(ctx context.Context, env *roles.Env, p *Params, m *metrics) error {
	addr := net.JoinHostPort(p.Target, strconv.Itoa(p.Port))
	var control func(fd uintptr) error
	if p.CC != "" {
		control = func(fd uintptr) error {
			if err := unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, p.CC); err != nil {
				avail, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
				return fmt.Errorf("traffic: congestion control %q: %w (available here: %s)", p.CC, err, strings.TrimSpace(string(avail)))
			}
			return nil
		}
	}
	h := hello{Kind: "bulk"}
	streams := make([]*stream, 0, p.Streams)
	defer func() {
		for _, s := range streams {
			s.c.Close()
		}
	}()
	for range p.Streams {
		c, err := dial(ctx, addr, h, control)
		if err != nil {
			return err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			c.Close()
			return err
		}
		c.SetNoDelay(false) // bulk: let the kernel coalesce
		streams = append(streams, &stream{c: c, raw: raw, helloLen: helloLen(h)})
	}
	env.Events.Emit("connected", map[string]any{"target": addr, "streams": p.Streams, "cc": p.CC})
	env.Ready()
	ser, err := newSeries(env)
	if err != nil {
		return err
	}

	start := time.Now()
	end := start.Add(p.Duration)
	for _, s := range streams {
		s.c.SetWriteDeadline(end)
	}
	stop := context.AfterFunc(ctx, func() {
		for _, s := range streams {
			s.c.SetWriteDeadline(time.Now())
		}
	})
	defer stop()
	var wg sync.WaitGroup
	writersDone := make(chan struct{})
	errs := make([]error, len(streams))
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, p.Buffer)
			for {
				n, err := s.c.Write(buf)
				if n > 0 {
					s.written.Add(int64(n))
					m.sent.Add(float64(n))
				}
				if err != nil {
					if !os.IsTimeout(err) {
						errs[i] = err
					}
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(writersDone) }()

	total := func() int64 {
		var n int64
		for _, s := range streams {
			n += s.acked()
		}
		return n
	}
	ticker := time.NewTicker(p.Interval)
	var last int64
	lastT := start
	for running := true; running; {
		select {
		case <-ticker.C:
		case <-writersDone:
			running = false
		}
		now, n := time.Now(), total()
		if !running && now.Sub(lastT) < p.Interval/10 {
			break // only a sliver left after the last full interval
		}
		ser.add(tcpInterval{T: round3(now.Sub(start).Seconds()), Mbps: round3(mbps(n-last, now.Sub(lastT))), Bytes: n - last})
		last, lastT = n, now
	}
	ticker.Stop()
	elapsed := time.Since(start)
	if ctx.Err() == nil {
		elapsed = min(elapsed, p.Duration)
	}

	var results []streamResult
	var perStream []float64
	var bytes int64
	var retrans uint32
	for i, s := range streams {
		r := streamResult{Stream: i, Bytes: s.acked()}
		if info, err := s.info(); err == nil {
			r.Retransmits = info.Total_retrans
			r.RTTMS = float64(info.Rtt) / 1000
			r.MinRTTMS = float64(info.Min_rtt) / 1000
			r.Cwnd = info.Snd_cwnd
		}
		r.Mbps = round3(mbps(r.Bytes, elapsed))
		bytes += r.Bytes
		retrans += r.Retransmits
		results = append(results, r)
		perStream = append(perStream, r.Mbps)
	}
	minS, maxS := perStream[0], perStream[0]
	for _, x := range perStream {
		minS, maxS = min(minS, x), max(maxS, x)
	}
	summary := map[string]any{
		"mode": "tcp", "target": addr, "cc": p.CC, "buffer": p.Buffer,
		"elapsed_s":       round3(elapsed.Seconds()),
		"throughput_mbps": round3(mbps(bytes, elapsed)),
		"bytes":           bytes,
		"written_bytes":   sumWritten(streams),
		"streams":         p.Streams,
		"retransmits":     retrans,
		"per_stream_mbps": perStream,
		"min_stream_mbps": minS,
		"max_stream_mbps": maxS,
		"jain_fairness":   round3(jain(perStream)),
		"per_stream":      results,
	}
	var werr error
	for _, e := range errs {
		if e != nil && werr == nil && ctx.Err() == nil {
			werr = fmt.Errorf("traffic: sending to %s: %w", addr, e)
			summary["error"] = werr.Error()
		}
	}
	if err := finish(ctx, env, ser, summary); err != nil {
		return err
	}
	return werr
}

func helloLen(h hello) int64 {
	return int64(len(mustJSON(h)) + 1)
}

func sumWritten(streams []*stream) int64 {
	var n int64
	for _, s := range streams {
		n += s.written.Load()
	}
	return n
}

// jain is Jain's fairness index of xs: 1 when all are equal, 1/n when one
// has everything.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(xs)) * sq)
}
