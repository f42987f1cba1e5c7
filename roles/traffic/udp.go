package traffic

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/tbctl/tbctl/roles"
)

// The header every datagram starts with, big-endian: magic, flow, sequence
// number, send time (CLOCK_MONOTONIC ns). The rest of the payload is zero.
const (
	udpMagic     = 0x54425452 // "TBTR"
	udpHeaderLen = 4 + 8 + 8 + 8
)

type datagram struct {
	flow, seq uint64
	sendNS    int64
}

func putDatagram(b []byte, d datagram) {
	binary.BigEndian.PutUint32(b[0:], udpMagic)
	binary.BigEndian.PutUint64(b[4:], d.flow)
	binary.BigEndian.PutUint64(b[12:], d.seq)
	binary.BigEndian.PutUint64(b[20:], uint64(d.sendNS))
}

func parseDatagram(b []byte) (datagram, bool) {
	if len(b) < udpHeaderLen || binary.BigEndian.Uint32(b) != udpMagic {
		return datagram{}, false
	}
	return datagram{
		flow:   binary.BigEndian.Uint64(b[4:]),
		seq:    binary.BigEndian.Uint64(b[12:]),
		sendNS: int64(binary.BigEndian.Uint64(b[20:])),
	}, true
}

// monoNow reads CLOCK_MONOTONIC in nanoseconds (the clock of
// roles.MonotonicNS) through Go's own monotonic clock, which is the same
// clock read without a system call.
func monoNow() int64 { return monoBase + int64(time.Since(monoStart)) }

var (
	monoStart = time.Now()
	monoBase  = roles.MonotonicNS()
)

// seenLimit bounds duplicate detection: sequence numbers from here on are
// not remembered (2^26 datagrams, 8 MiB of bits per flow).
const seenLimit = 1 << 26

// udpFlow is the receiver's view of one UDP flow.
type udpFlow struct {
	received, bytes, duplicates, outOfOrder int64
	maxSeq                                  int64
	seen                                    []uint64
	jitter                                  float64 // ns, RFC 3550 section 6.4.1
	prevTransit, minTransit, sumTransit     int64
}

func newUDPFlow() *udpFlow { return &udpFlow{maxSeq: -1} }

func (f *udpFlow) add(seq uint64, sendNS, recvNS int64, n int) {
	if seq < seenLimit {
		w, bit := seq/64, uint64(1)<<(seq%64)
		if int(w) >= len(f.seen) {
			f.seen = append(f.seen, make([]uint64, int(w)+1-len(f.seen))...)
		}
		if f.seen[w]&bit != 0 {
			f.duplicates++
			return
		}
		f.seen[w] |= bit
	}
	if int64(seq) < f.maxSeq {
		f.outOfOrder++
	} else {
		f.maxSeq = int64(seq)
	}
	transit := recvNS - sendNS
	if f.received > 0 {
		d := math.Abs(float64(transit - f.prevTransit))
		f.jitter += (d - f.jitter) / 16
		f.minTransit = min(f.minTransit, transit)
	} else {
		f.minTransit = transit
	}
	f.prevTransit = transit
	f.sumTransit += transit
	f.received++
	f.bytes += int64(n)
}

// udpReport is the server's answer on a udp-report connection.
type udpReport struct {
	Flow       uint64  `json:"flow"`
	Received   int64   `json:"received"` // distinct datagrams
	Bytes      int64   `json:"bytes"`    // their payload bytes
	Lost       int64   `json:"lost"`     // sent (or highest sequence + 1) less received
	Duplicates int64   `json:"duplicates"`
	OutOfOrder int64   `json:"out_of_order"` // arrived after a higher sequence number
	JitterMS   float64 `json:"jitter_ms"`
	// One-way delay, meaningful when sender and receiver share
	// CLOCK_MONOTONIC (nodes of one host).
	OWDMinMS  float64 `json:"owd_min_ms"`
	OWDMeanMS float64 `json:"owd_mean_ms"`
}

