// Package anonymize prepares collected testbed data for sharing without
// revealing the addresses and names of the machines it was collected on.
//
// IP addresses are rewritten with Crypto-PAn (J. Xu, J. Fan, M. Ammar,
// S. Moon, "Prefix-Preserving IP Address Anonymization", ICNP 2002), the
// prefix-preserving scheme built on AES-128: two addresses that share their
// first k bits are mapped to two addresses that share their first k bits and
// differ in bit k+1, so subnets, routing structure and "same host" relations
// survive while the addresses themselves do not. IPv4 addresses use the
// algorithm of the reference implementation bit for bit (and reproduce its
// published sample trace); IPv6 addresses use the same algorithm over 128
// bits, as the common extensions of Crypto-PAn do. The mapping is a
// deterministic function of a 32-byte key: keep one key per dataset so that
// one dataset's addresses can be joined across files, and different keys
// for datasets that must not be linkable.
//
// Host and other names are replaced by keyed pseudonyms (see [Pseudonyms]),
// and [Anonymizer.Text] rewrites every address it finds in free text such as
// logs, JSON lines or YAML.
//
// The package is pure computation: it touches nothing but the values it is
// given. It reads no files, opens no sockets, consults no environment and
// keeps no state besides the key, so an [Anonymizer] is safe for concurrent
// use.
package anonymize

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
)

// KeySize is the length of a Crypto-PAn key: 16 bytes of AES-128 key
// followed by 16 bytes of pad.
const KeySize = 32

// Anonymizer maps IP addresses with Crypto-PAn and names with keyed
// pseudonyms, both under one 32-byte key. The zero value is not usable;
// build one with [New] or [NewFromSecret].
type Anonymizer struct {
	block cipher.Block
	// pad is the AES encryption of the second half of the key, as in the
	// reference implementation; the bits of an address that a round does
	// not use are taken from it.
	pad   [16]byte
	names Pseudonyms
}

// New returns an Anonymizer for a 32-byte Crypto-PAn key. As in the
// reference implementation, the first 16 bytes are the AES-128 key and the
// last 16 bytes, encrypted once with that key, are the pad.
func New(key []byte) (*Anonymizer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("anonymize: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, fmt.Errorf("anonymize: %w", err)
	}
	a := &Anonymizer{block: block, names: newPseudonyms(key)}
	block.Encrypt(a.pad[:], key[16:])
	return a, nil
}

// NewFromSecret returns an Anonymizer whose 32-byte key is the SHA-256 of a
// per-dataset secret: New(sha256(secret)). The same secret always gives the
// same mapping; the secret must stay private, since anyone holding it can
// test guesses of original addresses and names.
func NewFromSecret(secret []byte) *Anonymizer {
	key := sha256.Sum256(secret)
	a, err := New(key[:])
	if err != nil {
		// A 32-byte key cannot be refused.
		panic(err)
	}
	return a
}

// IPv4 anonymizes an IPv4 address with Crypto-PAn, exactly as the reference
// implementation does. A 4-in-6 mapped address (::ffff:a.b.c.d) has its
// IPv4 part anonymized and keeps its mapped form. Any other address is
// handled as by [Anonymizer.Addr].
func (a *Anonymizer) IPv4(ip netip.Addr) netip.Addr {
	switch {
	case ip.Is4():
		return netip.AddrFrom4(a.anon4(ip.As4()))
	case ip.Is4In6():
		v4 := a.anon4(ip.Unmap().As4())
		return netip.AddrFrom16(netip.AddrFrom4(v4).As16())
	default:
		return a.Addr(ip)
	}
}

// Addr anonymizes an IPv4 or IPv6 address. IPv4 addresses and 4-in-6
// mapped addresses are handled as by [Anonymizer.IPv4]; other IPv6
// addresses go through the 128-bit version of Crypto-PAn. A zone
// (fe80::1%eth0) is dropped, since interface names are not part of the
// mapping. The invalid zero Addr is returned unchanged.
func (a *Anonymizer) Addr(ip netip.Addr) netip.Addr {
	switch {
	case !ip.IsValid():
		return ip
	case ip.Is4(), ip.Is4In6():
		return a.IPv4(ip)
	default:
		return netip.AddrFrom16(a.anon(ip.As16(), 128))
	}
}

