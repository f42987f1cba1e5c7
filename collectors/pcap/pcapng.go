package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
	"time"
)

// pcapng block types (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0A0D0D0A // Section Header Block
	blockIDB = 0x00000001 // Interface Description Block
	blockPB  = 0x00000002 // Packet Block (obsolete)
	blockSPB = 0x00000003 // Simple Packet Block
	blockNRB = 0x00000004 // Name Resolution Block
	blockISB = 0x00000005 // Interface Statistics Block
	blockEPB = 0x00000006 // Enhanced Packet Block

	byteOrderMagic = 0x1A2B3C4D
)

// Option codes used here.
const (
	optEndOfOpt = 0
	optComment  = 1

	optSHBUserAppl = 4

	optIfName     = 2
	optIfTSResol  = 9
	optIfFCSLen   = 13
	optIfTSOffset = 14

	optEPBFlags     = 2
	optEPBDropCount = 4
	optEPBPacketID  = 5
	optEPBQueue     = 6

	optISBStartTime = 2
	optISBEndTime   = 3
	optISBIfRecv    = 4
	optISBIfDrop    = 5
	optISBFilterAcc = 6
	optISBOSDrop    = 7
	optISBUsrDeliv  = 8
)

// Link types (https://www.tcpdump.org/linktypes.html) this package writes
// or can anonymize.
const (
	LinkTypeEthernet = 1   // Ethernet (and Linux loopback)
	LinkTypeRaw      = 101 // raw IPv4 or IPv6, no link header
	LinkTypeLinuxSLL = 113 // Linux "cooked" capture, 16-byte header
	LinkTypeIPv4     = 228 // raw IPv4
	LinkTypeIPv6     = 229 // raw IPv6
	LinkTypeSLL2     = 276 // Linux "cooked" capture v2, 20-byte header
)

// Direction and reception bits of epb_flags.
const (
	FlagInbound   = 1
	FlagOutbound  = 2
	FlagUnicast   = 1 << 2
	FlagMulticast = 2 << 2
	FlagBroadcast = 3 << 2
	FlagPromisc   = 4 << 2
)

// maxBlock bounds the size of one block a reader accepts, so that a
// corrupt length cannot make it allocate without limit.
const maxBlock = 64 << 20

// Interface describes one capture interface (an Interface Description
// Block).
type Interface struct {
	LinkType uint16
	SnapLen  uint32 // 0: no limit
	Name     string // if_name, "" when absent
	// TSResol is if_tsresol: timestamps count 10^-TSResol seconds, or
	// 2^-(TSResol&0x7f) seconds when its top bit is set. 6 when absent.
	TSResol  uint8
	TSOffset int64 // if_tsoffset, seconds added to every timestamp
}

// Packet is one captured packet (an Enhanced, Simple or obsolete Packet
// Block).
type Packet struct {
	Interface int // index into the interfaces of the whole file
	Time      time.Time
	Data      []byte // the captured bytes; len(Data) is the captured length
	OrigLen   int    // the packet's length on the wire
	Flags     uint32 // epb_flags (FlagInbound, ...), 0 when absent
}

// option is one pcapng option.
type option struct {
	code  uint16
	value []byte
}

func pad4(n int) int { return (n + 3) &^ 3 }

func optionsLen(opts []option) int {
	if len(opts) == 0 {
		return 0
	}
	n := 4 // opt_endofopt
	for _, o := range opts {
		n += 4 + pad4(len(o.value))
	}
	return n
}

// writer writes a pcapng stream, little-endian, one section.
type writer struct {
	w        *bufio.Writer
	n        int64    // bytes written so far
	snapLens []uint32 // per interface of the section
	hdr      [8]byte
	fixed    [20]byte // a packet block's fixed part; a local array would escape
	zero     [4]byte
}

func newWriter(w io.Writer) *writer {
	return &writer{w: bufio.NewWriterSize(w, 1<<16)}
}

// blockLen is the total length of a block with a fixed part of nfixed
// bytes, ndata bytes of padded data and the given options.
func blockLen(nfixed, ndata int, opts []option) int {
	return 12 + nfixed + pad4(ndata) + optionsLen(opts)
}

