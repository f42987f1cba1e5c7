// Package pcap records the packets crossing one interface of a lab node
// into a pcapng file while an experiment runs, so that what actually went
// over the wire can be examined afterwards (with tcpdump, Wireshark or the
// [Reader] here), and rewrites such files for sharing with the addresses
// anonymized ([Anonymize]).
//
// A capture is pure Go: an AF_PACKET socket opened inside the node's
// network namespace, a TPACKET_V3 receive ring mapped into memory, and a
// goroutine that copies each packet from the ring into the file as an
// Enhanced Packet Block with a nanosecond timestamp, its direction
// (epb_flags) and its original length. Packets are cut to a snap length in
// the kernel, by a one-instruction socket filter, so only the bytes that
// are kept are ever copied. A capture ends when the caller stops it, when
// its context ends, or when the file reaches a size, a packet count or a
// duration limit; [Stats] say which, and how many packets the kernel had to
// drop because the ring was full. The interface is not put into
// promiscuous mode: like every collector, a capture changes nothing in the
// lab.
//
// Like the rest of package collectors, capturing is Linux only and needs
// CAP_NET_RAW in the node's namespace (and CAP_SYS_ADMIN to enter it).
package pcap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
)

// Spec says what to capture and when to stop.
type Spec struct {
	Node  string // the node's name, for messages
	NS    string // the node's network namespace (e.g. /run/netns/x); "" is the caller's
	Iface string // the interface, as named inside NS
	// SnapLen is how many bytes of each packet are kept: 0 means
	// DefaultSnapLen, a negative value or one above MaxSnapLen means
	// MaxSnapLen (whole packets).
	SnapLen int
	// MaxBytes bounds the size of the file, headers included: 0 means
	// DefaultMaxBytes, a negative value no limit.
	MaxBytes int64
	// MaxDuration ends the capture that long after it started; 0 means
	// no limit beyond the caller's context.
	MaxDuration time.Duration
	// MaxPackets ends the capture after that many packets; 0 means no
	// limit.
	MaxPackets int64
}

// Defaults and bounds of a Spec.
const (
	DefaultSnapLen  = 128
	MaxSnapLen      = 262144
	DefaultMaxBytes = 64 << 20
)

// Reason says why a capture ended.
type Reason string

const (
	ReasonStopped     Reason = "stopped"      // Stop was called
	ReasonContext     Reason = "context"      // the context given to Start ended
	ReasonMaxBytes    Reason = "max-bytes"    // the next packet would have made the file too big
	ReasonMaxPackets  Reason = "max-packets"  // MaxPackets packets were written
	ReasonMaxDuration Reason = "max-duration" // MaxDuration passed
	ReasonError       Reason = "error"        // writing or reading failed; Stop returns the error
)

// Stats sum up a capture.
type Stats struct {
	Packets int64  // packets written to the file
	Bytes   int64  // size of the file
	Dropped int64  // packets the kernel dropped because the ring was full
	Reason  Reason // why the capture ended
}

// The receive ring: ringBlocks blocks of ringBlockSize bytes (4 MiB of
// kernel memory per capture). A block is handed over when it is full or
// retireMS milliseconds after its first packet, so a quiet interface's
// packets reach the file within a few tens of milliseconds. A block must
// hold the largest packet kept, a GSO packet of up to 64 KiB with snap
// lengths above that; larger packets are cut to fit the block.
const (
	ringBlockSize = 1 << 18
	ringBlocks    = 16
	ringFrameSize = 1 << 11 // required by the kernel, unused by TPACKET_V3
	retireMS      = 10
	// drainWait is how long a stopping capture keeps reading, so that the
	// kernel hands over the partly filled block holding the last packets.
	drainWait = 4*retireMS*time.Millisecond + 10*time.Millisecond
)

// Offsets in the ring (linux/if_packet.h).
const (
	bdStatus   = 8  // tpacket_block_desc.hdr.bh1.block_status
	bdNumPkts  = 12 // ... num_pkts
	bdFirstPkt = 16 // ... offset_to_first_pkt
	tp3HdrLen  = 48 // sizeof(struct tpacket3_hdr), the sockaddr_ll follows
	sllLen     = 20 // sizeof(struct sockaddr_ll)
)

// Capture is a running capture.
type Capture struct {
	spec     Spec
	fd, efd  int // the packet socket; an eventfd that wakes the reader
	ring     []byte
	cur      int // the next block to read
	linkType uint16
	cooked   bool // a SOCK_DGRAM socket: build a Linux cooked header
	f        *os.File
	w        *writer
	started  time.Time
	done     chan struct{}
	stopCtx  func() bool

	mu        sync.Mutex
	reason    Reason // the first reason to stop
	efdClosed bool

	// Owned by the reading goroutine until done is closed.
	stats   Stats
	err     error
	opts    []option
	flags   [4]byte
	scratch []byte
}

