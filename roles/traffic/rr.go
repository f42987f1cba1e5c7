package traffic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/tbctl/tbctl/roles"
)

// rrInterval is a line of series.jsonl in rr mode.
type rrInterval struct {
	T     float64 `json:"t_s"`
	Count uint64  `json:"count"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// rrGrace is how long the answer to the last request may take after
// duration before it counts as unanswered.
const rrGrace = time.Second

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func runRR(ctx context.Context, env *roles.Env, p *Params, m *metrics) error {
	addr := net.JoinHostPort(p.Target, strconv.Itoa(p.Port))
	c, err := dial(ctx, addr, hello{Kind: "rr", Size: p.Size}, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetNoDelay(true)
	env.Events.Emit("connected", map[string]any{"target": addr, "size": p.Size, "rate": p.Rate})
	env.Ready()
	ser, err := newSeries(env)
	if err != nil {
		return err
	}

	all := NewHistogram()
	var mu sync.Mutex // guards cur
	cur := NewHistogram()
	start := time.Now()
	end := start.Add(p.Duration)
	c.SetDeadline(end.Add(rrGrace))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	// Series lines come from their own goroutine, so a stalled request
	// does not stall them.
	seriesDone, seriesStop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(seriesDone)
		t := time.NewTicker(p.Interval)
		defer t.Stop()
		last := start
		line := func(now time.Time) {
			mu.Lock()
			l := rrInterval{T: round3(now.Sub(start).Seconds()), Count: cur.Count(), P50MS: ms(cur.Quantile(0.5)), P99MS: ms(cur.Quantile(0.99))}
			cur.Reset()
			mu.Unlock()
			ser.add(l)
			last = now
		}
		for {
			select {
			case now := <-t.C:
				line(now)
			case <-seriesStop:
				if now := time.Now(); now.Sub(last) >= p.Interval/10 {
					line(now)
				}
				return
			}
		}
	}()

	req, resp := make([]byte, p.Size), make([]byte, p.Size)
	var interval time.Duration
	if p.Rate > 0 {
		interval = time.Duration(float64(time.Second) / p.Rate)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var rerr error
	var late uint64 // open loop: requests that left after their scheduled time
	for i := int64(0); ; i++ {
		sched := time.Now()
		if interval > 0 {
			sched = start.Add(time.Duration(i) * interval)
			if !sched.Before(end) {
				break
			}
			if wait := time.Until(sched); wait >= time.Millisecond {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			} else if wait > 0 {
				for time.Now().Before(sched) {
					runtime.Gosched()
				}
			} else if wait < 0 {
				late++
			}
		} else if !sched.Before(end) {
			break
		}
		if ctx.Err() != nil {
			break
		}
		stamp(req, i)
		if _, err := c.Write(req); err != nil {
			rerr = err
			break
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			rerr = err
			break
		}
		lat := time.Since(sched)
		if !sameStamp(req, resp) {
			rerr = errors.New("the server's answer is not the request echoed")
			break
		}
		all.Record(lat)
		m.rtt.Observe(lat.Seconds())
		m.sent.Add(float64(p.Size))
		m.received.Add(float64(p.Size))
		mu.Lock()
		cur.Record(lat)
		mu.Unlock()
	}
	elapsed := time.Since(start)
	close(seriesStop)
	<-seriesDone

	summary := map[string]any{
		"mode": "rr", "target": addr, "size": p.Size, "rate": p.Rate,
		"elapsed_s":   round3(elapsed.Seconds()),
		"requests":    all.Count(),
		"rtt_min_ms":  ms(all.Min()),
		"rtt_mean_ms": ms(all.Mean()),
		"rtt_p50_ms":  ms(all.Quantile(0.5)),
		"rtt_p90_ms":  ms(all.Quantile(0.9)),
		"rtt_p99_ms":  ms(all.Quantile(0.99)),
		"rtt_p999_ms": ms(all.Quantile(0.999)),
		"rtt_max_ms":  ms(all.Max()),
		"histogram":   all.Buckets(),
	}
	if interval > 0 {
		summary["late_requests"] = late
	}
	if rerr != nil && ctx.Err() == nil {
		if os.IsTimeout(rerr) {
			rerr = fmt.Errorf("no answer within %s after the end", rrGrace)
		}
		rerr = fmt.Errorf("traffic: rr with %s: %w", addr, rerr)
		summary["error"] = rerr.Error()
	}
	if err := finish(ctx, env, ser, summary); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return rerr
}

// stamp writes request number i into the request (as much as fits), so
// that the answer can be checked.
func stamp(b []byte, i int64) {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], uint64(i))
	copy(b, s[:])
}

func sameStamp(a, b []byte) bool {
	n := min(8, len(a))
	return string(a[:n]) == string(b[:n])
}
