package anonymize

import (
	"crypto/sha256"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceKey is the key of the sample in the Crypto-PAn reference
// distribution (sample_trace_raw.dat / sample_trace_sanitized.dat).
var referenceKey = []byte{
	21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
	216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
}

// referenceVectors are the distinct raw → sanitized address pairs of the
// reference sample trace, as collected in the test suites of several
// independent Crypto-PAn implementations (Go, Rust, C++) that all agree on
// them.
var referenceVectors = [][2]string{
	{"128.11.68.132", "135.242.180.132"},
	{"129.118.74.4", "134.136.186.123"},
	{"130.132.252.244", "133.68.164.234"},
	{"141.223.7.43", "141.167.8.160"},
	{"141.233.145.108", "141.129.237.235"},
	{"152.163.225.39", "151.140.114.167"},
	{"156.29.3.236", "147.225.12.42"},
	{"165.247.96.84", "162.9.99.234"},
	{"166.107.77.190", "160.132.178.185"},
	{"192.102.249.13", "252.138.62.131"},
	{"192.215.32.125", "252.43.47.189"},
	{"192.233.80.103", "252.25.108.8"},
	{"192.41.57.43", "252.222.221.184"},
	{"193.150.244.223", "253.169.52.216"},
	{"195.205.63.100", "255.186.223.5"},
	{"198.200.171.101", "249.199.68.213"},
	{"198.26.132.101", "249.36.123.202"},
	{"198.36.213.5", "249.7.21.132"},
	{"198.51.77.238", "249.18.186.254"},
	{"199.217.79.101", "248.38.184.213"},
	{"202.49.198.20", "245.206.7.234"},
	{"203.12.160.252", "244.248.163.4"},
	{"204.184.162.189", "243.192.77.90"},
	{"204.202.136.230", "243.178.4.198"},
	{"204.29.20.4", "243.33.20.123"},
	{"205.178.38.67", "242.108.198.51"},
	{"205.188.147.153", "242.96.16.101"},
	{"205.188.248.25", "242.96.88.27"},
	{"205.245.121.43", "242.21.121.163"},
	{"207.105.49.5", "241.118.205.138"},
	{"207.135.65.238", "241.202.129.222"},
	{"207.155.9.214", "241.220.250.22"},
	{"207.188.7.45", "241.255.249.220"},
	{"207.25.71.27", "241.33.119.156"},
	{"207.33.151.131", "241.1.233.131"},
	{"208.147.89.59", "227.237.98.191"},
	{"208.234.120.210", "227.154.67.17"},
	{"208.28.185.184", "227.39.94.90"},
	{"208.52.56.122", "227.8.63.165"},
	{"209.12.231.7", "226.243.167.8"},
	{"209.238.72.3", "226.6.119.243"},
	{"209.246.74.109", "226.22.124.76"},
	{"209.68.60.238", "226.184.220.233"},
	{"209.85.249.6", "226.170.70.6"},
	{"212.120.124.31", "228.135.163.231"},
	{"212.146.8.236", "228.19.4.234"},
	{"212.186.227.154", "228.59.98.98"},
	{"212.204.172.118", "228.71.195.169"},
	{"212.206.130.201", "228.69.242.193"},
	{"216.148.237.145", "235.84.194.111"},
	{"216.157.30.252", "235.89.31.26"},
	{"216.184.159.48", "235.96.225.78"},
	{"216.227.10.221", "235.28.253.36"},
	{"216.254.18.172", "235.7.16.162"},
	{"216.32.132.250", "235.192.139.38"},
	{"216.35.217.178", "235.195.157.81"},
	{"24.0.250.221", "100.15.198.226"},
	{"24.13.62.231", "100.2.192.247"},
	{"24.14.213.138", "100.1.42.141"},
	{"24.5.0.80", "100.9.15.210"},
	{"24.7.198.88", "100.10.6.25"},
	{"24.94.26.44", "100.88.228.35"},
	{"38.15.67.68", "64.3.66.187"},
	{"4.3.88.225", "124.60.155.63"},
	{"63.14.55.111", "95.9.215.7"},
	{"63.195.241.44", "95.179.238.44"},
	{"63.97.7.140", "95.97.9.123"},
	{"64.14.118.196", "0.255.183.58"},
	{"64.34.154.117", "0.221.154.117"},
	{"64.39.15.238", "0.219.7.41"},
	{"10.185.25.118", "117.161.29.118"},
}

// ipv6Vectors come from the test suite of Yawning Angel's Go Crypto-PAn
// (github.com/Yawning/cryptopan), whose IPv6 extension runs the same
// algorithm over 128 bits; they are not part of the reference
// distribution, which is IPv4 only.
var ipv6Vectors = [][2]string{
	{"::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"},
	{"::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"},
	{"::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"},
	{"2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"},
	{"2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"},
}

func reference(t *testing.T) *Anonymizer {
	t.Helper()
	a, err := New(referenceKey)
	require.NoError(t, err)
	return a
}

func TestReferenceVectorsIPv4(t *testing.T) {
	a := reference(t)
	require.GreaterOrEqual(t, len(referenceVectors), 20)
	for _, v := range referenceVectors {
		in, want := netip.MustParseAddr(v[0]), netip.MustParseAddr(v[1])
		assert.Equal(t, want, a.IPv4(in), "IPv4(%s)", in)
		assert.Equal(t, want, a.Addr(in), "Addr(%s)", in)
	}
}

func TestVectorsIPv6(t *testing.T) {
	a := reference(t)
	for _, v := range ipv6Vectors {
		in, want := netip.MustParseAddr(v[0]), netip.MustParseAddr(v[1])
		assert.Equal(t, want, a.Addr(in), "Addr(%s)", in)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := New(make([]byte, n))
		assert.Error(t, err, "key of %d bytes", n)
	}
}

func TestNewFromSecret(t *testing.T) {
	secret := []byte("dataset 2025-06 campus trace")
	sum := sha256.Sum256(secret)
	viaKey, err := New(sum[:])
	require.NoError(t, err)
	a, b := NewFromSecret(secret), NewFromSecret(secret)
	other := NewFromSecret([]byte("another dataset"))
	ip := netip.MustParseAddr("192.0.2.17")
	assert.Equal(t, viaKey.Addr(ip), a.Addr(ip))
	assert.Equal(t, a.Addr(ip), b.Addr(ip))
	assert.NotEqual(t, a.Addr(ip), other.Addr(ip))
	assert.Equal(t, a.Name("node", "n1"), b.Name("node", "n1"))
	assert.NotEqual(t, a.Name("node", "n1"), other.Name("node", "n1"))
}

func commonPrefix(x, y []byte) int {
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			return i*8 + bits.LeadingZeros8(d)
		}
	}
	return len(x) * 8
}