// block writes one block: type, length, the fixed fields, data padded to
// 32 bits, options and the trailing length.
func (w *writer) block(typ uint32, fixed, data []byte, opts []option) error {
	total := blockLen(len(fixed), len(data), opts)
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], typ)
	le.PutUint32(w.hdr[4:], uint32(total))
	w.w.Write(w.hdr[:8])
	w.w.Write(fixed)
	w.w.Write(data)
	w.w.Write(w.zero[:pad4(len(data))-len(data)])
	if len(opts) > 0 {
		for _, o := range opts {
			le.PutUint16(w.hdr[0:], o.code)
			le.PutUint16(w.hdr[2:], uint16(len(o.value)))
			w.w.Write(w.hdr[:4])
			w.w.Write(o.value)
			w.w.Write(w.zero[:pad4(len(o.value))-len(o.value)])
		}
		w.w.Write(w.zero[:4]) // opt_endofopt
	}
	le.PutUint32(w.hdr[0:], uint32(total))
	_, err := w.w.Write(w.hdr[:4])
	w.n += int64(total)
	return err
}

// shb starts a section: a Section Header Block of unknown section length.
func (w *writer) shb(opts []option) error {
	var f [16]byte
	le := binary.LittleEndian
	le.PutUint32(f[0:], byteOrderMagic)
	le.PutUint16(f[4:], 1) // major version
	le.PutUint16(f[6:], 0) // minor version
	le.PutUint64(f[8:], ^uint64(0))
	w.snapLens = w.snapLens[:0]
	return w.block(blockSHB, f[:], nil, opts)
}

// idb describes the section's next interface.
func (w *writer) idb(linkType uint16, snapLen uint32, opts []option) error {
	var f [8]byte
	binary.LittleEndian.PutUint16(f[0:], linkType)
	binary.LittleEndian.PutUint32(f[4:], snapLen)
	w.snapLens = append(w.snapLens, snapLen)
	return w.block(blockIDB, f[:], nil, opts)
}

// epbLen is the total length of the Enhanced Packet Block that epb would
// write.
func (w *writer) epbLen(ifID uint32, data []byte, opts []option) int {
	return blockLen(20, len(w.trunc(ifID, data)), opts)
}

func (w *writer) trunc(ifID uint32, data []byte) []byte {
	if int(ifID) < len(w.snapLens) {
		if s := w.snapLens[ifID]; s != 0 && uint32(len(data)) > s {
			return data[:s]
		}
	}
	return data
}

// epb writes an Enhanced Packet Block: data cut to the interface's snap
// length, and the original length of the packet.
func (w *writer) epb(ifID uint32, ts uint64, data []byte, origLen uint32, opts []option) error {
	if int(ifID) >= len(w.snapLens) {
		return fmt.Errorf("pcapng: packet on undeclared interface %d", ifID)
	}
	data = w.trunc(ifID, data)
	if origLen < uint32(len(data)) {
		origLen = uint32(len(data))
	}
	f := w.fixed[:]
	le := binary.LittleEndian
	le.PutUint32(f[0:], ifID)
	le.PutUint32(f[4:], uint32(ts>>32))
	le.PutUint32(f[8:], uint32(ts))
	le.PutUint32(f[12:], uint32(len(data)))
	le.PutUint32(f[16:], origLen)
	return w.block(blockEPB, f, data, opts)
}

func (w *writer) flush() error { return w.w.Flush() }

// blockReader reads the blocks of a pcapng stream, section by section,
// in whatever byte order each section was written.
type blockReader struct {
	r     *bufio.Reader
	order binary.ByteOrder // nil before the first SHB
	buf   []byte
	off   int64 // offset of the next block, for error messages
}

func newBlockReader(r io.Reader) *blockReader {
	return &blockReader{r: bufio.NewReaderSize(r, 1<<16)}
}