func (f *udpFlow) report(id uint64, sent int64) udpReport {
	r := udpReport{Flow: id, Received: f.received, Bytes: f.bytes, Duplicates: f.duplicates, OutOfOrder: f.outOfOrder, JitterMS: f.jitter / 1e6}
	expected := f.maxSeq + 1
	if sent > 0 {
		expected = sent
	}
	r.Lost = max(0, expected-f.received)
	if f.received > 0 {
		r.OWDMinMS = float64(f.minTransit) / 1e6
		r.OWDMeanMS = float64(f.sumTransit) / float64(f.received) / 1e6
	}
	return r
}

// newFlowID picks a random flow id below 2^53, so that it survives tools
// that read JSON numbers as doubles.
func newFlowID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) & (1<<53 - 1)
}

// udpInterval is a line of series.jsonl in udp mode.
type udpInterval struct {
	T       float64 `json:"t_s"`
	Mbps    float64 `json:"mbps"` // offered
	Packets int64   `json:"packets"`
	Bytes   int64   `json:"bytes"`
}

// pacer is the UDP send schedule (see the package documentation).
type pacer struct {
	perGroup int     // slots due together: 1, or burst
	periodNS float64 // between two groups
	maxLag   int64   // slots the sender may catch up at once
}

func newPacer(p *Params) pacer {
	gapNS := float64(p.Size) * 8 / (p.RateMbps * 1e6) * 1e9
	pc := pacer{perGroup: 1, periodNS: gapNS, maxLag: int64(max(1, math.Ceil(1e6/gapNS)))}
	if p.Pattern == "bursty" {
		pc.perGroup = p.Burst
		pc.periodNS = gapNS * float64(p.Burst)
		pc.maxLag = int64(p.Burst)
	}
	return pc
}

// at is when slot k is due, from the start.
func (pc pacer) at(k int64) time.Duration {
	return time.Duration(float64(k/int64(pc.perGroup)) * pc.periodNS)
}

// dueBy is how many slots are due at t.
func (pc pacer) dueBy(t time.Duration) int64 {
	return (int64(float64(t)/pc.periodNS) + 1) * int64(pc.perGroup)
}

func runUDP(ctx context.Context, env *roles.Env, p *Params, m *metrics) error {
	addr := net.JoinHostPort(p.Target, strconv.Itoa(p.Port))
	flow := newFlowID()
	rc, err := dial(ctx, addr, hello{Kind: "udp-report", Flow: flow}, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.SetDeadline(time.Now()) })
	defer stop()
	rr := bufio.NewReader(rc)
	if _, err := readReport(rr); err != nil {
		return fmt.Errorf("traffic: udp-report connection to %s: %w", addr, err)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		return fmt.Errorf("traffic: udp to %s: %w", addr, err)
	}
	uc := c.(*net.UDPConn)
	defer uc.Close()
	uc.SetWriteBuffer(4 << 20)
	env.Events.Emit("connected", map[string]any{"target": addr, "flow": flow, "local": uc.LocalAddr().String()})
	env.Ready()
	ser, err := newSeries(env)
	if err != nil {
		return err
	}

	pc := newPacer(p)
	buf := make([]byte, p.Size)
	var sent, skipped, failed int64
	var lastErr error
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	tick, tickSent := p.Interval, int64(0)
	start := time.Now()
	startMono := monoNow()
	now := time.Duration(0)