// randomPair returns two addresses of n bytes sharing a random-length
// prefix, so that every prefix length is exercised, not just the short
// ones that independent random addresses share.
func randomPair(rng *rand.Rand, n int) ([]byte, []byte) {
	x, y := make([]byte, n), make([]byte, n)
	for i := range x {
		x[i] = byte(rng.Uint32())
		y[i] = byte(rng.Uint32())
	}
	k := rng.IntN(n*8 + 1)
	for b := range k {
		mask := byte(0x80) >> (b % 8)
		y[b/8] = y[b/8]&^mask | x[b/8]&mask
	}
	return x, y
}

func TestPrefixPreservation(t *testing.T) {
	a := NewFromSecret([]byte("prefix test"))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{4, 16} {
		for range 500 {
			x, y := randomPair(rng, n)
			ax, ay := a.Addr(addrFrom(x)), a.Addr(addrFrom(y))
			require.Equal(t, commonPrefix(x, y), commonPrefix(ax.AsSlice(), ay.AsSlice()),
				"%x %x -> %s %s", x, y, ax, ay)
			require.Equal(t, n == 4, ax.Is4())
		}
	}
}

func addrFrom(b []byte) netip.Addr {
	ip, ok := netip.AddrFromSlice(b)
	if !ok {
		panic("bad length")
	}
	return ip
}

func TestOneToOneOnASubnet(t *testing.T) {
	a := reference(t)
	seen := map[netip.Addr]bool{}
	base := netip.MustParseAddr("10.20.30.0")
	for ip, i := base, 0; i < 256; ip, i = ip.Next(), i+1 {
		out := a.Addr(ip)
		require.False(t, seen[out], "collision at %s", ip)
		seen[out] = true
		// All of 10.20.30.0/24 lands in one /24.
		want, got := a.Addr(base).As4(), out.As4()
		assert.Equal(t, want[:3], got[:3])
	}
}

