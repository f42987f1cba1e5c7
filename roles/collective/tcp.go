package collective

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Wire format. Every connection carries one channel between rank r (the
// dialer, sending) and r+1 (the acceptor, receiving). It opens with a
// hello each way: the dialer's, then the acceptor's answer, both
//
//	"TBCR" | rank u32 | n u32 | channel u32 | channels u32   (big-endian)
//
// After that the dialer writes chunks as raw float32 bytes in host order,
// back to back, sizes known to both ends from the schedule, and the
// acceptor acknowledges them cumulatively with the 4-byte big-endian
// sequence number of the last chunk it has received (chunks count 0, 1,
// ... per channel and collective; see Acker).

const (
	helloMagic       = "TBCR"
	helloLen         = 20
	handshakeTimeout = 10 * time.Second
	dialRetry        = 50 * time.Millisecond
	// maxRecvLowat caps the receive low-water mark Recv sets (the kernel
	// caps it further, at half the largest receive buffer).
	maxRecvLowat = 4 << 20
)

// TCPOptions configure Connect.
type TCPOptions struct {
	// Channels is the number of connections to each neighbour; 0 means 1.
	Channels int
	// SocketBuffer, when positive, fixes each socket's send and receive
	// buffers at that size (SO_SNDBUF/SO_RCVBUF, which the kernel caps at
	// net.core.[rw]mem_max and which turn its autotuning off). 0 leaves
	// the kernel's autotuning, which reached a higher bus bandwidth in
	// bench/mycroft-busbw.sh than a fixed 4 MiB.
	SocketBuffer int
	// RecvLowat makes Recv wake once per chunk instead of at every
	// arriving segment (see Recv). It raises the bus bandwidth where the
	// links are bound by the CPU and every rank keeps streaming, and adds
	// jitter to collectives when ranks that share CPUs also compute
	// between them (docs/benchmarks.md).
	RecvLowat bool
}

func (o TCPOptions) control(_, _ string, c syscall.RawConn) error {
	sz := o.SocketBuffer
	if sz <= 0 {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sz); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sz)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setting socket buffers to %d bytes: %w", sz, serr)
	}
	return nil
}

