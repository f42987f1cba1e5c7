package pcap

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.pcapng")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := newWriter(f)
	require.NoError(t, w.shb([]option{{optComment, []byte("section one")}}))
	require.NoError(t, w.idb(LinkTypeEthernet, 64, []option{{optIfName, []byte("eth0")}, {optIfTSResol, []byte{9}}}))
	// tcpdump insists on one link type and snap length for all interfaces.
	require.NoError(t, w.idb(LinkTypeEthernet, 64, []option{{optIfName, []byte("eth1")}})) // microseconds

	base := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	src, dst := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	var want []Packet
	var flags [4]byte
	lengths := []int{0, 1, 2, 3, 4, 5, 6, 7, 9, 49, 50, 51, 52, 53, 100, 201}
	for i, n := range lengths {
		payload := bytes.Repeat([]byte{byte(i + 1)}, n)
		// Interface 0: Ethernet, nanoseconds, snap length 64.
		frame := ether(macB, macA, 0x88b5, payload) // local experimental EtherType
		ts := base.Add(time.Duration(i) * time.Millisecond).Add(time.Duration(i))
		binary.LittleEndian.PutUint32(flags[:], FlagInbound|FlagUnicast)
		require.NoError(t, w.epb(0, uint64(ts.UnixNano()), frame, uint32(len(frame)), []option{{optEPBFlags, flags[:]}, {optComment, []byte("odd")}}))
		want = append(want, Packet{Interface: 0, Time: ts, Data: frame[:min(len(frame), 64)], OrigLen: len(frame), Flags: FlagInbound | FlagUnicast})
		// Interface 1: microseconds.
		pkt := ether(macA, macB, 0x0800, ipv4(src, dst, 17, udp(src, dst, 1000, 2000, payload)))
		tsu := base.Truncate(time.Microsecond).Add(time.Duration(i) * time.Microsecond)
		require.NoError(t, w.epb(1, uint64(tsu.UnixMicro()), pkt, uint32(len(pkt)), nil))
		want = append(want, Packet{Interface: 1, Time: tsu, Data: pkt[:min(len(pkt), 64)], OrigLen: len(pkt)})
	}
	// Blocks a reader must skip: a custom block and a name resolution block.
	require.NoError(t, w.block(0x40000BAD, []byte{0, 0, 0x7e, 0xd9}, []byte("private"), nil))
	require.NoError(t, w.block(blockNRB, nil, []byte{1, 0, 8, 0, 198, 18, 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0}, nil))
	// A second section, with its own interface.
	require.NoError(t, w.shb(nil))
	require.NoError(t, w.idb(LinkTypeEthernet, 64, []option{{optIfName, []byte("eth2")}, {optIfTSResol, []byte{9}}}))
	frame := ether(macA, macB, 0x88b5, []byte("second section"))
	require.NoError(t, w.epb(0, uint64(base.UnixNano()), frame, 1000, nil))
	want = append(want, Packet{Interface: 2, Time: base, Data: frame, OrigLen: 1000})
	require.Error(t, w.epb(1, 0, frame, 0, nil), "interface 1 is not declared in this section")
	require.NoError(t, w.flush())
	require.NoError(t, f.Close())

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, w.n, st.Size())
	assert.Zero(t, st.Size()%4)

	pkts, ifaces, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []Interface{
		{LinkType: LinkTypeEthernet, SnapLen: 64, Name: "eth0", TSResol: 9},
		{LinkType: LinkTypeEthernet, SnapLen: 64, Name: "eth1", TSResol: 6},
		{LinkType: LinkTypeEthernet, SnapLen: 64, Name: "eth2", TSResol: 9},
	}, ifaces)
	require.Len(t, pkts, len(want))
	for i := range want {
		assert.Equal(t, want[i].Interface, pkts[i].Interface, "packet %d", i)
		assert.True(t, want[i].Time.Equal(pkts[i].Time), "packet %d: time %v, want %v", i, pkts[i].Time, want[i].Time)
		assert.Equal(t, want[i].Data, pkts[i].Data, "packet %d", i)
		assert.Equal(t, want[i].OrigLen, pkts[i].OrigLen, "packet %d", i)
		assert.Equal(t, want[i].Flags, pkts[i].Flags, "packet %d", i)
	}

	// The layout: every block a multiple of 4 bytes, padding zero, the
	// captured length at most the snap length.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	br := newBlockReader(bytes.NewReader(raw))
	epbs := 0
	for {
		typ, body, err := br.next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Zero(t, len(body)%4)
		if typ == blockEPB {
			capLen := int(binary.LittleEndian.Uint32(body[12:]))
			require.LessOrEqual(t, capLen, 64)
			for _, b := range body[20+capLen : 20+pad4(capLen)] {
				require.Zero(t, b, "padding after %d bytes", capLen)
			}
			epbs++
		}
	}
	assert.Equal(t, len(want), epbs)

	lines, _, ok := tcpdumpRead(t, path)
	if ok {
		assert.Len(t, lines, len(want))
		assert.Contains(t, lines[1], "198.18.1.1.1000 > 198.18.1.2.2000: UDP, length 0")
	}
}