// Start opens a packet socket on spec.Iface inside spec.NS, creates (or
// truncates) the pcapng file at path and captures into it until Stop is
// called, ctx ends or a limit of spec is reached. The file holds one
// section with one interface: link type Ethernet for Ethernet-like and
// loopback interfaces, Linux cooked capture (LinkTypeLinuxSLL) for
// others such as tun or IP tunnels; nanosecond timestamps.
func Start(ctx context.Context, spec Spec, path string) (*Capture, error) {
	spec = spec.withDefaults()
	where := spec.Iface
	if spec.Node != "" {
		where = spec.Node + " " + spec.Iface
	}
	if spec.Iface == "" {
		return nil, errors.New("pcap: no interface given")
	}
	if h := newWriter(io.Discard); spec.MaxBytes > 0 {
		(&Capture{spec: spec}).writeHeader(h)
		if h.n > spec.MaxBytes {
			return nil, fmt.Errorf("pcap %s: MaxBytes %d is smaller than the file's %d-byte header", where, spec.MaxBytes, h.n)
		}
	}
	sock, err := openSocket(spec)
	if err != nil {
		return nil, fmt.Errorf("pcap %s: %w", where, err)
	}
	c := &Capture{spec: spec, fd: sock.fd, efd: -1, linkType: sock.linkType, cooked: sock.cooked, done: make(chan struct{})}
	fail := func(err error) (*Capture, error) {
		if c.ring != nil {
			unix.Munmap(c.ring)
		}
		unix.Close(c.fd)
		if c.efd >= 0 {
			unix.Close(c.efd)
		}
		if c.f != nil {
			c.f.Close()
		}
		return nil, fmt.Errorf("pcap %s: %w", where, err)
	}
	if err := c.setupRing(sock.ifindex); err != nil {
		return fail(err)
	}
	if c.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail(fmt.Errorf("eventfd: %w", err))
	}
	if c.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640); err != nil {
		return fail(err)
	}
	c.w = newWriter(c.f)
	c.writeHeader(c.w)
	if err := c.w.flush(); err != nil {
		return fail(err)
	}
	c.opts = []option{{optEPBFlags, c.flags[:]}}
	c.scratch = make([]byte, 0, spec.SnapLen+16+4)
	c.started = time.Now()
	c.stopCtx = context.AfterFunc(ctx, func() { c.request(ReasonContext) })
	go c.run()
	return c, nil
}

// writeHeader starts the file: one section, one interface.
func (c *Capture) writeHeader(w *writer) {
	w.shb([]option{{optSHBUserAppl, []byte("tbctl")}})
	w.idb(c.linkType, uint32(c.spec.SnapLen), []option{
		{optIfName, []byte(c.spec.Iface)},
		{optIfTSResol, []byte{9}},
	})
}

func (s Spec) withDefaults() Spec {
	switch {
	case s.SnapLen == 0:
		s.SnapLen = DefaultSnapLen
	case s.SnapLen < 0 || s.SnapLen > MaxSnapLen:
		s.SnapLen = MaxSnapLen
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	return s
}

// Done is closed when the capture has ended, whether by Stop, its
// context or a limit, and its file is complete.
func (c *Capture) Done() <-chan struct{} { return c.done }

// Stop ends the capture, if it has not ended already, and returns its
// statistics once the file is flushed and closed. Packets the kernel
// received before Stop are written (a stopping capture waits some tens of
// milliseconds for them). It may be called any number of times, from any
// goroutine; every call returns the same result.
func (c *Capture) Stop() (Stats, error) {
	c.request(ReasonStopped)
	<-c.done
	return c.stats, c.err
}

// request asks the reader to stop, for reason r unless it has one already.
func (c *Capture) request(r Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == "" {
		c.reason = r
	}
	if !c.efdClosed {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(c.efd, one[:])
	}
}

// setReason records why the capture ends unless a reason is known.
func (c *Capture) setReason(r Reason) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

func (c *Capture) stopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason != ""
}

// socket is a packet socket opened in a node's namespace.
type socket struct {
	fd       int
	ifindex  int
	linkType uint16
	cooked   bool
}