func TestMappedAndZonedForms(t *testing.T) {
	a := reference(t)
	mapped := netip.MustParseAddr("::ffff:128.11.68.132")
	got := a.Addr(mapped)
	assert.True(t, got.Is4In6())
	assert.Equal(t, "::ffff:135.242.180.132", got.String())
	assert.Equal(t, got, a.IPv4(mapped))

	zoned := netip.MustParseAddr("2001:db8::1%eth0")
	assert.Equal(t, netip.MustParseAddr("4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"), a.Addr(zoned))
	assert.Equal(t, "", a.Addr(zoned).Zone())

	// IPv4 passes other addresses to Addr; the invalid Addr is kept.
	v6 := netip.MustParseAddr("2001:db8::2")
	assert.Equal(t, a.Addr(v6), a.IPv4(v6))
	assert.Equal(t, netip.Addr{}, a.Addr(netip.Addr{}))
}

func TestPrefix(t *testing.T) {
	a := reference(t)
	p := a.Prefix(netip.MustParsePrefix("128.11.0.0/16"))
	assert.Equal(t, "135.242.0.0/16", p.String())
	// An interface address keeps its host bits.
	q := a.Prefix(netip.MustParsePrefix("128.11.68.132/16"))
	assert.Equal(t, "135.242.180.132/16", q.String())
	assert.Equal(t, netip.Prefix{}, a.Prefix(netip.Prefix{}))
}

func TestName(t *testing.T) {
	a := reference(t)
	n := a.Name("node", "worker-7")
	assert.Regexp(t, `^node-[0-9a-f]{6}$`, n)
	assert.Equal(t, n, a.Name("node", "worker-7"))
	assert.Equal(t, n, a.Pseudonyms().Name("node", "worker-7"))
	assert.NotEqual(t, n, a.Name("node", "worker-8"))
	assert.NotEqual(t, n[len("node-"):], a.Name("link", "worker-7")[len("link-"):])
	assert.NotEqual(t, a.Name("ab", "c"), a.Name("a", "bc"))
	assert.Regexp(t, `^[0-9a-f]{6}$`, a.Name("", "x"))
	assert.NotContains(t, n, "worker")

	// 24 bits: 200 names of a kind should not collide (p ≈ 1e-3).
	seen := map[string]string{}
	for i := range 200 {
		name := "host" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i/26))
		p := a.Name("host", name)
		if prev, ok := seen[p]; ok {
			require.Equal(t, prev, name, "collision")
		}
		seen[p] = name
	}
}

var (
	v4re = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
)

func TestTextJSONLine(t *testing.T) {
	a := reference(t)
	in := `{"ts":"2025-06-01T12:34:56.789Z","src":"128.11.68.132","dst":"2001:db8::1","net":"10.185.0.0/16","agent":"tbctl/1.2.3","mac":"aa:bb:cc:dd:ee:ff","n":42}`
	want := `{"ts":"2025-06-01T12:34:56.789Z","src":"135.242.180.132","dst":"4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e","net":"117.161.0.0/16","agent":"tbctl/1.2.3","mac":"aa:bb:cc:dd:ee:ff","n":42}`
	got := a.Text(in)
	assert.Equal(t, want, got)
	assert.NotContains(t, got, "128.11.68.132")
	assert.NotContains(t, got, "2001:db8")
}

func TestTextLogLine(t *testing.T) {
	a := reference(t)
	in := "Jun  1 12:34:56 node7 sshd[4242]: Accepted publickey for root from 129.118.74.4 port 51234 ssh2; " +
		"peer [2001:db8::2]:443 via fe80::1%eth0, route 130.132.252.244/32 dev eth0 (kernel 6.8.0-31, tbctl v1.2.3.4)."
	got := a.Text(in)
	for _, orig := range []string{"129.118.74.4", "2001:db8::2", "fe80::1", "130.132.252.244", "%eth0"} {
		assert.NotContains(t, got, orig)
	}
	assert.Contains(t, got, "from 134.136.186.123 port 51234")
	assert.Contains(t, got, "peer [4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c]:443 via ")
	assert.Contains(t, got, "route 133.68.164.234/32 dev eth0")
	assert.Contains(t, got, "Jun  1 12:34:56 node7 sshd[4242]: ")
	assert.Contains(t, got, "(kernel 6.8.0-31, tbctl v1.2.3.4).")
	assert.Equal(t, []string{"134.136.186.123", "133.68.164.234"},
		v4re.FindAllString(strings.ReplaceAll(got, "v1.2.3.4", ""), -1),
		"only the two rewritten IPv4 addresses are dotted quads")
}

