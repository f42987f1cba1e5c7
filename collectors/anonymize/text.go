package anonymize

import (
	"net/netip"
	"strings"
)

// Text returns s with every IPv4 and IPv6 address in it replaced by its
// anonymized form ([Anonymizer.Addr]); everything else is kept byte for
// byte. It is meant for logs, JSON lines, YAML and similar free text.
//
// What counts as an address:
//
//   - IPv4: four dot-separated decimal octets, each 0-255 (leading zeros
//     are read as decimal), not glued to a letter, digit or underscore and
//     not part of a longer dotted run: "1.2.3" and "v1.2.3.4" and
//     "1.2.3.4.5" are left alone, "10.0.0.1:8080", "src=10.0.0.1," and
//     "10.0.0.1." at the end of a sentence are rewritten. Any dotted quad
//     is rewritten, including one that was meant as a version or netmask:
//     the text carries no way to tell them apart, and a leaked address is
//     the worse mistake.
//   - IPv6: a token of hex digits, colons and (for an embedded IPv4 tail)
//     dots, with at least two colons, delimited on both sides, that parses
//     as an IPv6 address: "2001:db8::1", "fe80::1%eth0" (the zone is
//     dropped), "::ffff:10.0.0.1" (keeps its mapped form), "[::1]:443".
//     Hex words ("deadbeef", "ab:cd"), MAC addresses ("aa:bb:cc:dd:ee:ff",
//     which are not IP addresses), times ("12:34:56") and scope operators
//     ("std::string") do not parse or are not delimited, and are left
//     alone. The bare unspecified address "::" (and "::/0") is recognised
//     but left as it is: it identifies nobody, and "::" is far more often
//     punctuation than an address.
//   - Either may carry a prefix length, "10.1.0.0/16" or "2001:db8::/32",
//     which is rewritten as by [Anonymizer.Prefix].
func (a *Anonymizer) Text(s string) string {
	var b strings.Builder
	last := 0 // s[last:i] is still to be copied
	for i := 0; i < len(s); {
		end, repl, ok := a.matchAt(s, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last, i = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// matchAt reports whether an address starts at s[i], and if so where it
// ends and what replaces it.
func (a *Anonymizer) matchAt(s string, i int) (end int, repl string, ok bool) {
	c := s[i]
	if !isHex(c) && c != ':' {
		return 0, "", false
	}
	if v6Start(s, i) {
		if ip, e, ok := scan6(s, i); ok {
			return a.finish(s, ip, e)
		}
	}
	if isDigit(c) && v4Start(s, i) {
		if ip, e, ok := scan4(s, i); ok {
			return a.finish(s, ip, e)
		}
	}
	return 0, "", false
}

// finish takes an address found ending at s[e], picks up a zone (IPv6) and
// a prefix length after it, and builds the replacement.
func (a *Anonymizer) finish(s string, ip netip.Addr, e int) (int, string, bool) {
	if ip.Is6() && e < len(s) && s[e] == '%' {
		z := e + 1
		for z < len(s) && isZoneChar(s[z]) {
			z++
		}
		for z > e+1 && s[z-1] == '.' {
			z-- // a full stop after the zone is punctuation
		}
		if z > e+1 {
			e = z
		}
	}
	bits, pe := prefixLen(s, e, ip.BitLen())
	if ip == netip.IPv6Unspecified() {
		// "::" and "::/n": identifies nobody, and mostly punctuation.
		return 0, "", false
	}
	if bits >= 0 {
		p := a.Prefix(netip.PrefixFrom(ip, bits))
		return pe, p.String(), true
	}
	return e, a.Addr(ip).String(), true
}

// prefixLen reads "/n" at s[i:] with 0 <= n <= max, delimited after. It
// returns -1 when there is none.
func prefixLen(s string, i, max int) (bits, end int) {
	if i >= len(s) || s[i] != '/' {
		return -1, i
	}
	j := i + 1
	n := 0
	for j < len(s) && isDigit(s[j]) && j-i <= 3 {
		n = n*10 + int(s[j]-'0')
		j++
	}
	if j == i+1 || n > max || (j < len(s) && (isWord(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
		return -1, i
	}
	if j-(i+1) > 1 && s[i+1] == '0' {
		return -1, i
	}
	return n, j
}

// v4Start: an IPv4 address may start at s[i] unless it is glued to a word
// before it or continues a dotted run of numbers ("1.2.3.4.5", "v1.2.3.4").
func v4Start(s string, i int) bool {
	if i == 0 {
		return true
	}
	p := s[i-1]
	if isWord(p) {
		return false
	}
	if p == '.' && i >= 2 && isDigit(s[i-2]) {
		return false
	}
	return true
}

// v6Start: an IPv6 address may start at s[i] unless it is glued to a word,
// a dotted run or another colon group before it.
func v6Start(s string, i int) bool {
	if s[i] == ':' && (i+1 >= len(s) || s[i+1] != ':') {
		return false
	}
	if i == 0 {
		return true
	}
	p := s[i-1]
	return !isWord(p) && p != '.' && p != ':'
}

// scan4 reads a dotted quad at s[i:] and checks that it is delimited.
func scan4(s string, i int) (netip.Addr, int, bool) {
	var b [4]byte
	j := i
	for k := range 4 {
		if k > 0 {
			if j >= len(s) || s[j] != '.' {
				return netip.Addr{}, 0, false
			}
			j++
		}
		n, d := 0, 0
		for j < len(s) && isDigit(s[j]) && d < 3 {
			n = n*10 + int(s[j]-'0')
			j++
			d++
		}
		if d == 0 || n > 255 {
			return netip.Addr{}, 0, false
		}
		b[k] = byte(n)
	}
	if j < len(s) {
		c := s[j]
		if isWord(c) {
			return netip.Addr{}, 0, false // 1.2.3.4567, 1.2.3.4x
		}
		if c == '.' && j+1 < len(s) && isDigit(s[j+1]) {
			return netip.Addr{}, 0, false // 1.2.3.4.5
		}
	}
	return netip.AddrFrom4(b), j, true
}

// scan6 reads the longest run of hex digits, colons and dots at s[i:] and
// checks that it (less trailing '.' or ':' punctuation) is a delimited IPv6
// address with at least two colons.
func scan6(s string, i int) (netip.Addr, int, bool) {
	j := i
	for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
		j++
	}
	if j < len(s) && isWord(s[j]) {
		return netip.Addr{}, 0, false // 2001:db8::1g, dead::beefy
	}
	for e := j; e > i; e-- {
		tok := s[i:e]
		if e < j && s[e] != '.' && s[e] != ':' {
			break // only trailing punctuation may be dropped
		}
		if strings.Count(tok, ":") < 2 {
			break
		}
		ip, err := netip.ParseAddr(tok)
		if err == nil && ip.Is6() {
			return ip, e, true
		}
	}
	return netip.Addr{}, 0, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isWord(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func isZoneChar(c byte) bool {
	return isWord(c) || c == '-' || c == '.'
}