// openSocket opens the packet socket on a thread inside spec.NS: a socket
// belongs to the namespace it was created in, whichever thread uses it
// later. It is opened with protocol 0, which receives nothing until it is
// bound to its interface.
func openSocket(spec Spec) (socket, error) {
	var s socket
	err := namespace.InThread(func() error {
		if spec.NS != "" {
			if err := namespace.Enter(spec.NS, unix.CLONE_NEWNET); err != nil {
				return err
			}
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		ifr, err := unix.NewIfreq(spec.Iface)
		if err == nil {
			err = unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr)
		}
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("interface %q: %w", spec.Iface, err)
		}
		s.ifindex = int(ifr.Uint32())
		ifr, _ = unix.NewIfreq(spec.Iface)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("interface %q: hardware type: %w", spec.Iface, err)
		}
		switch ifr.Uint16() {
		case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
			s.fd, s.linkType = fd, LinkTypeEthernet
		default:
			// No Ethernet header, or one we cannot name: let the kernel
			// strip it and describe the packet in a cooked header.
			unix.Close(fd)
			if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				return fmt.Errorf("packet socket: %w", err)
			}
			s.linkType, s.cooked = LinkTypeLinuxSLL, true
		}
		return nil
	})
	return s, err
}

// setupRing cuts packets to the snap length, maps a TPACKET_V3 ring and
// binds the socket to the interface, for every protocol.
func (c *Capture) setupRing(ifindex int) error {
	filter := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: uint32(c.spec.SnapLen)}}
	prog := unix.SockFprog{Len: 1, Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(c.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attach snap length filter: %w", err)
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       ringBlocks,
		Frame_size:     ringFrameSize,
		Frame_nr:       ringBlockSize / ringFrameSize * ringBlocks,
		Retire_blk_tov: retireMS,
	}
	if err := unix.SetsockoptTpacketReq3(c.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("receive ring: %w", err)
	}
	ring, err := unix.Mmap(c.fd, 0, ringBlockSize*ringBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map receive ring: %w", err)
	}
	c.ring = ring
	var proto [2]byte
	binary.BigEndian.PutUint16(proto[:], unix.ETH_P_ALL)
	sa := unix.SockaddrLinklayer{Protocol: binary.NativeEndian.Uint16(proto[:]), Ifindex: ifindex}
	if err := unix.Bind(c.fd, &sa); err != nil {
		return fmt.Errorf("bind to interface: %w", err)
	}
	return nil
}

// run reads the ring until the capture ends, then closes everything.
func (c *Capture) run() {
	defer c.finish()
	fds := []unix.PollFd{
		{Fd: int32(c.fd), Events: unix.POLLIN},
		{Fd: int32(c.efd), Events: unix.POLLIN},
	}
	var deadline, cutoff, drainEnd time.Time
	if c.spec.MaxDuration > 0 {
		deadline = c.started.Add(c.spec.MaxDuration)
	}
	var drain [8]byte
	for {
		if c.readBlocks(cutoff) {
			return
		}
		now := time.Now()
		if drainEnd.IsZero() {
			switch {
			case c.stopping():
				cutoff = now
			case !deadline.IsZero() && !now.Before(deadline):
				c.setReason(ReasonMaxDuration)
				cutoff = deadline
			}
			if !cutoff.IsZero() {
				drainEnd = now.Add(drainWait)
			}
		}
		timeout := -1
		switch {
		case !drainEnd.IsZero():
			if !now.Before(drainEnd) {
				return
			}
			timeout = ceilMS(drainEnd.Sub(now))
		case !deadline.IsZero():
			timeout = ceilMS(deadline.Sub(now))
		}
		if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
			c.fail(fmt.Errorf("poll: %w", err))
			return
		}
		if fds[1].Revents&unix.POLLIN != 0 {
			unix.Read(c.efd, drain[:])
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			// The interface went down (ENETDOWN) or away. Clear the error
			// and go on: it may come back, and the capture ends as it was
			// told to.
			unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		}
	}
}

func ceilMS(d time.Duration) int {
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

func (c *Capture) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.setReason(ReasonError)
}