// next returns the next block's type and body (everything between the
// leading length and the trailing one). The body is valid until the next
// call. It returns io.EOF at a clean end of stream.
func (b *blockReader) next() (uint32, []byte, error) {
	var head [12]byte
	_, err := io.ReadFull(b.r, head[:8])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, fmt.Errorf("pcapng: block at offset %d: %w", b.off, io.ErrUnexpectedEOF)
	}
	typ := binary.LittleEndian.Uint32(head[:])
	if typ == blockSHB { // palindromic: the same in both byte orders
		if _, err := io.ReadFull(b.r, head[8:12]); err != nil {
			return 0, nil, fmt.Errorf("pcapng: section header at offset %d: %w", b.off, io.ErrUnexpectedEOF)
		}
		switch binary.LittleEndian.Uint32(head[8:]) {
		case byteOrderMagic:
			b.order = binary.LittleEndian
		case bits.ReverseBytes32(byteOrderMagic):
			b.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("pcapng: section header at offset %d: bad byte-order magic", b.off)
		}
	} else if b.order == nil {
		return 0, nil, fmt.Errorf("pcapng: not a pcapng file (no section header block at offset 0)")
	}
	typ = b.order.Uint32(head[0:])
	total := int64(b.order.Uint32(head[4:]))
	if total < 12+4*boolInt(typ == blockSHB) || total%4 != 0 || total > maxBlock {
		return 0, nil, fmt.Errorf("pcapng: block at offset %d: bad length %d", b.off, total)
	}
	body := int(total) - 12
	if cap(b.buf) < body+4 {
		b.buf = make([]byte, body+4)
	}
	b.buf = b.buf[:body+4]
	read := 0
	if typ == blockSHB {
		copy(b.buf, head[8:12])
		read = 4
	}
	if _, err := io.ReadFull(b.r, b.buf[read:]); err != nil {
		return 0, nil, fmt.Errorf("pcapng: block at offset %d: %w", b.off, io.ErrUnexpectedEOF)
	}
	if t := int64(b.order.Uint32(b.buf[body:])); t != total {
		return 0, nil, fmt.Errorf("pcapng: block at offset %d: trailing length %d, want %d", b.off, t, total)
	}
	b.off += total
	return typ, b.buf[:body], nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// parseOptions reads an option list; a missing opt_endofopt is tolerated.
// Option values alias b.
func parseOptions(b []byte, order binary.ByteOrder) ([]option, error) {
	var opts []option
	for len(b) >= 4 {
		code, n := order.Uint16(b[0:]), int(order.Uint16(b[2:]))
		if code == optEndOfOpt {
			break
		}
		if 4+n > len(b) {
			return opts, fmt.Errorf("pcapng: option %d overruns its block", code)
		}
		opts = append(opts, option{code, b[4 : 4+n]})
		if 4+pad4(n) > len(b) {
			break
		}
		b = b[4+pad4(n):]
	}
	return opts, nil
}

// ifaceState is what a reader keeps of one interface of the current
// section.
type ifaceState struct {
	global int // index among all interfaces of the file
	Interface
}

// readIDB parses an Interface Description Block body.
func readIDB(body []byte, order binary.ByteOrder) (Interface, []option, error) {
	if len(body) < 8 {
		return Interface{}, nil, errors.New("pcapng: short interface description block")
	}
	ifc := Interface{LinkType: order.Uint16(body[0:]), SnapLen: order.Uint32(body[4:]), TSResol: 6}
	opts, err := parseOptions(body[8:], order)
	if err != nil {
		return ifc, nil, err
	}
	for _, o := range opts {
		switch o.code {
		case optIfName:
			ifc.Name = strings.TrimRight(string(o.value), "\x00")
		case optIfTSResol:
			if len(o.value) >= 1 {
				ifc.TSResol = o.value[0]
			}
		case optIfTSOffset:
			if len(o.value) >= 8 {
				ifc.TSOffset = int64(order.Uint64(o.value))
			}
		}
	}
	return ifc, opts, nil
}

// timeOf converts a timestamp in the interface's units to a time.
func (ifc *Interface) timeOf(ts uint64) time.Time {
	var sec, nsec uint64
	if ifc.TSResol&0x80 != 0 {
		e := uint(ifc.TSResol & 0x7f)
		if e >= 64 {
			sec, nsec = 0, 0
		} else {
			sec = ts >> e
			frac := ts & (1<<e - 1)
			hi, lo := bits.Mul64(frac, 1e9)
			nsec = lo>>e | hi<<(64-e) // (frac * 1e9) >> e, in 128 bits
		}
	} else {
		r := int(ifc.TSResol)
		if r > 19 {
			return time.Unix(ifc.TSOffset, 0).UTC()
		}
		unit := uint64(1)
		for range r {
			unit *= 10
		}
		sec = ts / unit
		rem := ts % unit
		if r <= 9 {
			for range 9 - r {
				rem *= 10
			}
			nsec = rem
		} else {
			d := uint64(1)
			for range r - 9 {
				d *= 10
			}
			nsec = rem / d
		}
	}
	return time.Unix(int64(sec)+ifc.TSOffset, int64(nsec)).UTC()
}

