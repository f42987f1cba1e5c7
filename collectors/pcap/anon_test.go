package pcap

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/collectors/anonymize"
)

var (
	v4A     = netip.MustParseAddr("198.18.5.1")
	v4B     = netip.MustParseAddr("198.18.5.2")
	v4C     = netip.MustParseAddr("198.18.5.3")
	v4X     = netip.MustParseAddr("198.19.7.10") // inside a VXLAN tunnel
	v4Y     = netip.MustParseAddr("198.19.7.11")
	v4Mcast = netip.MustParseAddr("224.0.0.251")
	v6A     = netip.MustParseAddr("2001:db8:1::1")
	v6B     = netip.MustParseAddr("2001:db8:2::2")
	v6LL    = netip.MustParseAddr("fe80::1")
	v6SNM   = netip.MustParseAddr("ff02::1:ff00:2") // solicited-node multicast of v6B
	v6Pfx   = netip.MustParsePrefix("2001:db8:1::/64")
	v6Seg   = netip.MustParseAddr("2001:db8:3::3") // a segment routing waypoint
)

// anonCase is one packet of the anonymization test, and what to check in
// its rewritten form.
type anonCase struct {
	name   string
	frame  []byte
	capLen int                // 0: whole frame
	addrs  map[int]netip.Addr // offset in the frame → original address there
	check  func(t *testing.T, out []byte)
	full   bool // complete IP packet at 14 (after VLAN tags): verify its checksums
}

