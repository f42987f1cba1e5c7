package linkem

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RelayConfig tells the relay process what to relay. It is passed as JSON
// on the command line of `tbctl fault relay --config`.
type RelayConfig struct {
	IfA        string `json:"ifA"`        // interface towards end A, in the relay's namespace
	IfB        string `json:"ifB"`        // interface towards end B
	ConfigFile string `json:"configFile"` // Impairment as JSON, read at start and on SIGHUP
	StatsFile  string `json:"statsFile"`  // Stats written here every second and on exit
	ReadyFD    int    `json:"readyFd,omitempty"`
}

// ParseRelayConfig reads a RelayConfig from its JSON.
func ParseRelayConfig(s string) (RelayConfig, error) {
	var c RelayConfig
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("relay config: %w", err)
	}
	if c.IfA == "" || c.IfB == "" || c.ConfigFile == "" || c.StatsFile == "" {
		return c, errors.New("relay config: ifA, ifB, configFile and statsFile are required")
	}
	return c, nil
}

// Counters count the frames of one direction. Bytes are frame bytes as
// read from and written to the sockets.
type Counters struct {
	Received     uint64 `json:"received"`
	ReceivedB    uint64 `json:"receivedBytes"`
	Lost         uint64 `json:"lost"`         // dropped by the loss model
	QueueDropped uint64 `json:"queueDropped"` // dropped at a full queue
	Duplicated   uint64 `json:"duplicated"`
	Corrupted    uint64 `json:"corrupted"`
	Sent         uint64 `json:"sent"`
	SentB        uint64 `json:"sentBytes"`
	SentWireB    uint64 `json:"sentWireBytes"` // GSO bursts counted as the frames they stand for
	SendErrors   uint64 `json:"sendErrors"`
	Queued       int    `json:"queued"` // frames waiting now
}

// Stats is what the relay writes to its stats file.
type Stats struct {
	PID        int       `json:"pid"`
	Time       time.Time `json:"time"`
	Generation int       `json:"generation"` // of the impairment in force
	AtoB       Counters  `json:"aToB"`
	BtoA       Counters  `json:"bToA"`
	Exited     bool      `json:"exited,omitempty"`
}

// impConfig is the file the relay reads its impairment from.
type impConfig struct {
	Generation int        `json:"generation"`
	Impairment Impairment `json:"impairment"`
}

// RunRelay relays frames between cfg.IfA and cfg.IfB, applying the
// impairment of cfg.ConfigFile, until ctx ends. It must run in the
// namespace holding both interfaces.
func RunRelay(ctx context.Context, cfg RelayConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conf, err := readImpConfig(cfg.ConfigFile)
	if err != nil {
		return err
	}
	fdA, err := openPacket(cfg.IfA)
	if err != nil {
		return err
	}
	defer unix.Close(fdA)
	fdB, err := openPacket(cfg.IfB)
	if err != nil {
		return err
	}
	defer unix.Close(fdB)

	// The two read loops each keep a P while they wait (see rawRead).
	runtime.GOMAXPROCS(runtime.NumCPU() + 2)
	r := &relay{}
	r.gen.Store(int64(conf.Generation))
	ab := newPipe(AtoB, fdA, fdB, conf.Impairment)
	ba := newPipe(BtoA, fdB, fdA, conf.Impairment)
	r.pipes = []*pipe{ab, ba}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for _, p := range r.pipes {
		wg.Add(2)
		go func() { defer wg.Done(); errc <- p.readLoop(ctx) }()
		go func() { defer wg.Done(); p.sendLoop(ctx) }()
	}
	if cfg.ReadyFD > 0 {
		f := os.NewFile(uintptr(cfg.ReadyFD), "ready")
		f.WriteString("ready\n")
		f.Close()
	}
	r.writeStats(cfg.StatsFile, false)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			if err != nil {
				runErr = err
			}
			break loop
		case <-hup:
			c, err := readImpConfig(cfg.ConfigFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "linkem relay: reload:", err)
				continue
			}
			for _, p := range r.pipes {
				p.setImpairment(c.Impairment)
			}
			r.gen.Store(int64(c.Generation))
			r.writeStats(cfg.StatsFile, false)
		case <-tick.C:
			r.writeStats(cfg.StatsFile, false)
		}
	}
	cancel()
	for _, p := range r.pipes {
		p.wake()
	}
	wg.Wait()
	r.writeStats(cfg.StatsFile, true)
	return runErr
}