// Prefix anonymizes a prefix: its address is anonymized and, when the
// original had no host bits set (10.1.0.0/16), so has the result, which is
// then the image of every address in the original prefix. A prefix with
// host bits (10.1.2.3/16, an interface address) keeps the full anonymized
// address.
func (a *Anonymizer) Prefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	out := netip.PrefixFrom(a.Addr(p.Addr()), p.Bits())
	if p.Masked() == p {
		out = out.Masked()
	}
	return out
}

// anon4 runs Crypto-PAn over the 32 bits of an IPv4 address.
func (a *Anonymizer) anon4(b [4]byte) [4]byte {
	var in [16]byte
	copy(in[:], b[:])
	out := a.anon(in, 32)
	return [4]byte(out[:4])
}

// anon runs Crypto-PAn over the first n bits of addr (n is 32 or 128).
// Bit i of the result is bit i of the address flipped by the first bit of
// AES(first i bits of the address, followed by the pad's remaining bits),
// which is what makes the mapping prefix-preserving: bit i depends only on
// the bits before it.
func (a *Anonymizer) anon(addr [16]byte, n int) [16]byte {
	var in, out, flips [16]byte
	for pos := range n {
		in = a.pad
		whole := pos / 8
		copy(in[:whole], addr[:whole])
		if rem := pos % 8; rem != 0 {
			keep := byte(0xff) << (8 - rem)
			in[whole] = addr[whole]&keep | a.pad[whole]&^keep
		}
		a.block.Encrypt(out[:], in[:])
		flips[pos/8] |= (out[0] >> 7) << (7 - pos%8)
	}
	res := addr
	for i := range n / 8 {
		res[i] ^= flips[i]
	}
	return res
}

// Name returns the stable pseudonym of a name of the given kind under this
// Anonymizer's key, e.g. Name("node", "worker-7") = "node-3f9a1c"; see
// [Pseudonyms.Name].
func (a *Anonymizer) Name(kind, name string) string {
	return a.names.Name(kind, name)
}

// Pseudonyms returns the name pseudonymizer that [Anonymizer.Name] uses.
func (a *Anonymizer) Pseudonyms() Pseudonyms {
	return a.names
}

// Pseudonyms gives stable pseudonyms for names (hosts, nodes, links,
// users): the same kind and name always give the same pseudonym under the
// same key, and without the key a pseudonym reveals nothing of the name
// (checking a guessed name against a pseudonym needs the key too).
//
// A pseudonym is kind + "-" + the first 6 hex digits (24 bits) of
// HMAC-SHA256(k, kind + "\x00" + name), where k is HMAC-SHA256 of the label
// "tbctl/anonymize/names" under the 32-byte Anonymizer key (a subkey, so the
// AES key material is not reused as is). The zero byte keeps ("ab","c")
// and ("a","bc") apart. With 24 bits, two distinct names of one kind
// collide with probability 2^-24; among n names of a kind the chance of any
// collision is about n²/2^25: about 3e-6 for 10 names, 3e-4 for 100 and 3%
// for 1000. That is negligible at testbed scale (tens to hundreds of
// nodes); a dataset with thousands of names of one kind should check its
// pseudonyms for duplicates. Pseudonyms of different kinds never collide,
// since the kind is part of the pseudonym.
type Pseudonyms struct {
	key [32]byte
}

func newPseudonyms(key []byte) Pseudonyms {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tbctl/anonymize/names"))
	var p Pseudonyms
	copy(p.key[:], m.Sum(nil))
	return p
}

// pseudonymHex is how many hex digits of the HMAC a pseudonym keeps.
const pseudonymHex = 6

// Name returns the pseudonym of name, e.g. "node-3f9a1c" for kind "node".
// An empty kind gives the bare hex digits.
func (p Pseudonyms) Name(kind, name string) string {
	m := hmac.New(sha256.New, p.key[:])
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(name))
	sum := hex.EncodeToString(m.Sum(nil))[:pseudonymHex]
	if kind == "" {
		return sum
	}
	return kind + "-" + sum
}