// Listen opens the listening socket a rank's left neighbour connects to,
// with the socket buffers of o set before any connection is accepted (so
// they shape the TCP window from the start).
func Listen(ctx context.Context, addr string, o TCPOptions) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: o.control}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("collective: listening on %s: %w", addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// TCP is a Transport over TCP: Channels connections to the right
// neighbour, dialled, and as many from the left one, accepted. It
// implements Acker, Aborter and Channeler.
type TCP struct {
	rank, n     int
	right, left []*net.TCPConn
	ackOut      [][4]byte // per channel, used by the receiving goroutine
	ackIn       [][4]byte // per channel, used by the acknowledgement reader
	lowat       []int     // with RecvLowat, per channel, SO_RCVLOWAT last set on left[ch] (used by the receiving goroutine); else nil
	closeOnce   sync.Once
}

// Connect joins rank (of n) to its ring neighbours: it dials rightAddr
// (where rank+1 listens; retrying until ctx ends, since the neighbour may
// not be up yet) and accepts from ln the connections of rank-1, checking
// each hello. It returns once all 2*Channels connections are up.
func Connect(ctx context.Context, ln *net.TCPListener, rank, n int, rightAddr string, o TCPOptions) (*TCP, error) {
	nc := max(1, o.Channels)
	t := &TCP{rank: rank, n: n, ackOut: make([][4]byte, nc), ackIn: make([][4]byte, nc)}
	if o.RecvLowat {
		t.lowat = make([]int, nc)
	}
	if n < 2 {
		return t, nil
	}
	t.right = make([]*net.TCPConn, nc)
	t.left = make([]*net.TCPConn, nc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, nc+1)
	for ch := range nc {
		wg.Go(func() {
			c, err := t.dial(ctx, rightAddr, ch, nc, o)
			if err != nil {
				errs[ch] = fmt.Errorf("collective: rank %d dialling rank %d at %s, channel %d: %w", rank, mod(rank+1, n), rightAddr, ch, err)
				cancel()
				return
			}
			t.right[ch] = c
		})
	}
	wg.Go(func() {
		if err := t.accept(ctx, ln, nc, o); err != nil {
			errs[nc] = fmt.Errorf("collective: rank %d accepting rank %d on %s: %w", rank, mod(rank-1, n), ln.Addr(), err)
			cancel()
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *TCP) hello(ch, nc int) []byte {
	b := make([]byte, 0, helloLen)
	b = append(b, helloMagic...)
	for _, v := range []int{t.rank, t.n, ch, nc} {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

func readHello(c net.Conn) (rank, n, ch, nc int, err error) {
	var b [helloLen]byte
	if _, err = io.ReadFull(c, b[:]); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("reading hello: %w", err)
	}
	if string(b[:4]) != helloMagic {
		return 0, 0, 0, 0, fmt.Errorf("bad hello magic %q", b[:4])
	}
	u := func(i int) int { return int(binary.BigEndian.Uint32(b[4+4*i:])) }
	return u(0), u(1), u(2), u(3), nil
}

func (t *TCP) dial(ctx context.Context, addr string, ch, nc int, o TCPOptions) (*net.TCPConn, error) {
	d := net.Dialer{Control: o.control}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			tc := c.(*net.TCPConn)
			if err := t.handshakeDialer(ctx, tc, ch, nc); err != nil {
				tc.Close()
				return nil, err
			}
			return tc, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(dialRetry):
		}
	}
}

func (t *TCP) handshakeDialer(ctx context.Context, c *net.TCPConn, ch, nc int) error {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	if err := c.SetNoDelay(true); err != nil {
		return err
	}
	if _, err := c.Write(t.hello(ch, nc)); err != nil {
		return fmt.Errorf("writing hello: %w", err)
	}
	r, n, rch, rnc, err := readHello(c)
	if err != nil {
		return err
	}
	if want := mod(t.rank+1, t.n); r != want || n != t.n || rch != ch || rnc != nc {
		return fmt.Errorf("answer from rank %d of %d channel %d/%d, want rank %d of %d channel %d/%d", r, n, rch, rnc, want, t.n, ch, nc)
	}
	return nil
}

func (t *TCP) accept(ctx context.Context, ln *net.TCPListener, nc int, o TCPOptions) error {
	stop := context.AfterFunc(ctx, func() { ln.SetDeadline(time.Now()) })
	defer func() {
		stop()
		ln.SetDeadline(time.Time{})
	}()
	got := 0
	for got < nc {
		c, err := ln.AcceptTCP()
		if err != nil {
			return err
		}
		ch, err := t.handshakeAcceptor(ctx, c, nc)
		if err != nil {
			// A stray or mistaken connection: drop it, keep waiting.
			c.Close()
			continue
		}
		t.left[ch] = c
		got++
	}
	return nil
}

func (t *TCP) handshakeAcceptor(ctx context.Context, c *net.TCPConn, nc int) (int, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	if err := c.SetNoDelay(true); err != nil {
		return 0, err
	}
	r, n, ch, rnc, err := readHello(c)
	if err != nil {
		return 0, err
	}
	if want := mod(t.rank-1, t.n); r != want || n != t.n || rnc != nc || ch < 0 || ch >= nc || t.left[ch] != nil {
		return 0, fmt.Errorf("hello from rank %d of %d channel %d/%d, want rank %d of %d", r, n, ch, rnc, want, t.n)
	}
	if _, err := c.Write(t.hello(ch, nc)); err != nil {
		return 0, fmt.Errorf("answering hello: %w", err)
	}
	return ch, nil
}

// Channels returns the number of channels.
func (t *TCP) Channels() int { return len(t.ackOut) }

// Send writes b to the right neighbour on channel ch.
func (t *TCP) Send(ch int, b []byte) error {
	_, err := t.right[ch].Write(b)
	return err
}

// Recv reads len(b) bytes from the left neighbour on channel ch.
//
// With TCPOptions.RecvLowat, before each read it sets the socket's
// receive low-water mark (SO_RCVLOWAT) to the bytes still missing (at
// most maxRecvLowat), so that the kernel wakes the reader once the rest
// of the chunk is there instead of at every arriving segment. The mark
// never exceeds what is missing: the sender may send nothing more until
// this chunk is acknowledged, and a reader waiting for bytes that will
// not come would hang. The kernel still wakes the reader early when the
// receive window or memory runs short.
func (t *TCP) Recv(ch int, b []byte) error {
	c := t.left[ch]
	if t.lowat == nil {
		_, err := io.ReadFull(c, b)
		return err
	}
	for len(b) > 0 {
		if err := t.setLowat(ch, min(len(b), maxRecvLowat)); err != nil {
			return err
		}
		n, err := c.Read(b)
		b = b[n:]
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (t *TCP) setLowat(ch, v int) error {
	if t.lowat[ch] == v {
		return nil
	}
	raw, err := t.left[ch].SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, v)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setting SO_RCVLOWAT to %d: %w", v, serr)
	}
	t.lowat[ch] = v
	return nil
}

// SendAck acknowledges chunks up to seq to the left neighbour on channel ch.
func (t *TCP) SendAck(ch int, seq uint32) error {
	b := t.ackOut[ch][:]
	binary.BigEndian.PutUint32(b, seq)
	_, err := t.left[ch].Write(b)
	return err
}

// RecvAck reads the right neighbour's next acknowledgement on channel ch.
func (t *TCP) RecvAck(ch int) (uint32, error) {
	b := t.ackIn[ch][:]
	if _, err := io.ReadFull(t.right[ch], b); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// Abort closes every connection, failing pending calls.
func (t *TCP) Abort() { t.Close() }

// Close closes every connection.
func (t *TCP) Close() error {
	var errs []error
	t.closeOnce.Do(func() {
		for _, c := range append(append([]*net.TCPConn{}, t.right...), t.left...) {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	})
	return errors.Join(errs...)
}