type relay struct {
	pipes []*pipe
	gen   atomic.Int64
}

func (r *relay) writeStats(path string, exited bool) {
	s := Stats{PID: os.Getpid(), Time: time.Now(), Generation: int(r.gen.Load()), Exited: exited,
		AtoB: r.pipes[0].counters(), BtoA: r.pipes[1].counters()}
	js, _ := json.Marshal(s)
	writeFileAtomic(path, js)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readImpConfig(path string) (impConfig, error) {
	var c impConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, c.Impairment.Validate()
}

// vnetHdrLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR
// puts before every frame: it carries the GSO and checksum offload state,
// so that TCP bursts and frames with checksums left to the device cross
// the relay intact.
const vnetHdrLen = 10

const (
	vnetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	gsoNone       = 0
	gsoTCPv4      = 1
	gsoUDP        = 3
	gsoTCPv6      = 4
	gsoUDPL4      = 5
	gsoECN        = 0x80
)

// openPacket opens an AF_PACKET socket bound to an interface, that sees
// every frame the interface receives and none that it sends.
func openPacket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, fmt.Errorf("find %s: %w", ifname, err)
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("packet socket on %s: %s: %w", ifname, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("vnet header", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("ignore outgoing", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fail("qdisc bypass", err)
	}
	for _, o := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 8<<20); err != nil {
			return fail("buffer size", err)
		}
	}
	// Reads time out, so that the read loop notices when to stop.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("receive timeout", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// A pipe relays one direction.
type pipe struct {
	dir     string
	in, out int
	imp     atomic.Pointer[Impairment] // nil: this direction is not impaired

	// Owned by the read loop.
	rng  *rand.Rand
	bad  bool // Gilbert-Elliott state
	seed int64

	mu     sync.Mutex
	q      frameHeap
	seq    uint64
	last   int64 // latest send time in the queue
	notify chan struct{}

	c struct {
		received, receivedB, lost, queueDropped, duplicated, corrupted atomic.Uint64
		sent, sentB, sentWireB, sendErrors                             atomic.Uint64
	}
}

func newPipe(dir string, in, out int, imp Impairment) *pipe {
	p := &pipe{dir: dir, in: in, out: out, notify: make(chan struct{}, 1)}
	p.setImpairment(imp)
	return p
}

// setImpairment changes the impairment of the pipe; the random source is
// seeded afresh when the seed changes.
func (p *pipe) setImpairment(imp Impairment) {
	if !imp.applies(p.dir) || imp.zero() {
		p.imp.Store(nil)
		return
	}
	p.imp.Store(&imp)
}

func (p *pipe) counters() Counters {
	p.mu.Lock()
	queued := len(p.q)
	p.mu.Unlock()
	return Counters{
		Received: p.c.received.Load(), ReceivedB: p.c.receivedB.Load(), Lost: p.c.lost.Load(),
		QueueDropped: p.c.queueDropped.Load(), Duplicated: p.c.duplicated.Load(), Corrupted: p.c.corrupted.Load(),
		Sent: p.c.sent.Load(), SentB: p.c.sentB.Load(), SentWireB: p.c.sentWireB.Load(), SendErrors: p.c.sendErrors.Load(), Queued: queued,
	}
}

func (p *pipe) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// maxFrame is the largest frame read: a 64 KiB GSO burst and its headers.
const maxFrame = vnetHdrLen + 65536 + 256

func (p *pipe) readLoop(ctx context.Context) error {
	buf := make([]byte, maxFrame)
	for ctx.Err() == nil {
		n, err := rawRead(p.in, buf)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err == unix.ENETDOWN {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("%s: read: %w", p.dir, err)
		}
		if n <= vnetHdrLen {
			continue
		}
		p.c.received.Add(1)
		p.c.receivedB.Add(uint64(n - vnetHdrLen))
		p.handle(buf[:n], time.Now())
	}
	return nil
}

// handle puts one frame (with its vnet header) through the impairment.
func (p *pipe) handle(pkt []byte, now time.Time) {
	imp := p.imp.Load()
	if imp == nil {
		p.mu.Lock()
		empty := len(p.q) == 0
		p.mu.Unlock()
		if empty { // nothing to overtake: send at once
			p.send(pkt)
			return
		}
		// Frames delayed before an Update still wait: follow them.
		p.enqueue(&Impairment{}, pkt, now)
		return
	}
	if p.rng == nil || p.seed != imp.Seed {
		p.seed = imp.Seed
		s := uint64(imp.Seed)
		if p.dir == BtoA {
			s ^= 0x9e3779b97f4a7c15
		}
		p.rng = rand.New(rand.NewPCG(s, s+1))
	}
	count := 1
	if imp.DuplicatePct > 0 && p.rng.Float64()*100 < imp.DuplicatePct {
		count++
		p.c.duplicated.Add(1)
	}
	if p.lose(imp) {
		count--
		p.c.lost.Add(1)
	}
	if count == 0 {
		return
	}
	if imp.CorruptPct > 0 && p.rng.Float64()*100 < imp.CorruptPct {
		p.c.corrupted.Add(1)
		if count == 2 { // the copy goes out clean, as netem's does
			p.enqueue(imp, pkt, now)
			count = 1
		}
		if pkt[1] != gsoNone {
			return
		}
		c := make([]byte, len(pkt))
		copy(c, pkt)
		corrupt(c, p.rng)
		pkt = c
	}
	for range count {
		p.enqueue(imp, pkt, now)
	}
}

func (p *pipe) lose(imp *Impairment) bool {
	if g := imp.GE; g != nil {
		if !p.bad {
			if p.rng.Float64() < g.P {
				p.bad = true
			}
			return p.rng.Float64() >= g.K
		}
		if p.rng.Float64() < g.R {
			p.bad = false
		}
		return p.rng.Float64() >= g.H
	}
	return imp.LossPct > 0 && p.rng.Float64()*100 < imp.LossPct
}

// delay draws the delay of one frame, in nanoseconds.
func (p *pipe) delay(imp *Impairment) int64 {
	d := float64(imp.Delay)
	if j := float64(imp.Jitter); j > 0 {
		if imp.Distribution == Uniform {
			d += (p.rng.Float64()*2 - 1) * j
		} else {
			for {
				x := p.rng.NormFloat64()
				if x >= -2 && x <= 2 {
					d += x * j
					break
				}
			}
		}
	}
	return max(int64(d), 0)
}

// enqueue schedules a copy of a frame, as netem's enqueue does.
func (p *pipe) enqueue(imp *Impairment, pkt []byte, now time.Time) {
	var d int64
	if imp.Delay > 0 || imp.Jitter > 0 {
		d = p.delay(imp)
	}
	reorder := imp.ReorderPct > 0 && p.rng.Float64()*100 < imp.ReorderPct
	t := now.UnixNano()
	p.mu.Lock()
	if len(p.q) >= imp.queueLimit() {
		p.mu.Unlock()
		p.c.queueDropped.Add(1)
		return
	}
	if reorder {
		// Sent now, ahead of the frames waiting.
	} else if imp.zero() {
		t = max(t, p.last)
	} else {
		if imp.RateMbps > 0 {
			if len(p.q) > 0 && p.last > t {
				d = max(d-(p.last-t), 0)
				t = p.last
			}
			d += int64(float64(wireLen(pkt)) * 8 * 1e3 / imp.RateMbps)
		}
		t += d
	}
	if t > p.last || len(p.q) == 0 {
		p.last = t
	}
	p.seq++
	heap.Push(&p.q, &frame{t: t, seq: p.seq, data: copyFrame(pkt)})
	p.mu.Unlock()
	p.wake()
}

// sendLoop sends queued frames at their time.
func (p *pipe) sendLoop(ctx context.Context) {
	// A thread of its own, with a timer slack of 1 µs instead of 50, for
	// the precise sleeps before each frame.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	var timer *time.Timer
	for ctx.Err() == nil {
		p.mu.Lock()
		if len(p.q) == 0 {
			p.mu.Unlock()
			select {
			case <-p.notify:
			case <-ctx.Done():
			}
			continue
		}
		f := p.q[0]
		wait := f.t - time.Now().UnixNano()
		if wait <= 0 {
			heap.Pop(&p.q)
			p.mu.Unlock()
			p.send(f.data)
			freeFrame(f.data)
			continue
		}
		p.mu.Unlock()
		if wait > int64(2*time.Millisecond) {
			// Go's timers may fire up to a millisecond late: wake early
			// and sleep the rest precisely.
			d := time.Duration(wait) - 1500*time.Microsecond
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C:
			case <-p.notify:
				timer.Stop()
			case <-ctx.Done():
			}
			continue
		}
		// Short sleeps, so that a frame sent ahead (reorder) waits little.
		ts := unix.NsecToTimespec(min(wait, int64(500*time.Microsecond)))
		unix.Nanosleep(&ts, nil)
	}
}