func anonCases(a *anonymize.Anonymizer) []anonCase {
	payload := []byte("hello, world")
	udpAB := ipv4(v4A, v4B, 17, udp(v4A, v4B, 4000, 53, payload))
	quoted := udpAB[:28] // what an ICMP error quotes: header + 8 bytes
	ns := append([]byte{0, 0, 0, 0}, v6B.AsSlice()...)
	ns = append(ns, 1, 1, 2, 0, 0, 0, 0, 0x0a) // source link-layer address
	ra := []byte{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	pio := []byte{3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0}
	ra = append(append(ra, pio...), v6Pfx.Addr().AsSlice()...)
	inner := ether(macA, macB, 0x0800, ipv4(v4X, v4Y, 17, udp(v4X, v4Y, 5000, 6000, []byte("inner"))))
	vx := append([]byte{0x08, 0, 0, 0, 0, 0, 42, 0}, inner...)
	corrupt := udp(v4B, v4A, 53, 4000, payload)
	corrupt[len(corrupt)-1] ^= 0x40
	nosum := udp(v4A, v4B, 7, 7, payload)
	nosum[6], nosum[7] = 0, 0
	// Segment routing: from v6A through v6Seg (the current destination)
	// to v6B (segment 0, the final destination, which is what the UDP
	// checksum's pseudo-header holds).
	srUDP := udp(v6A, v6B, 4000, 53, payload)
	srh := []byte{17, 4, 4, 1, 1, 0, 0, 0}
	srh = append(append(append(srh, v6B.AsSlice()...), v6Seg.AsSlice()...), srUDP...)
	mcastMAC := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	snmMAC := []byte{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}
	tcpFull := ether(macA, macB, 0x0800, ipv4(v4A, v4B, 6, tcp(v4A, v4B, 40000, 80, bytes.Repeat([]byte("x"), 300))))

	anonFrame := func(t *testing.T, frame []byte) []byte {
		x := newPacketAnonymizer(a)
		f := append([]byte(nil), frame...)
		require.NoError(t, x.frame(LinkTypeEthernet, f))
		return f
	}

	return []anonCase{
		{name: "IPv4 TCP", frame: ether(macA, macB, 0x0800, ipv4(v4A, v4B, 6, tcp(v4A, v4B, 40000, 80, payload))),
			addrs: map[int]netip.Addr{26: v4A, 30: v4B}, full: true},
		{name: "802.1Q IPv4 UDP", frame: vlan(ether(macB, macA, 0x0800, ipv4(v4B, v4A, 17, udp(v4B, v4A, 53, 4000, payload))), 7),
			addrs: map[int]netip.Addr{30: v4B, 34: v4A}, full: true},
		{name: "QinQ IPv4 UDP", frame: vlan(vlan(ether(macB, macA, 0x0800, ipv4(v4B, v4A, 17, udp(v4B, v4A, 53, 4000, payload))), 7), 100),
			addrs: map[int]netip.Addr{34: v4B, 38: v4A}, full: true},
		{name: "IPv6 UDP", frame: ether(macA, macB, 0x86dd, ipv6(v6A, v6B, 17, udp(v6A, v6B, 4000, 53, payload))),
			addrs: map[int]netip.Addr{22: v6A, 38: v6B}, full: true},
		{name: "ICMPv6 echo", frame: ether(macA, macB, 0x86dd, ipv6(v6A, v6B, 58, icmp6(v6A, v6B, 128, 0, []byte{0, 1, 0, 1, 'p', 'i', 'n', 'g'}))),
			addrs: map[int]netip.Addr{22: v6A, 38: v6B}, full: true},
		{name: "IPv6 segment routing", frame: ether(macA, macB, 0x86dd, ipv6(v6A, v6Seg, 43, srh)),
			addrs: map[int]netip.Addr{22: v6A, 38: v6Seg, 54 + 8: v6B, 54 + 24: v6Seg},
			check: func(t *testing.T, out []byte) {
				seg := out[54+40:]
				assert.Equal(t, uint16(0), csum(pseudo(a.Addr(v6A), a.Addr(v6B), 17, len(seg)), seg), "UDP checksum over the final destination")
			}},
		{name: "ARP request", frame: ether([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, 0x0806, arp(1, macA, v4A, make([]byte, 6), v4B)),
			addrs: map[int]netip.Addr{28: v4A, 38: v4B}},
		{name: "ICMP port unreachable", frame: ether(macB, macA, 0x0800, ipv4(v4C, v4A, 1, icmp4(3, 3, append([]byte{0, 0, 0, 0}, quoted...)))),
			addrs: map[int]netip.Addr{26: v4C, 30: v4A, 14 + 20 + 8 + 12: v4A, 14 + 20 + 8 + 16: v4B}, full: true,
			check: func(t *testing.T, out []byte) {
				q := out[14+20+8:]
				assert.Equal(t, uint16(0), csum(q[:20]), "quoted IPv4 header checksum")
				// The quoted UDP checksum is that of the whole datagram,
				// anonymized.
				whole := anonFrame(t, ether(macA, macB, 0x0800, udpAB))
				assert.Equal(t, whole[14+20+6:14+20+8], q[20+6:20+8], "quoted UDP checksum")
			}},
		{name: "neighbour solicitation", frame: ether(snmMAC, macA, 0x86dd, ipv6(v6LL, v6SNM, 58, icmp6(v6LL, v6SNM, 135, 0, ns))),
			addrs: map[int]netip.Addr{22: v6LL, 38: v6SNM, 14 + 40 + 8: v6B}, full: true,
			check: func(t *testing.T, out []byte) {
				snm := a.Addr(v6SNM).As16()
				assert.Equal(t, append([]byte{0x33, 0x33}, snm[12:]...), out[:6], "multicast MAC follows the address")
			}},
		{name: "router advertisement", frame: ether(macA, macB, 0x86dd, ipv6(v6LL, v6A, 58, icmp6(v6LL, v6A, 134, 0, ra))),
			addrs: map[int]netip.Addr{22: v6LL, 38: v6A}, full: true,
			check: func(t *testing.T, out []byte) {
				assert.Equal(t, a.Prefix(v6Pfx).Addr().AsSlice(), out[14+40+16+16:14+40+16+32], "prefix information")
				assert.Equal(t, byte(64), out[14+40+16+2], "prefix length")
			}},
		{name: "VXLAN", frame: ether(macA, macB, 0x0800, ipv4(v4A, v4B, 17, udp(v4A, v4B, 12345, 4789, vx))),
			addrs: map[int]netip.Addr{26: v4A, 30: v4B, 50 + 14 + 12: v4X, 50 + 14 + 16: v4Y}, full: true,
			check: func(t *testing.T, out []byte) {
				verifyChecksums(t, out[50+14:], "inner packet")
			}},
		{name: "IPv4 multicast", frame: ether(mcastMAC, macA, 0x0800, ipv4(v4A, v4Mcast, 17, udp(v4A, v4Mcast, 5353, 5353, []byte("mdns")))),
			addrs: map[int]netip.Addr{26: v4A, 30: v4Mcast}, full: true,
			check: func(t *testing.T, out []byte) {
				m := a.Addr(v4Mcast).As4()
				assert.Equal(t, []byte{0x01, 0x00, 0x5e, m[1] & 0x7f, m[2], m[3]}, out[:6], "multicast MAC follows the address")
			}},
		{name: "corrupted UDP", frame: ether(macB, macA, 0x0800, ipv4(v4B, v4A, 17, corrupt)),
			addrs: map[int]netip.Addr{26: v4B, 30: v4A},
			check: func(t *testing.T, out []byte) {
				// Wrong before, wrong by the same amount after.
				before := csum(pseudo(v4B, v4A, 17, len(corrupt)), corrupt)
				seg := out[34:]
				after := csum(pseudo(a.Addr(v4B), a.Addr(v4A), 17, len(seg)), seg)
				assert.NotZero(t, before)
				assert.Equal(t, before, after)
				assert.Equal(t, uint16(0), csum(out[14:34]), "IPv4 header checksum")
			}},
		{name: "UDP without checksum", frame: ether(macA, macB, 0x0800, ipv4(v4A, v4B, 17, nosum)),
			addrs: map[int]netip.Addr{26: v4A, 30: v4B},
			check: func(t *testing.T, out []byte) {
				assert.Equal(t, []byte{0, 0}, out[14+20+6:14+20+8], "no checksum stays no checksum")
			}},
		{name: "TCP cut after its header", frame: tcpFull, capLen: 14 + 20 + 20,
			addrs: map[int]netip.Addr{26: v4A, 30: v4B},
			check: func(t *testing.T, out []byte) {
				// The same bytes as the whole packet anonymized, whose
				// checksum verifies.
				whole := anonFrame(t, tcpFull)
				verifyChecksums(t, whole[14:], "whole TCP packet")
				assert.Equal(t, whole[:14+20+20], out)
			}},
		{name: "IPv4 cut in the source address", frame: tcpFull, capLen: 14 + 12 + 2,
			check: func(t *testing.T, out []byte) {
				want := a.Addr(v4A).As4()
				assert.Equal(t, want[:2], out[26:28], "the captured part of the address, anonymized")
			}},
		{name: "IPv6 cut in the destination address", frame: ether(macA, macB, 0x86dd, ipv6(v6A, v6B, 17, udp(v6A, v6B, 1, 2, payload))), capLen: 14 + 24 + 5,
			addrs: map[int]netip.Addr{22: v6A},
			check: func(t *testing.T, out []byte) {
				want := a.Addr(v6B).As16()
				assert.Equal(t, want[:5], out[38:43])
			}},
	}
}

func TestAnonymize(t *testing.T) {
	a := anonymize.NewFromSecret([]byte("pcap test"))
	cases := anonCases(a)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pcapng"), filepath.Join(dir, "out.pcapng")

	// The input: leaky comments, options and a name resolution block
	// around the packets.
	var buf bytes.Buffer
	w := newWriter(&buf)
	require.NoError(t, w.shb([]option{{optComment, []byte("capture on host-7 (198.18.5.1)")}, {2, []byte("host-7 hardware")}}))
	require.NoError(t, w.idb(LinkTypeEthernet, 0, []option{
		{optIfName, []byte("eth0")}, {3, []byte("link to 198.18.5.2")}, {4, append(v4A.AsSlice(), 255, 255, 255, 0)}, {optIfTSResol, []byte{9}},
	}))
	require.NoError(t, w.block(blockNRB, nil, append(append([]byte{1, 0, 11, 0}, v4A.AsSlice()...), "host-a\x00\x00\x00\x00\x00\x00"...), nil))
	base := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	var flags [4]byte
	binary.LittleEndian.PutUint32(flags[:], FlagInbound)
	for i, c := range cases {
		data := c.frame
		if c.capLen > 0 {
			data = data[:c.capLen]
		}
		opts := []option{{optEPBFlags, flags[:]}, {optComment, []byte("from 198.18.5.1")}, {3, append([]byte{2}, v4A.AsSlice()...)}}
		require.NoError(t, w.epb(0, uint64(base.UnixNano())+uint64(i), data, uint32(len(c.frame)), opts))
	}
	require.NoError(t, w.block(blockISB, make([]byte, 12), nil, []option{{optComment, []byte("198.18.5.1")}, {optISBIfDrop, make([]byte, 8)}}))
	require.NoError(t, w.flush())
	require.NoError(t, os.WriteFile(in, buf.Bytes(), 0o644))

	var anon bytes.Buffer
	require.NoError(t, Anonymize(bytes.NewReader(buf.Bytes()), &anon, a))
	require.NoError(t, os.WriteFile(out, anon.Bytes(), 0o644))
	raw := anon.Bytes()

	// No original address anywhere, in binary or as text; no names.
	for _, addr := range []netip.Addr{v4A, v4B, v4C, v4X, v4Y, v4Mcast, v6A, v6B, v6LL, v6SNM, v6Pfx.Addr(), v6Seg} {
		assert.False(t, bytes.Contains(raw, addr.AsSlice()), "%v is still in the output", addr)
		assert.True(t, bytes.Contains(raw, a.Addr(addr).AsSlice()) || addr == v6Pfx.Addr(), "%v's image is not in the output", addr)
	}
	for _, s := range []string{"198.18.5", "host-", "link to"} {
		assert.NotContains(t, string(raw), s)
	}

	pkts, ifaces, err := ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, []Interface{{LinkType: LinkTypeEthernet, Name: "eth0", TSResol: 9}}, ifaces)
	require.Len(t, pkts, len(cases))
	for i, c := range cases {
		p := pkts[i]
		t.Run(c.name, func(t *testing.T) {
			assert.True(t, base.Add(time.Duration(i)).Equal(p.Time))
			assert.Equal(t, uint32(FlagInbound), p.Flags)
			assert.Equal(t, len(c.frame), p.OrigLen)
			want := c.frame
			if c.capLen > 0 {
				want = want[:c.capLen]
			}
			require.Len(t, p.Data, len(want))
			for off, addr := range c.addrs {
				img := a.Addr(addr).AsSlice()
				assert.Equal(t, img, p.Data[off:off+len(img)], "%v at %d", addr, off)
			}
			if c.full {
				off, _ := l3Offset(t, p.Data)
				verifyChecksums(t, p.Data[off:], c.name)
			}
			if c.check != nil {
				c.check(t, p.Data)
			}
		})
	}

	// Anonymizing is deterministic.
	var again bytes.Buffer
	require.NoError(t, Anonymize(bytes.NewReader(buf.Bytes()), &again, a))
	assert.Equal(t, raw, again.Bytes())

	// tcpdump reads it, and finds exactly the one bad checksum that the
	// input had.
	if lines, all, ok := tcpdumpRead(t, out, "-vv"); ok {
		_, inAll, _ := tcpdumpRead(t, in, "-vv")
		assert.Len(t, lines, len(cases))
		assert.Equal(t, 1, strings.Count(inAll, "bad udp cksum"), "input:\n%s", inAll)
		assert.Equal(t, 1, strings.Count(all, "bad udp cksum"), "output:\n%s", all)
		assert.Equal(t, 1, strings.Count(all, "bad"), "output:\n%s", all)
		assert.Equal(t, strings.Count(inAll, "sum ok"), strings.Count(all, "sum ok"), "output:\n%s", all)
	}
}

func TestAnonymizeBigEndianAndErrors(t *testing.T) {
	a := anonymize.NewFromSecret([]byte("pcap test"))
	var out bytes.Buffer
	require.NoError(t, Anonymize(bytes.NewReader(bigEndianFile()), &out, a))
	r := NewReader(bytes.NewReader(out.Bytes()))
	p, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, uint32(FlagOutbound), p.Flags, "an integer option turned little-endian")
	assert.True(t, p.Time.Equal(time.Unix(101, 5e8)), "time %v", p.Time)
	assert.Equal(t, int64(100), r.Interfaces()[0].TSOffset)
	p, err = r.Next()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4, 5}, p.Data, "simple packet block kept")

	// A link type whose addresses cannot be found is refused.
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.shb(nil)
	w.idb(147, 0, nil) // LINKTYPE_USER0
	w.epb(0, 0, []byte{198, 18, 5, 1}, 4, nil)
	w.flush()
	err = Anonymize(bytes.NewReader(buf.Bytes()), &out, a)
	assert.ErrorContains(t, err, "link type 147")

	assert.Error(t, Anonymize(strings.NewReader("not pcapng"), &out, a))
}

// BenchmarkAnonymize anonymizes a file of the test's packets, a few
// addresses many times over (as in a capture, where the cache hits).
func BenchmarkAnonymize(b *testing.B) {
	a := anonymize.NewFromSecret([]byte("bench"))
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.shb(nil)
	w.idb(LinkTypeEthernet, 0, nil)
	n := 0
	for range 100 {
		for _, c := range anonCases(a) {
			w.epb(0, 0, c.frame, uint32(len(c.frame)), nil)
			n++
		}
	}
	w.flush()
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		if err := Anonymize(bytes.NewReader(in), io.Discard, a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "packets/s")
}