// bigEndianFile is a small big-endian pcapng file: an Ethernet interface
// with millisecond timestamps and an offset, an Enhanced Packet Block with
// flags and a Simple Packet Block.
func bigEndianFile() []byte {
	be := binary.BigEndian
	var b []byte
	block := func(typ uint32, body []byte) {
		n := 12 + len(body)
		b = be.AppendUint32(b, typ)
		b = be.AppendUint32(b, uint32(n))
		b = append(b, body...)
		b = be.AppendUint32(b, uint32(n))
	}
	opt := func(code uint16, v []byte) []byte {
		o := be.AppendUint16(nil, code)
		o = be.AppendUint16(o, uint16(len(v)))
		o = append(o, v...)
		return append(o, make([]byte, pad4(len(v))-len(v))...)
	}
	shb := be.AppendUint32(nil, byteOrderMagic)
	shb = append(shb, 0, 1, 0, 0)
	shb = append(shb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	block(blockSHB, shb)
	idb := []byte{0, 1, 0, 0, 0, 0, 0x01, 0x00} // Ethernet, snap length 256
	idb = append(idb, opt(optIfName, []byte("eth9"))...)
	idb = append(idb, opt(optIfTSResol, []byte{3})...) // milliseconds
	idb = append(idb, opt(optIfTSOffset, be.AppendUint64(nil, 100))...)
	idb = append(idb, 0, 0, 0, 0)
	block(blockIDB, idb)
	epb := be.AppendUint32(nil, 0)
	epb = be.AppendUint32(epb, 0)
	epb = be.AppendUint32(epb, 1500) // 1.5 s
	epb = be.AppendUint32(epb, 3)
	epb = be.AppendUint32(epb, 60)
	epb = append(epb, 'a', 'b', 'c', 0)
	epb = append(epb, opt(optEPBFlags, be.AppendUint32(nil, FlagOutbound))...)
	epb = append(epb, 0, 0, 0, 0)
	block(blockEPB, epb)
	spb := be.AppendUint32(nil, 5)
	spb = append(spb, 1, 2, 3, 4, 5, 0, 0, 0)
	block(blockSPB, spb)

	return b
}

func TestReadBigEndian(t *testing.T) {
	b := bigEndianFile()
	r := NewReader(bytes.NewReader(b))
	p, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, []byte("abc"), p.Data)
	assert.Equal(t, 60, p.OrigLen)
	assert.Equal(t, uint32(FlagOutbound), p.Flags)
	assert.True(t, p.Time.Equal(time.Unix(101, 5e8)), "time %v", p.Time)
	p, err = r.Next()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4, 5}, p.Data)
	_, err = r.Next()
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, []Interface{{LinkType: 1, SnapLen: 256, Name: "eth9", TSResol: 3, TSOffset: 100}}, r.Interfaces())

	// Cut short in the middle of a block: the packets before it, and an
	// error.
	path := filepath.Join(t.TempDir(), "cut.pcapng")
	require.NoError(t, os.WriteFile(path, b[:len(b)-6], 0o644))
	pkts, _, err := ReadFile(path)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Len(t, pkts, 1)

	// Not pcapng at all.
	_, err = NewReader(bytes.NewReader([]byte("\xd4\xc3\xb2\xa1 a classic pcap file"))).Next()
	assert.ErrorContains(t, err, "not a pcapng file")
}

func TestTimeResolutions(t *testing.T) {
	for _, c := range []struct {
		resol uint8
		ts    uint64
		want  time.Time
	}{
		{9, 1_700_000_000_123_456_789, time.Unix(1_700_000_000, 123_456_789)},
		{6, 1_700_000_000_123_456, time.Unix(1_700_000_000, 123_456_000)},
		{0, 1_700_000_000, time.Unix(1_700_000_000, 0)},
		{12, 1_700_000_000_123_456_789, time.Unix(1_700_000, 123_456)}, // picoseconds
		{0x80 | 30, 5<<30 | 1<<29, time.Unix(5, 5e8)},                  // 2^-30 s
		{0x80 | 1, 7, time.Unix(3, 5e8)},
	} {
		ifc := Interface{TSResol: c.resol}
		assert.True(t, c.want.Equal(ifc.timeOf(c.ts)), "resol %#x: %v, want %v", c.resol, ifc.timeOf(c.ts), c.want)
	}
}

// BenchmarkWriteEPB is the per-packet cost of writing a 128-byte packet
// with its flags, as a capture does.
func BenchmarkWriteEPB(b *testing.B) {
	w := newWriter(io.Discard)
	w.shb(nil)
	w.idb(LinkTypeEthernet, 128, nil)
	data := make([]byte, 200)
	var flags [4]byte
	opts := []option{{optEPBFlags, flags[:]}}
	b.SetBytes(128)
	b.ReportAllocs()
	for i := range b.N {
		if w.epb(0, uint64(i), data, 200, opts) != nil {
			b.Fatal("write")
		}
	}
}