func (p *pipe) send(pkt []byte) {
	for {
		_, err := unix.Write(p.out, pkt)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.c.sendErrors.Add(1)
			return
		}
		p.c.sent.Add(1)
		p.c.sentB.Add(uint64(len(pkt) - vnetHdrLen))
		p.c.sentWireB.Add(uint64(wireLen(pkt)))
		return
	}
}

// wireLen is the number of bytes a frame stands for on the wire: a GSO
// burst counts every segment with its headers.
func wireLen(pkt []byte) int {
	n := len(pkt) - vnetHdrLen
	gso := pkt[1] &^ gsoECN
	if gso == gsoNone {
		return n
	}
	size := int(binary.NativeEndian.Uint16(pkt[4:]))
	start := int(binary.NativeEndian.Uint16(pkt[6:]))
	hdr := start
	switch gso {
	case gsoTCPv4, gsoTCPv6:
		if vnetHdrLen+start+13 < len(pkt) {
			hdr = start + int(pkt[vnetHdrLen+start+12]>>4)*4
		}
	default:
		hdr = start + 8
	}
	if size <= 0 || hdr <= 0 || hdr >= n {
		return n
	}
	segs := (n - hdr + size - 1) / size
	return n + (segs-1)*hdr
}

// corrupt flips one random bit of a frame after its Ethernet header,
// computing first a checksum left to the device, so that it covers the
// undamaged frame.
func corrupt(pkt []byte, rng *rand.Rand) {
	frame := pkt[vnetHdrLen:]
	if pkt[0]&vnetNeedsCsum != 0 {
		start := int(binary.NativeEndian.Uint16(pkt[6:]))
		off := int(binary.NativeEndian.Uint16(pkt[8:]))
		if start+off+2 <= len(frame) {
			sum := ^checksum(frame[start:])
			if sum == 0 && off == 6 { // UDP sends 0 as all ones
				sum = 0xffff
			}
			binary.BigEndian.PutUint16(frame[start+off:], sum)
			pkt[0] &^= vnetNeedsCsum
			binary.NativeEndian.PutUint16(pkt[6:], 0)
			binary.NativeEndian.PutUint16(pkt[8:], 0)
		}
	}
	if len(frame) <= 14 {
		return
	}
	i := 14 + rng.IntN(len(frame)-14)
	frame[i] ^= 1 << rng.IntN(8)
}

