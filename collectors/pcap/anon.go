package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/tbctl/tbctl/collectors/anonymize"
)

// Anonymize copies the pcapng stream in to out with every IPv4 and IPv6
// address in its packets replaced by its prefix-preserving Crypto-PAn image
// under a (a.Addr; a.Prefix for the prefixes of router advertisements),
// so that a capture can be shared and still be joined with other data
// anonymized under the same key. The output is pcapng, little-endian. On
// an error, out holds part of a file and must be thrown away.
//
// Addresses are rewritten in Ethernet (with any number of 802.1Q/802.1ad
// tags), Linux cooked (v1 and v2) and raw IP frames; in IPv4 headers and
// their route-recording options; in IPv6 headers, their routing headers
// (types 0, 2 and segment routing; the addresses of other types are
// blanked) and home-address options; in ARP and
// RARP over IPv4; in ICMP errors and redirects (the quoted packet
// inside), ICMP router advertisements, ICMPv6 errors, neighbour discovery
// (targets, redirects, prefix, route and DNS server options) and MLD; and,
// recursively, in packets carried by IP-in-IP, GRE, MPLS, VXLAN (UDP port
// 4789) and Geneve (UDP port 6081). An address the capture holds only part
// of (the snap length cut it) is rewritten as far as it goes, which
// Crypto-PAn allows because it is prefix-preserving. The low bits of a
// multicast address that Ethernet copies into the destination MAC
// (01:00:5e:..., 33:33:...) are made to match the anonymized address.
//
// Checksums that cover rewritten bytes (IPv4 headers, TCP, UDP, UDP-Lite,
// DCCP, ICMP, ICMPv6, GRE) are updated incrementally (RFC 1624), which
// needs only the checksum field and the bytes that changed: a correct
// checksum stays correct even when the capture holds only the start of the
// packet, and a wrong one (a corrupted packet, or an outgoing one whose
// checksum was left to the NIC) stays wrong by the same amount. A UDP
// checksum of 0 (none) stays 0.
//
// What is not rewritten: unicast MAC addresses (in frames, ARP and
// neighbour discovery options), and addresses or names inside application
// payloads (DNS, DHCP, HTTP, ...), which are kept as captured; a small
// snap length is the way to keep them out. Interface names are kept. An
// Ethernet frame check sequence, in the rare captures that keep one
// (if_fcslen), is not recomputed.
//
// Everything that might carry addresses or names outside the packets is
// dropped: comments and custom options everywhere, the section header's
// hardware, OS and application options, interface descriptions, filters
// and addresses, packet hashes (which would let anyone check a guess of
// the original packet), Name Resolution, Decryption Secrets, custom and
// every other unknown block. Kept are interface names, link types, snap
// lengths, timestamp resolutions and offsets, packet flags, drop counts,
// packet IDs and queues, and the counters of Interface Statistics Blocks.
// A packet on an interface of a link type not listed above is an error:
// its addresses could not be found.
func Anonymize(in io.Reader, out io.Writer, a *anonymize.Anonymizer) error {
	if a == nil {
		return errors.New("pcap: Anonymize needs an anonymizer")
	}
	br := newBlockReader(in)
	w := newWriter(out)
	x := newPacketAnonymizer(a)
	var section []ifaceState
	var fixed [20]byte
	var opts []option
	le := binary.LittleEndian
	for {
		typ, body, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		order := br.order
		switch typ {
		case blockSHB:
			if len(body) < 16 {
				return errors.New("pcapng: short section header block")
			}
			if major := order.Uint16(body[4:]); major != 1 {
				return fmt.Errorf("pcapng: unsupported major version %d", major)
			}
			section = section[:0]
			if err := w.shb(nil); err != nil {
				return err
			}
		case blockIDB:
			ifc, in, err := readIDB(body, order)
			if err != nil {
				return err
			}
			section = append(section, ifaceState{len(section), ifc})
			opts = keepOptions(opts[:0], in, order, idbKeep)
			if err := w.idb(ifc.LinkType, ifc.SnapLen, opts); err != nil {
				return err
			}
		case blockEPB, blockPB, blockSPB:
			p, err := parsePacket(section, typ, body, order)
			if err != nil {
				return err
			}
			lt := section[p.ifID].LinkType
			if err := x.frame(lt, p.data); err != nil {
				return fmt.Errorf("pcap: interface %d: %w", p.ifID, err)
			}
			if typ == blockSPB {
				le.PutUint32(fixed[:], p.origLen)
				err = w.block(blockSPB, fixed[:4], p.data, nil)
			} else {
				opts = keepOptions(opts[:0], p.opts, order, epbKeep)
				err = w.epb(p.ifID, p.ts, p.data, p.origLen, opts)
			}
			if err != nil {
				return err
			}
		case blockISB:
			if len(body) < 12 {
				return errors.New("pcapng: short interface statistics block")
			}
			le.PutUint32(fixed[0:], order.Uint32(body[0:]))
			le.PutUint32(fixed[4:], order.Uint32(body[4:]))
			le.PutUint32(fixed[8:], order.Uint32(body[8:]))
			in, err := parseOptions(body[12:], order)
			if err != nil {
				return err
			}
			opts = keepOptions(opts[:0], in, order, isbKeep)
			if err := w.block(blockISB, fixed[:12], nil, opts); err != nil {
				return err
			}
		}
	}
	return w.flush()
}