// readBlocks writes the packets of every block the kernel has handed over
// and gives the blocks back. Packets stamped after cutoff, when it is set,
// are left out. It reports whether the capture must end.
func (c *Capture) readBlocks(cutoff time.Time) bool {
	var cutoffNS uint64
	if !cutoff.IsZero() {
		cutoffNS = uint64(cutoff.UnixNano())
	}
	for {
		blk := c.ring[c.cur*ringBlockSize : (c.cur+1)*ringBlockSize]
		status := (*uint32)(unsafe.Pointer(&blk[bdStatus]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			return false
		}
		end := c.readBlock(blk, cutoffNS)
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		c.cur = (c.cur + 1) % ringBlocks
		if end {
			return true
		}
	}
}

// readBlock writes the packets of one block; see readBlocks.
func (c *Capture) readBlock(blk []byte, cutoffNS uint64) bool {
	ne := binary.NativeEndian
	num := ne.Uint32(blk[bdNumPkts:])
	off := int(ne.Uint32(blk[bdFirstPkt:]))
	for range num {
		if off <= 0 || off+tp3HdrLen+sllLen > len(blk) {
			break
		}
		h := blk[off:]
		next := int(ne.Uint32(h[0:]))
		ts := uint64(ne.Uint32(h[4:]))*1e9 + uint64(ne.Uint32(h[8:]))
		snap, wire := int(ne.Uint32(h[12:])), ne.Uint32(h[16:])
		status := ne.Uint32(h[20:])
		mac := int(ne.Uint16(h[24:]))
		if mac+snap > len(h) {
			break
		}
		if cutoffNS == 0 || ts <= cutoffNS {
			sll := h[tp3HdrLen : tp3HdrLen+sllLen]
			data := h[mac : mac+snap]
			switch {
			case c.cooked:
				data, wire = c.cookedFrame(sll, data, wire)
			case status&unix.TP_STATUS_VLAN_VALID != 0 && len(data) >= 12:
				// The VLAN tag was taken off by the driver; put it back
				// where it was on the wire.
				tpid := uint16(0x8100)
				if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = ne.Uint16(h[36:])
				}
				b := append(c.scratch[:0], data[:12]...)
				b = binary.BigEndian.AppendUint16(b, tpid)
				b = binary.BigEndian.AppendUint16(b, uint16(ne.Uint32(h[32:])))
				data, wire = append(b, data[12:]...), wire+4
				c.scratch = b[:0]
			}
			if c.write(ts, data, wire, pktFlags(sll[10])) {
				return true
			}
		}
		if next == 0 {
			break
		}
		off += next
	}
	return false
}

// cookedFrame puts a Linux cooked-capture header (LINKTYPE_LINUX_SLL)
// built from the packet's sockaddr_ll before its network-layer bytes.
func (c *Capture) cookedFrame(sll, data []byte, wire uint32) ([]byte, uint32) {
	ne, be := binary.NativeEndian, binary.BigEndian
	b := c.scratch[:0]
	b = be.AppendUint16(b, uint16(sll[10]))         // packet type
	b = be.AppendUint16(b, ne.Uint16(sll[8:]))      // ARPHRD_ type
	b = be.AppendUint16(b, uint16(min(sll[11], 8))) // link-layer address length
	b = append(b, sll[12:20]...)                    // link-layer address
	b = append(b, sll[2:4]...)                      // protocol, network order
	b = append(b, data...)
	c.scratch = b[:0]
	return b, wire + 16
}

// pktFlags maps a sockaddr_ll packet type to epb_flags.
func pktFlags(pkttype byte) uint32 {
	switch pkttype {
	case unix.PACKET_HOST:
		return FlagInbound | FlagUnicast
	case unix.PACKET_BROADCAST:
		return FlagInbound | FlagBroadcast
	case unix.PACKET_MULTICAST:
		return FlagInbound | FlagMulticast
	case unix.PACKET_OTHERHOST:
		return FlagInbound | FlagPromisc
	case unix.PACKET_OUTGOING:
		return FlagOutbound
	}
	return 0
}

// write appends one packet to the file, unless a limit forbids it; it
// reports whether the capture must end.
func (c *Capture) write(ts uint64, data []byte, wire, flags uint32) bool {
	binary.LittleEndian.PutUint32(c.flags[:], flags)
	if c.spec.MaxBytes > 0 && c.w.n+int64(c.w.epbLen(0, data, c.opts)) > c.spec.MaxBytes {
		c.setReason(ReasonMaxBytes)
		return true
	}
	if err := c.w.epb(0, ts, data, wire, c.opts); err != nil {
		c.fail(fmt.Errorf("write %s: %w", c.f.Name(), err))
		return true
	}
	c.stats.Packets++
	if c.spec.MaxPackets > 0 && c.stats.Packets >= c.spec.MaxPackets {
		c.setReason(ReasonMaxPackets)
		return true
	}
	return false
}

// finish collects the kernel's drop count, closes the socket and the file
// and marks the capture done.
func (c *Capture) finish() {
	if st, err := unix.GetsockoptTpacketStatsV3(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		c.stats.Dropped = int64(st.Drops)
	}
	unix.Munmap(c.ring)
	unix.Close(c.fd)
	if err := c.w.flush(); err != nil {
		c.fail(fmt.Errorf("write %s: %w", c.f.Name(), err))
	}
	if err := c.f.Close(); err != nil {
		c.fail(fmt.Errorf("close %s: %w", c.f.Name(), err))
	}
	c.stats.Bytes = c.w.n
	c.mu.Lock()
	if c.reason == "" {
		c.reason = ReasonError
	}
	c.stats.Reason = c.reason
	c.efdClosed = true
	unix.Close(c.efd)
	c.mu.Unlock()
	c.stopCtx()
	close(c.done)
}