// checksum is the ones' complement sum of b, folded to 16 bits, not
// complemented.
func checksum(b []byte) uint16 {
	var s uint64
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

type frame struct {
	t    int64 // send time, Unix ns
	seq  uint64
	data []byte
}

type frameHeap []*frame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	return h[i].t < h[j].t || h[i].t == h[j].t && h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(*frame)) }
func (h *frameHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return f
}

// Frame buffers come from pools by size class, so that queued frames take
// the memory they need and steady traffic allocates nothing.
var classes = [...]int{2048, 10240, maxFrame}

var pools [len(classes)]sync.Pool

func copyFrame(pkt []byte) []byte {
	for i, c := range classes {
		if len(pkt) <= c {
			var b []byte
			if v := pools[i].Get(); v != nil {
				b = *(v.(*[]byte))
			} else {
				b = make([]byte, c)
			}
			b = b[:len(pkt)]
			copy(b, pkt)
			return b
		}
	}
	return append([]byte(nil), pkt...)
}

func freeFrame(b []byte) {
	for i, c := range classes {
		if cap(b) == c {
			b = b[:c]
			pools[i].Put(&b)
			return
		}
	}
}

// rawRead reads without telling Go's scheduler, which would otherwise hand
// the thread's P away while the read blocks and make the thread win one
// back when a frame comes: that costs about 30 µs a frame on a quiet link.
// The reading goroutine keeps its P while it blocks, so RunRelay raises
// GOMAXPROCS by one per reader; the read times out (SO_RCVTIMEO) and
// returns on the runtime's preemption signals, so the goroutine still
// stops for the garbage collector.
func rawRead(fd int, buf []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