// The options Anonymize keeps, by block, with the width of the integers
// in their values (to turn big-endian input into little-endian output); 0
// for bytes and strings.
var (
	idbKeep = map[uint16]int{optIfName: 0, optIfTSResol: 0, optIfFCSLen: 0, optIfTSOffset: 8}
	epbKeep = map[uint16]int{optEPBFlags: 4, optEPBDropCount: 8, optEPBPacketID: 8, optEPBQueue: 4}
	isbKeep = map[uint16]int{
		optISBStartTime: 4, optISBEndTime: 4, optISBIfRecv: 8, optISBIfDrop: 8,
		optISBFilterAcc: 8, optISBOSDrop: 8, optISBUsrDeliv: 8,
	}
)

// keepOptions appends to dst the options of in that keep lists, in
// little-endian.
func keepOptions(dst, in []option, order binary.ByteOrder, keep map[uint16]int) []option {
	for _, o := range in {
		width, ok := keep[o.code]
		if !ok {
			continue
		}
		if width > 0 && order == binary.BigEndian {
			if len(o.value)%width != 0 {
				continue
			}
			v := make([]byte, len(o.value))
			for i := 0; i < len(v); i += width {
				for j := range width {
					v[i+j] = o.value[i+width-1-j]
				}
			}
			o.value = v
		}
		dst = append(dst, o)
	}
	return dst
}

// packetAnonymizer rewrites the addresses of one frame at a time, in
// place.
type packetAnonymizer struct {
	a       *anonymize.Anonymizer
	cache4  map[[4]byte][4]byte
	cache16 map[[16]byte][16]byte
	old     []byte  // the frame as it was
	sums    []cksum // checksums covering rewritten bytes, outermost first
}

// cksum is a checksum to update: the offset of its 16-bit field in the
// frame and the byte ranges of the frame it covers (a pseudo-header's
// addresses, the segment). Ranges must start at an even offset of the
// checksummed data, which all of them do.
type cksum struct {
	field  int
	n      int
	ranges [3][2]int
	udp    bool // 0 means "no checksum"
}

// cacheMax bounds the address caches; they are emptied when full.
const cacheMax = 1 << 16

// maxDepth bounds how deep packets nest (tunnels, quoted packets).
const maxDepth = 6

func newPacketAnonymizer(a *anonymize.Anonymizer) *packetAnonymizer {
	return &packetAnonymizer{a: a, cache4: map[[4]byte][4]byte{}, cache16: map[[16]byte][16]byte{}}
}