// Reader reads the packets of a pcapng stream. It understands Section
// Header, Interface Description, Enhanced Packet, Simple Packet and the
// obsolete Packet blocks, in either byte order and any number of
// sections, and skips every other block.
type Reader struct {
	br      *blockReader
	ifaces  []Interface
	section []ifaceState
}

// NewReader reads pcapng from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: newBlockReader(r)}
}

// Interfaces returns the interfaces described so far, all sections
// together; Packet.Interface indexes this list.
func (r *Reader) Interfaces() []Interface { return r.ifaces }

// Next returns the next packet, or io.EOF after the last one.
func (r *Reader) Next() (Packet, error) {
	for {
		typ, body, err := r.br.next()
		if err != nil {
			return Packet{}, err
		}
		order := r.br.order
		switch typ {
		case blockSHB:
			if len(body) < 16 {
				return Packet{}, errors.New("pcapng: short section header block")
			}
			if major := order.Uint16(body[4:]); major != 1 {
				return Packet{}, fmt.Errorf("pcapng: unsupported major version %d", major)
			}
			r.section = r.section[:0]
		case blockIDB:
			ifc, _, err := readIDB(body, order)
			if err != nil {
				return Packet{}, err
			}
			r.section = append(r.section, ifaceState{len(r.ifaces), ifc})
			r.ifaces = append(r.ifaces, ifc)
		case blockEPB, blockPB, blockSPB:
			rp, err := parsePacket(r.section, typ, body, order)
			if err != nil {
				return Packet{}, err
			}
			ifc := &r.section[rp.ifID]
			p := Packet{
				Interface: ifc.global,
				Data:      append([]byte(nil), rp.data...),
				OrigLen:   int(rp.origLen),
			}
			if typ != blockSPB {
				p.Time = ifc.timeOf(rp.ts)
			}
			for _, o := range rp.opts {
				if o.code == optEPBFlags && len(o.value) >= 4 {
					p.Flags = order.Uint32(o.value)
				}
			}
			return p, nil
		}
	}
}

// rawPacket is a packet block as it is stored; data and opts alias the
// block.
type rawPacket struct {
	ifID    uint32 // index in the section
	ts      uint64 // in the interface's units; 0 for a Simple Packet Block
	data    []byte
	origLen uint32
	opts    []option
}

// parsePacket decodes an Enhanced, obsolete or Simple Packet Block.
func parsePacket(section []ifaceState, typ uint32, body []byte, order binary.ByteOrder) (rawPacket, error) {
	var (
		p      rawPacket
		capLen uint32
		rest   []byte
	)
	switch typ {
	case blockEPB, blockPB:
		if len(body) < 20 {
			return p, errors.New("pcapng: short packet block")
		}
		if typ == blockEPB {
			p.ifID = order.Uint32(body[0:])
		} else {
			p.ifID = uint32(order.Uint16(body[0:]))
		}
		p.ts = uint64(order.Uint32(body[4:]))<<32 | uint64(order.Uint32(body[8:]))
		capLen, p.origLen = order.Uint32(body[12:]), order.Uint32(body[16:])
		rest = body[20:]
	case blockSPB:
		if len(body) < 4 {
			return p, errors.New("pcapng: short simple packet block")
		}
		p.origLen = order.Uint32(body[0:])
		capLen = min(p.origLen, uint32(len(body)-4))
		if len(section) > 0 && section[0].SnapLen != 0 {
			capLen = min(capLen, section[0].SnapLen)
		}
		rest = body[4:]
	}
	if int(p.ifID) >= len(section) {
		return p, fmt.Errorf("pcapng: packet on undeclared interface %d", p.ifID)
	}
	if uint64(capLen) > uint64(len(rest)) {
		return p, fmt.Errorf("pcapng: captured length %d overruns its block", capLen)
	}
	p.data = rest[:capLen]
	if typ != blockSPB && pad4(int(capLen)) <= len(rest) {
		var err error
		if p.opts, err = parseOptions(rest[pad4(int(capLen)):], order); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ReadFile reads every packet and interface of a pcapng file. On an error
// (a file cut short, say) it returns what it read before it.
func ReadFile(path string) ([]Packet, []Interface, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := NewReader(f)
	var pkts []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return pkts, r.Interfaces(), nil
		}
		if err != nil {
			return pkts, r.Interfaces(), fmt.Errorf("%s: %w", path, err)
		}
		pkts = append(pkts, p)
	}
}
