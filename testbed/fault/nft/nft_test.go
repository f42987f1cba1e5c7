package nft

import (
	"math"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests in this file need neither root nor namespaces.

func TestValidTableName(t *testing.T) {
	for _, ok := range []string{"tbctl_f3", "a", "0", "abcdefghijklmnopqrstuvwxyz012345"} {
		assert.NoError(t, ValidTableName(ok), ok)
	}
	for _, bad := range []string{"", "Tbctl", "tb-f3", "tb f3", "abcdefghijklmnopqrstuvwxyz0123456", "tb.f", "é"} {
		assert.Error(t, ValidTableName(bad), bad)
	}
}

func TestValidationBeforeKernel(t *testing.T) {
	p := netip.MustParsePrefix
	one := []netip.Prefix{p("198.18.61.1/32")}
	// A namespace path that does not exist: every error below must come
	// from validation, before the namespace is opened.
	const ns = "/nonexistent/netns"

	err := Partition(ns, "Bad-Name", one, one, false)
	assert.ErrorContains(t, err, "invalid nftables table name")
	assert.ErrorContains(t, Partition(ns, "t", nil, one, false), "from: no addresses")
	assert.ErrorContains(t, Partition(ns, "t", one, nil, false), "to: no addresses")
	assert.ErrorContains(t, Partition(ns, "t", one, []netip.Prefix{p("2001:db8::/64")}, false), "not an IPv4 prefix")
	assert.ErrorContains(t, Partition(ns, "t", one, []netip.Prefix{{}}, false), "not an IPv4 prefix")

	dst := p("198.18.61.2/32")
	assert.ErrorContains(t, Blackhole(ns, "t", dst, "sctp", 9), `protocol "sctp"`)
	assert.ErrorContains(t, Blackhole(ns, "t", dst, "udp", 65536), "out of range")
	assert.ErrorContains(t, Blackhole(ns, "t", dst, "udp", -1), "out of range")
	assert.ErrorContains(t, Blackhole(ns, "t", dst, "", 53), "without a protocol")
	assert.ErrorContains(t, Blackhole(ns, "t", p("::1/128"), "", 0), "not an IPv4 prefix")

	for _, pct := range []float64{0, -1, 100.01, math.NaN(), math.Inf(1), 0.001} {
		_, err := Loss(ns, "t", "eth0", pct, "egress")
		assert.ErrorContains(t, err, "loss percentage", pct)
	}
	_, err = Loss(ns, "t", "eth0", 10, "both")
	assert.ErrorContains(t, err, `direction "both"`)
	_, err = Loss(ns, "t", "", 10, "egress")
	assert.ErrorContains(t, err, "invalid interface name")
	_, err = Loss(ns, "t", "averyveryverylongname", 10, "egress")
	assert.ErrorContains(t, err, "invalid interface name")
	// Valid input reaches the namespace, which is missing.
	_, err = Loss(ns, "t", "eth0", 10, "egress")
	assert.ErrorContains(t, err, "/nonexistent/netns")

	_, err = Exists(ns, "no/slash")
	assert.Error(t, err)
	_, err = Rules(ns, "")
	assert.Error(t, err)
	assert.Error(t, Delete(ns, "UPPER"))
}

func TestIntervalElementsRoundTrip(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		in   []netip.Prefix
		want []string
	}{
		{[]netip.Prefix{p("198.18.61.1/32")}, []string{"198.18.61.1/32"}},
		// unmasked, overlapping and adjacent prefixes merge
		{[]netip.Prefix{p("198.18.61.5/24"), p("198.18.61.7/32"), p("198.18.62.0/24")}, []string{"198.18.61.0/24", "198.18.62.0/24"}},
		{[]netip.Prefix{p("198.18.60.0/24"), p("198.18.61.128/25"), p("198.18.61.0/25")}, []string{"198.18.60.0/23"}},
		{[]netip.Prefix{p("198.18.61.3/32"), p("198.18.61.1/32"), p("198.18.61.2/32")}, []string{"198.18.61.1/32", "198.18.61.2/31"}},
		{[]netip.Prefix{p("0.0.0.0/0"), p("10.0.0.0/8")}, []string{"0.0.0.0/0"}},
		{[]netip.Prefix{p("255.255.255.255/32"), p("10.0.0.0/8")}, []string{"10.0.0.0/8", "255.255.255.255/32"}},
	}
	for _, c := range cases {
		els, err := intervalElements("x", c.in)
		require.NoError(t, err)
		// The kernel returns elements in its own order: reverse them.
		rev := make([]nftables.SetElement, len(els))
		for i, e := range els {
			rev[len(els)-1-i] = e
		}
		assert.Equal(t, c.want, elementsToPrefixes(rev), "%v", c.in)
	}
}

func TestSpanPrefixes(t *testing.T) {
	got := spanPrefixes(0xC6123D01, 0xC6123D0A) // 198.18.61.1 - .10
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	assert.Equal(t, []string{"198.18.61.1/32", "198.18.61.2/31", "198.18.61.4/30", "198.18.61.8/31", "198.18.61.10/32"}, s)
	assert.Equal(t, "0.0.0.0/0", spanPrefixes(0, math.MaxUint32)[0].String())
}