func TestTextYAML(t *testing.T) {
	a := reference(t)
	in := "nodes:\n  - name: r1\n    addr: 141.223.7.43/24\n    v6: \"2001:db8::1/64\"\n    loopback: ::1\n  - listen: \"[::]:8080\"\n"
	got := a.Text(in)
	assert.Equal(t, "nodes:\n  - name: r1\n    addr: 141.167.8.160/24\n    v6: \""+
		netip.PrefixFrom(a.Addr(netip.MustParseAddr("2001:db8::1")), 64).String()+
		"\"\n    loopback: 78ff:f001:9fc0:20df:8380:b1f1:704:ed\n  - listen: \"[::]:8080\"\n", got)
}

func TestTextLeavesNonAddressesAlone(t *testing.T) {
	a := reference(t)
	for _, s := range []string{
		"",
		"version 1.2.3 released",
		"go1.26.8 linux/amd64",
		"v1.2.3.4",
		"1.2.3.4.5",
		"OID 1.3.6.1.2.1.1.3.0",
		"999.1.1.1 and 256.0.0.1",
		"2025-06-01T12:34:56Z 12:34:56.789",
		"mac aa:bb:cc:dd:ee:ff and 00:1A:2B:3C:4D:5E",
		"deadbeef cafe:babe ab:cd",
		"std::string and foo::bar::baz and a :: b",
		"hash 3f9a1c2b",
		"x1.2.3.4 1.2.3.4y",
		"ratio 3:2 and 1:2:3",
		"unicode é1.2.3.4",
	} {
		assert.Equal(t, s, a.Text(s), "input %q", s)
	}
}

func TestTextEdgeForms(t *testing.T) {
	a := reference(t)
	an := func(s string) string { return a.Addr(netip.MustParseAddr(s)).String() }
	cases := map[string]string{
		"128.11.68.132":                   "135.242.180.132",
		"at 128.11.68.132.":               "at 135.242.180.132.",
		"http://128.11.68.132:8080/x":     "http://135.242.180.132:8080/x",
		"addr:128.11.68.132,":             "addr:135.242.180.132,",
		"128.11.68.132-129.118.74.4":      "135.242.180.132-134.136.186.123",
		"::ffff:128.11.68.132":            "::ffff:135.242.180.132",
		"DEAD:BEEF::1 x":                  an("dead:beef::1") + " x",
		"dead:beef:: x":                   an("dead:beef::") + " x",
		"1:2:3:4:5:6:7:8":                 an("1:2:3:4:5:6:7:8"),
		"0:1:2:3:4:5:6:7:8":               "0:1:2:3:4:5:6:7:8",
		"from 2001:db8::1: closed":        "from " + an("2001:db8::1") + ": closed",
		"fe80::1%eth0.":                   an("fe80::1") + ".",
		"2001:db8::/32":                   "4401:2bc::/32",
		"::/0":                            "::/0",
		"128.11.68.132/33":                "135.242.180.132/33",
		"10.185.25.118/008":               "117.161.29.118/008",
		"0.0.0.0/0":                       "0.0.0.0/0",
		"path 128.11.68.132/index.html":   "path 135.242.180.132/index.html",
		"010.185.025.118":                 "117.161.29.118",
		"2001:db8::1g":                    "2001:db8::1g",
		"[2001:db8::1]":                   "[4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e]",
		"a=128.11.68.132;b=2001:db8::2\n": "a=135.242.180.132;b=4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c\n",
	}
	for in, want := range cases {
		assert.Equal(t, want, a.Text(in), "input %q", in)
	}
}

func TestTextAgreesWithAddr(t *testing.T) {
	a := NewFromSecret([]byte("agree"))
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		var b4 [4]byte
		var b16 [16]byte
		for i := range b16 {
			b16[i] = byte(rng.Uint32())
		}
		copy(b4[:], b16[:4])
		for _, ip := range []netip.Addr{netip.AddrFrom4(b4), netip.AddrFrom16(b16)} {
			if ip == netip.IPv6Unspecified() {
				continue
			}
			in := "<" + ip.String() + ">"
			require.Equal(t, "<"+a.Addr(ip).String()+">", a.Text(in), "input %q", in)
		}
	}
}