loop:
	for {
		now = time.Since(start)
		for now >= tick { // series lines for every interval that ended
			n := sent - tickSent
			ser.add(udpInterval{T: round3(tick.Seconds()), Mbps: round3(mbps(n*int64(p.Size), p.Interval)), Packets: n, Bytes: n * int64(p.Size)})
			tickSent = sent
			tick += p.Interval
		}
		if now >= p.Duration {
			break
		}
		select {
		case <-ctx.Done():
			break loop
		default:
		}
		used := sent + skipped + failed
		due := pc.dueBy(now)
		if due-used > pc.maxLag {
			skipped += due - used - pc.maxLag
			used = due - pc.maxLag
		}
		for ; used < due; used++ {
			putDatagram(buf, datagram{flow: flow, seq: uint64(sent), sendNS: startMono + int64(time.Since(start))})
			if _, err := uc.Write(buf); err != nil {
				failed++
				lastErr = err
				continue
			}
			sent++
			m.sent.Add(float64(p.Size))
		}
		next := min(pc.at(used), p.Duration, tick)
		if wait := next - time.Since(start); wait >= time.Millisecond {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		} else {
			for time.Since(start) < next {
				runtime.Gosched()
			}
		}
	}
	elapsed := time.Since(start)
	if ctx.Err() != nil && now > tick-p.Interval { // the partial interval
		n := sent - tickSent
		ser.add(udpInterval{T: round3(now.Seconds()), Mbps: round3(mbps(n*int64(p.Size), now-(tick-p.Interval))), Packets: n, Bytes: n * int64(p.Size)})
	}

	rep, rerr := collectReport(ctx, rc, rr, sent)
	m.udpLost.Add(float64(rep.Lost))
	summary := map[string]any{
		"mode": "udp", "target": addr, "flow": flow, "pattern": p.Pattern, "size": p.Size,
		"rate_mbps":    p.RateMbps,
		"elapsed_s":    round3(elapsed.Seconds()),
		"sent":         sent,
		"received":     rep.Received,
		"lost":         rep.Lost,
		"loss_pct":     0.0,
		"duplicates":   rep.Duplicates,
		"out_of_order": rep.OutOfOrder,
		"jitter_ms":    rep.JitterMS,
		"owd_min_ms":   rep.OWDMinMS,
		"owd_mean_ms":  rep.OWDMeanMS,
		"offered_mbps": round3(mbps(sent*int64(p.Size), elapsed)),
		"goodput_mbps": round3(mbps(rep.Bytes, elapsed)),
		"late_slots":   skipped,
		"send_errors":  failed,
	}
	if p.Pattern == "bursty" {
		summary["burst"] = p.Burst
	}
	if sent > 0 {
		summary["loss_pct"] = float64(rep.Lost) * 100 / float64(sent)
	}
	if lastErr != nil {
		summary["last_send_error"] = lastErr.Error()
	}
	if rerr != nil {
		summary["report_error"] = rerr.Error()
	}
	err = finish(ctx, env, ser, summary)
	if err == nil && rerr != nil {
		err = fmt.Errorf("traffic: receiver statistics from %s: %w", addr, rerr)
	}
	return err
}

func readReport(r *bufio.Reader) (udpReport, error) {
	var rep udpReport
	line, err := r.ReadBytes('\n')
	if err != nil {
		return rep, err
	}
	return rep, json.Unmarshal(line, &rep)
}

// collectReport asks the server for the flow's statistics until every
// datagram is in or the count stops growing (the rest is lost), for at
// most 2 s (0.5 s when the instance is being stopped).
func collectReport(ctx context.Context, rc *net.TCPConn, r *bufio.Reader, sent int64) (udpReport, error) {
	limit := 2 * time.Second
	if ctx.Err() != nil {
		limit = 500 * time.Millisecond
	}
	rc.SetDeadline(time.Now().Add(limit))
	deadline := time.Now().Add(limit - 100*time.Millisecond)
	line, _ := json.Marshal(reportRequest{Sent: sent})
	line = append(line, '\n')
	var rep udpReport
	prev := int64(-1)
	for {
		if _, err := rc.Write(line); err != nil {
			return rep, err
		}
		next, err := readReport(r)
		if err != nil {
			return rep, err
		}
		rep = next
		if rep.Received >= sent || rep.Received == prev || time.Now().After(deadline) {
			return rep, nil
		}
		prev = rep.Received
		time.Sleep(100 * time.Millisecond)
	}
}