// frame rewrites one captured frame of the given link type in place.
func (x *packetAnonymizer) frame(linkType uint16, d []byte) error {
	x.old = append(x.old[:0], d...)
	x.sums = x.sums[:0]
	end := len(d)
	switch linkType {
	case LinkTypeEthernet:
		x.ether(d, 0, end, 0)
	case LinkTypeRaw:
		x.ip(d, 0, end, 0)
	case LinkTypeIPv4:
		x.ipv4(d, 0, end, 0)
	case LinkTypeIPv6:
		x.ipv6(d, 0, end, 0)
	case LinkTypeLinuxSLL:
		if end >= 16 {
			x.l3(d, 16, end, be16(d[14:]), -1, 0)
		}
	case LinkTypeSLL2:
		if end >= 20 {
			x.l3(d, 20, end, be16(d[0:]), -1, 0)
		}
	default:
		return fmt.Errorf("cannot anonymize link type %d", linkType)
	}
	// Inner checksums first: outer ones cover them.
	for i := len(x.sums) - 1; i >= 0; i-- {
		x.fix(d, &x.sums[i])
	}
	return nil
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// addSum records a checksum at field, which must lie before end, covering
// the given ranges, each clipped to the frame's end.
func (x *packetAnonymizer) addSum(d []byte, end, field int, udp bool, ranges ...[2]int) {
	if field+2 > end {
		return
	}
	c := cksum{field: field, udp: udp}
	for _, r := range ranges {
		r[1] = min(r[1], len(d))
		if r[0] < r[1] && c.n < len(c.ranges) {
			c.ranges[c.n] = r
			c.n++
		}
	}
	x.sums = append(x.sums, c)
}

// fix updates a checksum for the changes in the bytes it covers, by
// equation 3 of RFC 1624: HC' = ~(~HC + ~m + m').
func (x *packetAnonymizer) fix(d []byte, c *cksum) {
	hc := be16(d[c.field:])
	if c.udp && hc == 0 {
		return
	}
	var m, m2 uint64
	for _, r := range c.ranges[:c.n] {
		m += sum16(x.old[r[0]:r[1]])
		m2 += sum16(d[r[0]:r[1]])
	}
	if fold(m) == fold(m2) {
		return
	}
	s := uint64(^hc) + uint64(^fold(m)) + uint64(fold(m2))
	n := ^fold(s)
	if c.udp && n == 0 {
		n = 0xffff
	}
	binary.BigEndian.PutUint16(d[c.field:], n)
}

// sum16 adds up b as big-endian 16-bit words, an odd last byte padded
// with zero.
func sum16(b []byte) uint64 {
	var s uint64
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold reduces a sum to 16 bits in ones' complement.
func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// addr4 rewrites the IPv4 address at d[off:], or as much of it as lies
// before end: Crypto-PAn's first k output bits depend only on the first k
// input bits.
func (x *packetAnonymizer) addr4(d []byte, off, end int) {
	n := min(4, end-off)
	if n <= 0 {
		return
	}
	var in [4]byte
	copy(in[:], d[off:off+n])
	out, ok := x.cache4[in]
	if !ok {
		out = x.a.Addr(netip.AddrFrom4(in)).As4()
		if len(x.cache4) >= cacheMax {
			clear(x.cache4)
		}
		x.cache4[in] = out
	}
	copy(d[off:off+n], out[:n])
}

// addr16 is addr4 for an IPv6 address.
func (x *packetAnonymizer) addr16(d []byte, off, end int) {
	n := min(16, end-off)
	if n <= 0 {
		return
	}
	var in [16]byte
	copy(in[:], d[off:off+n])
	out, ok := x.cache16[in]
	if !ok {
		out = x.a.Addr(netip.AddrFrom16(in)).As16()
		if len(x.cache16) >= cacheMax {
			clear(x.cache16)
		}
		x.cache16[in] = out
	}
	copy(d[off:off+n], out[:n])
}

// prefix16 rewrites an IPv6 prefix of the given length stored in the n
// bytes at d[off:] (a prefix option may store only its first bytes), as
// a.Prefix does.
func (x *packetAnonymizer) prefix16(d []byte, off, n int, bits byte) {
	var in [16]byte
	copy(in[:], d[off:off+n])
	p := netip.PrefixFrom(netip.AddrFrom16(in), int(min(bits, 128)))
	out := x.a.Prefix(p).Addr().As16()
	copy(d[off:off+n], out[:n])
}

// ether handles an Ethernet frame at d[off:end].
func (x *packetAnonymizer) ether(d []byte, off, end, depth int) {
	if depth > maxDepth || off+14 > end {
		return
	}
	et := be16(d[off+12:])
	p := off + 14
	for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
		if p+4 > end {
			return
		}
		et = be16(d[p+2:])
		p += 4
	}
	x.l3(d, p, end, et, off, depth)
}

// l3 handles a network-layer packet of EtherType et at d[off:end]; mac is
// the offset of the destination MAC address of its Ethernet header, or -1.
func (x *packetAnonymizer) l3(d []byte, off, end int, et uint16, mac, depth int) {
	switch et {
	case 0x0800:
		x.ipv4(d, off, end, depth)
		if mac >= 0 && d[mac] == 0x01 && d[mac+1] == 0x00 && d[mac+2] == 0x5e {
			// 01:00:5e + the low 23 bits of an IPv4 multicast address.
			if off+20 <= end {
				d[mac+3], d[mac+4], d[mac+5] = d[off+17]&0x7f, d[off+18], d[off+19]
			} else {
				d[mac+3], d[mac+4], d[mac+5] = 0, 0, 0
			}
		}
	case 0x86dd:
		x.ipv6(d, off, end, depth)
		if mac >= 0 && d[mac] == 0x33 && d[mac+1] == 0x33 {
			// 33:33 + the low 32 bits of an IPv6 multicast address.
			if off+40 <= end {
				copy(d[mac+2:mac+6], d[off+36:off+40])
			} else {
				clear(d[mac+2 : mac+6])
			}
		}
	case 0x0806, 0x8035: // ARP, RARP
		x.arp(d, off, end)
	case 0x8847, 0x8848: // MPLS: skip the label stack
		for p := off; p+4 <= end; p += 4 {
			if d[p+2]&1 != 0 { // bottom of stack
				x.ip(d, p+4, end, depth+1)
				return
			}
		}
	}
}

// arp handles an ARP or RARP packet; only IPv4 protocol addresses are
// addresses to rewrite.
func (x *packetAnonymizer) arp(d []byte, off, end int) {
	if off+8 > end || be16(d[off+2:]) != 0x0800 || d[off+5] != 4 {
		return
	}
	hlen := int(d[off+4])
	spa := off + 8 + hlen
	tpa := spa + 4 + hlen
	x.addr4(d, spa, end)
	x.addr4(d, tpa, end)
}

// ip handles an IPv4 or IPv6 packet, by its version.
func (x *packetAnonymizer) ip(d []byte, off, end, depth int) {
	if off >= end {
		return
	}
	switch d[off] >> 4 {
	case 4:
		x.ipv4(d, off, end, depth)
	case 6:
		x.ipv6(d, off, end, depth)
	}
}

// ipv4 handles an IPv4 packet at d[off:end].
func (x *packetAnonymizer) ipv4(d []byte, off, end, depth int) {
	if depth > maxDepth || off >= end || d[off]>>4 != 4 {
		return
	}
	x.addr4(d, off+12, end)
	x.addr4(d, off+16, end)
	ihl := int(d[off]&0x0f) * 4
	if ihl < 20 || off+20 > end {
		return
	}
	hdrEnd := off + ihl
	x.addSum(d, end, off+10, false, [2]int{off, min(hdrEnd, end)})
	x.ipv4Options(d, off+20, min(hdrEnd, end))
	if hdrEnd > end {
		return
	}
	if total := int(be16(d[off+2:])); total >= ihl {
		end = min(end, off+total) // leave out Ethernet padding
	}
	if be16(d[off+6:])&0x1fff != 0 {
		return // a later fragment: no transport header
	}
	x.transport(d, hdrEnd, end, d[off+9], false, depth, [2]int{off + 12, off + 20})
}

// ipv4Options rewrites the addresses recorded in IPv4 options.
func (x *packetAnonymizer) ipv4Options(d []byte, p, end int) {
	for p < end {
		t := d[p]
		if t == 0 { // end of options
			return
		}
		if t == 1 { // no-op
			p++
			continue
		}
		if p+2 > end {
			return
		}
		l := int(d[p+1])
		if l < 2 || p+l > end {
			return
		}
		switch t {
		case 7, 131, 137: // record route, loose and strict source route
			for a := p + 3; a+4 <= p+l; a += 4 {
				x.addr4(d, a, end)
			}
		case 68: // timestamp, with addresses when the flag is 1 or 3
			if l >= 4 {
				if flg := d[p+3] & 0x0f; flg == 1 || flg == 3 {
					for a := p + 4; a+8 <= p+l; a += 8 {
						x.addr4(d, a, end)
					}
				}
			}
		}
		p += l
	}
}

// ipv6 handles an IPv6 packet at d[off:end] with its extension headers.
func (x *packetAnonymizer) ipv6(d []byte, off, end, depth int) {
	if depth > maxDepth || off >= end || d[off]>>4 != 6 {
		return
	}
	x.addr16(d, off+8, end)
	x.addr16(d, off+24, end)
	if off+40 > end {
		return
	}
	if plen := int(be16(d[off+4:])); plen != 0 {
		end = min(end, off+40+plen)
	}
	src, dst := [2]int{off + 8, off + 24}, [2]int{off + 24, off + 40}
	nh := d[off+6]
	p := off + 40
	for range 16 {
		switch nh {
		case 0, 60: // hop-by-hop and destination options
			if p+2 > end {
				return
			}
			l := (int(d[p+1]) + 1) * 8
			if hao := x.ipv6Options(d, p+2, min(p+l, end)); hao >= 0 {
				src = [2]int{hao, hao + 16} // the upper layer sees the home address
			}
			nh, p = d[p], p+l
			continue
		case 43: // routing
			if p+8 > end {
				return
			}
			l := (int(d[p+1]) + 1) * 8
			rend := min(p+l, end)
			left := d[p+3]
			switch d[p+2] {
			case 0, 2, 4: // source route, mobile IPv6, segment routing
				n := int(d[p+1]) / 2
				if d[p+2] == 4 {
					n = int(d[p+4]) + 1 // last entry + 1
				}
				for i := range n {
					if a := p + 8 + 16*i; a+16 <= p+l {
						x.addr16(d, a, rend)
					}
				}
				if left > 0 && n > 0 {
					last := p + 8 + 16*(n-1) // the final destination
					if d[p+2] == 4 {
						last = p + 8
					}
					if last+16 <= p+l {
						dst = [2]int{last, last + 16}
					}
				}
			default: // unknown layout: blank it rather than leak
				clear(d[min(p+8, rend):rend])
			}
			nh, p = d[p], p+l
			continue
		case 44: // fragment
			if p+8 > end {
				return
			}
			if be16(d[p+2:])>>3 != 0 {
				return // a later fragment: no transport header
			}
			nh, p = d[p], p+8
			continue
		case 51: // authentication header
			if p+2 > end {
				return
			}
			nh, p = d[p], p+(int(d[p+1])+2)*4
			continue
		}
		break
	}
	x.transport(d, p, end, nh, true, depth, src, dst)
}

// ipv6Options rewrites a home address option among the options in
// d[p:end] and returns its offset, or -1.
func (x *packetAnonymizer) ipv6Options(d []byte, p, end int) int {
	hao := -1
	for p < end {
		t := d[p]
		if t == 0 { // Pad1
			p++
			continue
		}
		if p+2 > end {
			break
		}
		l := int(d[p+1])
		if t == 0xc9 && l == 16 { // home address
			x.addr16(d, p+2, end)
			if p+18 <= end {
				hao = p + 2
			}
		}
		p += 2 + l
	}
	return hao
}

// transport handles what an IP header carries: the checksums whose
// pseudo-header holds the addresses, and the addresses inside ICMP,
// tunnels and encapsulations. pseudo are the ranges of the source and
// destination addresses.
func (x *packetAnonymizer) transport(d []byte, off, end int, proto byte, v6 bool, depth int, pseudo ...[2]int) {
	if off > end {
		return
	}
	seg := [2]int{off, end}
	ranges := append(pseudo, seg)
	switch proto {
	case 6: // TCP
		x.addSum(d, end, off+16, false, ranges...)
	case 17: // UDP
		x.addSum(d, end, off+6, true, ranges...)
		if off+8 <= end {
			x.udpPayload(d, off, end, depth)
		}
	case 33, 136: // DCCP, UDP-Lite
		x.addSum(d, end, off+6, false, ranges...)
	case 1:
		if !v6 {
			x.icmp4(d, off, end, depth)
		}
	case 58:
		if v6 {
			x.addSum(d, end, off+2, false, ranges...)
			x.icmp6(d, off, end, depth)
		}
	case 4: // IPv4 in IP
		x.ipv4(d, off, end, depth+1)
	case 41: // IPv6 in IP
		x.ipv6(d, off, end, depth+1)
	case 47:
		x.gre(d, off, end, depth+1)
	}
}

// udpPayload looks into the tunnels UDP carries: VXLAN and Geneve.
func (x *packetAnonymizer) udpPayload(d []byte, off, end, depth int) {
	p := off + 8
	switch be16(d[off+2:]) {
	case 4789: // VXLAN
		if p+8 <= end && d[p]&0x08 != 0 {
			x.ether(d, p+8, end, depth+1)
		}
	case 6081: // Geneve
		if p+8 <= end && d[p]>>6 == 0 {
			inner := p + 8 + int(d[p]&0x3f)*4
			if et := be16(d[p+2:]); et == 0x6558 {
				x.ether(d, inner, end, depth+1)
			} else {
				x.l3(d, inner, end, et, -1, depth+1)
			}
		}
	}
}

// gre handles a GRE (version 0) packet.
func (x *packetAnonymizer) gre(d []byte, off, end, depth int) {
	if depth > maxDepth || off+4 > end {
		return
	}
	flags, et := be16(d[off:]), be16(d[off+2:])
	if flags&0x4007 != 0 { // routing present, or not version 0
		return
	}
	p := off + 4
	if flags&0x8000 != 0 {
		x.addSum(d, end, off+4, false, [2]int{off, end})
		p += 4
	}
	if flags&0x2000 != 0 {
		p += 4
	}
	if flags&0x1000 != 0 {
		p += 4
	}
	if et == 0x6558 { // transparent Ethernet bridging
		x.ether(d, p, end, depth)
	} else {
		x.l3(d, p, end, et, -1, depth)
	}
}

// icmp4 handles an ICMP message at d[off:end].
func (x *packetAnonymizer) icmp4(d []byte, off, end, depth int) {
	if off+4 > end {
		return
	}
	x.addSum(d, end, off+2, false, [2]int{off, end})
	switch d[off] {
	case 3, 4, 11, 12: // destination unreachable, source quench, time exceeded, parameter problem
		if off+8 > end {
			return
		}
		qend := end
		if n := int(d[off+5]); n != 0 && d[off] != 4 {
			// RFC 4884: the quoted packet is n words long; extensions
			// (such as MPLS label stacks) follow it.
			qend = min(end, off+8+4*n)
		}
		x.ipv4(d, off+8, qend, depth+1)
	case 5: // redirect: the gateway, then the quoted packet
		x.addr4(d, off+4, end)
		x.ipv4(d, off+8, end, depth+1)
	case 9: // router advertisement
		if off+8 > end {
			return
		}
		n, size := int(d[off+4]), int(d[off+5])*4
		if size < 4 {
			return
		}
		for i := range n {
			x.addr4(d, off+8+i*size, end)
		}
	}
}

// icmp6 handles an ICMPv6 message at d[off:end]; its checksum is recorded
// by the caller.
func (x *packetAnonymizer) icmp6(d []byte, off, end, depth int) {
	if off+4 > end {
		return
	}
	switch d[off] {
	case 1, 2, 3, 4: // errors quote the packet
		if off+8 > end {
			return
		}
		qend := end
		if n := int(d[off+4]); n != 0 && (d[off] == 1 || d[off] == 3) {
			qend = min(end, off+8+8*n) // RFC 4884: n 64-bit words
		}
		x.ipv6(d, off+8, qend, depth+1)
	case 130, 131, 132: // MLD query, report, done
		x.addr16(d, off+8, end)
		if d[off] == 130 && off+28 <= end { // MLDv2 query: sources
			for i := range int(be16(d[off+26:])) {
				x.addr16(d, off+28+16*i, end)
			}
		}
	case 143: // MLDv2 report
		if off+8 > end {
			return
		}
		p := off + 8
		for range int(be16(d[off+6:])) {
			if p+20 > end {
				return
			}
			aux, nsrc := int(d[p+1])*4, int(be16(d[p+2:]))
			x.addr16(d, p+4, end)
			for i := range nsrc {
				x.addr16(d, p+20+16*i, end)
			}
			p += 20 + 16*nsrc + aux
		}
	case 133: // router solicitation
		x.ndOptions(d, off+8, end, depth)
	case 134: // router advertisement
		x.ndOptions(d, off+16, end, depth)
	case 135, 136: // neighbour solicitation, advertisement
		x.addr16(d, off+8, end)
		x.ndOptions(d, off+24, end, depth)
	case 137: // redirect: target, destination
		x.addr16(d, off+8, end)
		x.addr16(d, off+24, end)
		x.ndOptions(d, off+40, end, depth)
	}
}

// ndOptions rewrites the addresses in neighbour discovery options.
func (x *packetAnonymizer) ndOptions(d []byte, p, end, depth int) {
	for p+2 <= end {
		l := int(d[p+1]) * 8
		if l == 0 {
			return
		}
		oend := min(p+l, end)
		switch d[p] {
		case 3: // prefix information
			if l == 32 && p+32 <= end {
				x.prefix16(d, p+16, 16, d[p+2])
			} else {
				clear(d[min(p+16, oend):oend])
			}
		case 4: // redirected header: the quoted packet
			x.ipv6(d, p+8, oend, depth+1)
		case 24: // route information: a prefix of 0, 8 or 16 bytes
			if p+l <= end && l > 8 {
				x.prefix16(d, p+8, min(l-8, 16), d[p+2])
			} else {
				clear(d[min(p+8, oend):oend])
			}
		case 25: // recursive DNS servers
			for a := p + 8; a+16 <= p+l; a += 16 {
				x.addr16(d, a, end)
			}
		}
		p += l
	}
}
