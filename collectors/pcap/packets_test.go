package pcap

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Hand-made packets for the tests, with checksums computed from scratch
// (not with the incremental code under test).

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = []byte{0x02, 0, 0, 0, 0, 0x0b}
)

func csum(parts ...[]byte) uint16 {
	var s uint32
	var odd bool
	var last byte
	for _, p := range parts {
		for _, c := range p {
			if odd {
				s += uint32(last)<<8 | uint32(c)
			} else {
				last = c
			}
			odd = !odd
		}
	}
	if odd {
		s += uint32(last) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ether(dst, src []byte, et uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), src...), byte(et>>8), byte(et))
	return append(b, payload...)
}

// vlan inserts an 802.1Q tag after the MAC addresses of an Ethernet frame.
func vlan(frame []byte, id uint16) []byte {
	b := append([]byte{}, frame[:12]...)
	b = append(b, 0x81, 0x00, byte(id>>8), byte(id))
	return append(b, frame[12:]...)
}

func ipv4(src, dst netip.Addr, proto byte, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], csum(h))
	return append(h, payload...)
}

func ipv6(src, dst netip.Addr, nh byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = nh
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

// pseudo is the pseudo-header of a transport checksum.
func pseudo(src, dst netip.Addr, proto byte, n int) []byte {
	b := append(src.AsSlice(), dst.AsSlice()...)
	if src.Is4() {
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, proto)
}

func udp(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	seg := append(h, payload...)
	c := csum(pseudo(src, dst, 17, len(seg)), seg)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[6:], c)
	return seg
}

func tcp(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], 0x01020304)
	h[12] = 5 << 4
	h[13] = 0x18 // PSH, ACK
	binary.BigEndian.PutUint16(h[14:], 65535)
	seg := append(h, payload...)
	binary.BigEndian.PutUint16(seg[16:], csum(pseudo(src, dst, 6, len(seg)), seg))
	return seg
}

func icmp4(typ, code byte, rest []byte) []byte {
	b := append([]byte{typ, code, 0, 0}, rest...)
	binary.BigEndian.PutUint16(b[2:], csum(b))
	return b
}

func icmp6(src, dst netip.Addr, typ, code byte, rest []byte) []byte {
	b := append([]byte{typ, code, 0, 0}, rest...)
	binary.BigEndian.PutUint16(b[2:], csum(pseudo(src, dst, 58, len(b)), b))
	return b
}

func arp(op uint16, sha []byte, spa netip.Addr, tha []byte, tpa netip.Addr) []byte {
	b := []byte{0, 1, 0x08, 0x00, 6, 4, byte(op >> 8), byte(op)}
	b = append(b, sha...)
	b = append(b, spa.AsSlice()...)
	b = append(b, tha...)
	return append(b, tpa.AsSlice()...)
}

// l3Offset finds the IP header of an Ethernet frame, skipping VLAN tags.
func l3Offset(t *testing.T, frame []byte) (int, uint16) {
	t.Helper()
	p := 12
	et := binary.BigEndian.Uint16(frame[p:])
	for et == 0x8100 || et == 0x88a8 {
		p += 4
		et = binary.BigEndian.Uint16(frame[p:])
	}
	return p + 2, et
}

// verifyChecksums checks, from scratch, the IPv4 header checksum and the
// TCP, UDP, ICMP or ICMPv6 checksum of a complete IP packet.
func verifyChecksums(t *testing.T, pkt []byte, what string) {
	t.Helper()
	var src, dst netip.Addr
	var proto byte
	var seg []byte
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0xf) * 4
		require.Equal(t, uint16(0), csum(pkt[:ihl]), "%s: IPv4 header checksum", what)
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		proto = pkt[9]
		seg = pkt[ihl:binary.BigEndian.Uint16(pkt[2:])]
	case 6:
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		proto = pkt[6]
		seg = pkt[40 : 40+binary.BigEndian.Uint16(pkt[4:])]
	default:
		t.Fatalf("%s: not an IP packet", what)
	}
	switch proto {
	case 6, 17, 58:
		require.Equal(t, uint16(0), csum(pseudo(src, dst, proto, len(seg)), seg), "%s: checksum of protocol %d", what, proto)
	case 1:
		require.Equal(t, uint16(0), csum(seg), "%s: ICMP checksum", what)
	}
}

// tcpdumpRead checks that tcpdump reads the file without error and
// returns the first line of each packet (the one with the timestamp) and
// its whole output; without tcpdump it returns ok=false (the check is
// skipped, not the test).
func tcpdumpRead(t *testing.T, path string, args ...string) (lines []string, all string, ok bool) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Logf("tcpdump is not installed: not checking that it reads %s", path)
		return nil, "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"-r", path, "-nn"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "tcpdump -r %s: %s", path, stderr.String())
	require.NotContains(t, stderr.String(), "truncated", "tcpdump -r %s", path)
	for _, l := range strings.Split(stdout.String(), "\n") {
		if l != "" && l[0] >= '0' && l[0] <= '9' {
			lines = append(lines, l)
		}
	}
	return lines, stdout.String(), true
}
