// Package nldump asks a network namespace's kernel for a netlink route
// dump (RTM_GETSTATS, RTM_GETQDISC, ...) as cheaply as Go allows: one
// socket per namespace made once, plain blocking system calls on it (the
// kernel has the first part of a dump ready when the request is sent), and
// one receive buffer reused for every dump. Collectors sample dozens of
// namespaces ten times a second; a general netlink library's per-call
// buffers and poller round trips would be most of their cost. It only
// reads.
package nldump

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
)

// Conn is a NETLINK_ROUTE socket in one namespace. It is not safe for
// concurrent use.
type Conn struct {
	names map[int32]string // interface index → name, read when unknown
	fd    int
	seq   uint32
	req   []byte
	buf   []byte
}

var seqBase atomic.Uint32

// Open makes a socket in the network namespace pinned at path ("" for the
// caller's own).
func Open(path string) (*Conn, error) {
	c := &Conn{buf: make([]byte, recvSize), seq: seqBase.Add(1 << 20)}
	mk := func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("netlink bind: %w", err)
		}
		c.fd = fd
		return nil
	}
	var err error
	if path == "" {
		err = mk()
	} else {
		err = namespace.InThread(func() error {
			if err := namespace.Enter(path, unix.CLONE_NEWNET); err != nil {
				return err
			}
			return mk()
		})
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Dump sends a dump request of type typ with the given payload (the
// request's fixed header, e.g. struct tcmsg) and calls fn with the type and
// payload of every message of the answer, until the dump is done. The
// payload is only valid during the call.
func (c *Conn) Dump(typ uint16, payload []byte, fn func(typ uint16, data []byte) error) error {
	c.seq++
	n := unix.NLMSG_HDRLEN + len(payload)
	c.req = append(c.req[:0], make([]byte, n)...)
	binary.NativeEndian.PutUint32(c.req[0:], uint32(n))
	binary.NativeEndian.PutUint16(c.req[4:], typ)
	binary.NativeEndian.PutUint16(c.req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(c.req[8:], c.seq)
	copy(c.req[unix.NLMSG_HDRLEN:], payload)
	if err := c.send(); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		m, err := c.recv()
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := c.buf[:m]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			t := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("netlink: malformed message")
			}
			data := b[unix.NLMSG_HDRLEN:l]
			if next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); next < len(b) {
				b = b[next:]
			} else {
				b = nil
			}
			if seq != c.seq {
				continue // an answer to an earlier, abandoned request
			}
			switch t {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(data)); errno != 0 {
						return fmt.Errorf("netlink dump of type %d: %w", typ, syscall.Errno(-errno))
					}
				}
				return nil
			}
			if err := fn(t, data); err != nil {
				return err
			}
		}
	}
}

// recvSize is the receive buffer. The kernel sizes each part of a dump to
// the largest read it has seen on the socket (up to 32 KiB): a small
// buffer keeps its allocations to single pages, which halves the cost of
// a dump of a few interfaces.
const recvSize = 8192

// send and recv use raw system calls: the kernel answers a dump request
// within the send and has each next part ready when the last is read, so
// neither call waits, and telling the Go scheduler about them (thread
// hand-offs included) would cost more than the calls. A read that would
// wait after all falls back to an ordinary blocking one.
func (c *Conn) send() error {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(&c.req[0])), uintptr(len(c.req)))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

func (c *Conn) recv() (int, error) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			m, err := unix.Read(c.fd, c.buf)
			if err == unix.EINTR {
				continue
			}
			return m, err
		}
		return 0, errno
	}
}

// LinkNames reads the namespace's interface names by index (an
// RTM_GETLINK dump; the samplers read it again when an unknown index
// appears, as interfaces come and go).
func (c *Conn) LinkNames() (map[int32]string, error) {
	var ifinfomsg [16]byte // AF_UNSPEC: every link
	names := map[int32]string{}
	err := c.Dump(unix.RTM_GETLINK, ifinfomsg[:], func(typ uint16, data []byte) error {
		if typ != unix.RTM_NEWLINK || len(data) < 16 {
			return nil
		}
		index := int32(binary.NativeEndian.Uint32(data[4:]))
		for b := data[16:]; len(b) >= 4; {
			l := int(binary.NativeEndian.Uint16(b[0:]))
			t := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
			if l < 4 || l > len(b) {
				break
			}
			if t == unix.IFLA_IFNAME {
				names[index] = strings.TrimRight(string(b[4:l]), "\x00")
				break
			}
			next := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
			if next >= len(b) {
				break
			}
			b = b[next:]
		}
		return nil
	})
	return names, err
}

// nlaTypeMask strips the nested and byte-order flags from an attribute's
// type (NLA_TYPE_MASK in linux/netlink.h).
const nlaTypeMask = 0x3fff

// OpenAll opens a Conn in each namespace; on an error it closes those it
// opened and says which, by index into paths.
func OpenAll(paths []string) ([]*Conn, int, error) {
	conns := make([]*Conn, 0, len(paths))
	for i, p := range paths {
		c, err := Open(p)
		if err != nil {
			CloseAll(conns)
			return nil, i, err
		}
		conns = append(conns, c)
	}
	return conns, 0, nil
}

// CloseAll closes every Conn.
func CloseAll(conns []*Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// Name returns the name of interface index, reading the names again when
// it is unknown (interfaces come and go, as when the link emulator is
// spliced in); "" when there is no such interface.
func (c *Conn) Name(index int32) (string, error) {
	if name, ok := c.names[index]; ok {
		return name, nil
	}
	names, err := c.LinkNames()
	if err != nil {
		return "", err
	}
	c.names = names
	return names[index], nil
}
