package nft

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The integration tests build, with netlink only, a small lab of network
// namespaces pinned at /run/netns/tbtest-nft-<pid>-<name>:
//
//	a eth0 198.18.61.1/28  ── r ra 198.18.61.14/28
//	b eth0 198.18.61.17/28 ── r rb 198.18.61.30/28
//	c eth0 198.18.61.33/28 ── r rc 198.18.61.46/28
//
// r forwards; a, b and c route everything through it. Effects are measured
// with UDP datagrams sent and counted from Go sockets opened inside the
// namespaces. Nothing leaves these namespaces.

var (
	addrA = netip.MustParseAddr("198.18.61.1")
	addrB = netip.MustParseAddr("198.18.61.17")
	addrC = netip.MustParseAddr("198.18.61.33")
)

type lab struct {
	a, b, c, r string // namespace paths
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables")
	}
}

// inNS runs fn on a locked OS thread inside the namespace at path; the
// thread is discarded afterwards.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func newNS(t *testing.T, name string, forward bool) string {
	t.Helper()
	require.NoError(t, os.MkdirAll("/run/netns", 0o755))
	path := fmt.Sprintf("/run/netns/tbtest-nft-%d-%s", os.Getpid(), name)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		errc <- func() error {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
			if err != nil {
				return err
			}
			f.Close()
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("pin: %w", err)
			}
			for _, conf := range []string{"all", "default"} {
				_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0o644)
			}
			if forward {
				if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
					return err
				}
			}
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			return netlink.LinkSetUp(lo)
		}()
	}()
	err := <-errc
	t.Cleanup(func() {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
	})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	require.NoError(t, err, "create namespace %s", name)
	return path
}

func handle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	fd, err := netns.GetFromPath(path)
	require.NoError(t, err)
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

// wire connects host namespace hp (interface eth0, address ha) with router
// namespace rp (interface rif, address ra) and routes the host through it.
func wire(t *testing.T, hp, rp, rif string, ha, ra netip.Addr) {
	t.Helper()
	hh, rh := handle(t, hp), handle(t, rp)
	rfd, err := netns.GetFromPath(rp)
	require.NoError(t, err)
	defer rfd.Close()
	require.NoError(t, hh.LinkAdd(&netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "eth0"},
		PeerName:      rif,
		PeerNamespace: netlink.NsFd(int(rfd)),
	}))
	for _, s := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Addr
	}{{hh, "eth0", ha}, {rh, rif, ra}} {
		l, err := s.h.LinkByName(s.name)
		require.NoError(t, err)
		ipn := &net.IPNet{IP: s.addr.AsSlice(), Mask: net.CIDRMask(28, 32)}
		require.NoError(t, s.h.AddrAdd(l, &netlink.Addr{IPNet: ipn}))
		require.NoError(t, s.h.LinkSetUp(l))
	}
	require.NoError(t, hh.RouteAdd(&netlink.Route{Gw: ra.AsSlice()}))
}

func newLab(t *testing.T) *lab {
	t.Helper()
	needRoot(t)
	l := &lab{
		a: newNS(t, "a", false),
		b: newNS(t, "b", false),
		c: newNS(t, "c", false),
		r: newNS(t, "r", true),
	}
	wire(t, l.a, l.r, "ra", addrA, netip.MustParseAddr("198.18.61.14"))
	wire(t, l.b, l.r, "rb", addrB, netip.MustParseAddr("198.18.61.30"))
	wire(t, l.c, l.r, "rc", addrC, netip.MustParseAddr("198.18.61.46"))
	// Resolve every neighbour before faults are applied, so that dropped
	// ARP cannot blur the loss figures.
	for _, p := range [][2]string{{"a", "b"}, {"b", "a"}, {"a", "c"}, {"c", "a"}, {"b", "c"}, {"c", "b"}} {
		require.Equal(t, 5, l.send(t, p[0], p[1], 9000, 5), "baseline %s→%s", p[0], p[1])
	}
	return l
}

func (l *lab) ns(n string) string {
	return map[string]string{"a": l.a, "b": l.b, "c": l.c, "r": l.r}[n]
}

func addrOf(n string) netip.Addr {
	return map[string]netip.Addr{"a": addrA, "b": addrB, "c": addrC}[n]
}

// send sends n UDP datagrams from node src to node dst's port and returns
// how many dst received. Send errors (EPERM from an output drop) count as
// sent datagrams that were lost.
func (l *lab) send(t *testing.T, src, dst string, port, n int) int {
	t.Helper()
	var rc, sc *net.UDPConn
	require.NoError(t, inNS(l.ns(dst), func() (err error) {
		rc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addrOf(dst).AsSlice(), Port: port})
		return err
	}))
	defer rc.Close()
	_ = rc.SetReadBuffer(4 << 20)
	require.NoError(t, inNS(l.ns(src), func() (err error) {
		sc, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: addrOf(dst).AsSlice(), Port: port})
		return err
	}))
	defer sc.Close()

	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 64)
		count := 0
		for {
			// Stop after a quiet spell once the sender is done.
			_ = rc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := rc.Read(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	msg := []byte("tbctl-nft-test")
	for i := 0; i < n; i++ {
		_, _ = sc.Write(msg)
		if i%25 == 24 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return <-got
}

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// dropped sums the counters of the table's rules.
func dropped(t *testing.T, ns, table string) int {
	t.Helper()
	rules, err := Rules(ns, table)
	require.NoError(t, err)
	sum := 0
	for _, r := range rules {
		if m := counterRE.FindStringSubmatch(r); m != nil {
			v, _ := strconv.Atoi(m[1])
			sum += v
		}
	}
	return sum
}

// nftList cross-checks with the nft program, when there is one, that the
// kernel holds what Rules reports.
func nftList(t *testing.T, ns, family, table string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return ""
	}
	var out []byte
	require.NoError(t, inNS(ns, func() error {
		var err error
		out, err = exec.Command("nft", "list", "table", family, table).CombinedOutput()
		return err
	}), "nft list: %s", out)
	return string(out)
}

// assertGone checks that the table is gone and that deleting it again is
// fine.
func assertGone(t *testing.T, ns, table string) {
	t.Helper()
	require.NoError(t, Delete(ns, table))
	require.NoError(t, Delete(ns, table), "second delete")
	ok, err := Exists(ns, table)
	require.NoError(t, err)
	assert.False(t, ok)
	names, err := Tables(ns, "tbt_")
	require.NoError(t, err)
	assert.NotContains(t, names, table)
	_, err = Rules(ns, table)
	assert.ErrorContains(t, err, "no table")
}

func TestPartition(t *testing.T) {
	l := newLab(t)
	a, b := []netip.Prefix{netip.PrefixFrom(addrA, 32)}, []netip.Prefix{netip.PrefixFrom(addrB, 32)}

	t.Run("both ways at the nodes", func(t *testing.T) {
		require.NoError(t, Partition(l.a, "tbt_part", a, b, false))
		require.NoError(t, Partition(l.b, "tbt_part", a, b, false))
		ok, err := Exists(l.a, "tbt_part")
		require.NoError(t, err)
		assert.True(t, ok)
		names, err := Tables(l.a, "tbt_")
		require.NoError(t, err)
		assert.Equal(t, []string{"tbt_part"}, names)
		err = Partition(l.a, "tbt_part", a, b, false)
		assert.ErrorContains(t, err, "already exists")

		assert.Zero(t, l.send(t, "a", "b", 9001, 20), "a→b")
		assert.Zero(t, l.send(t, "b", "a", 9001, 20), "b→a")
		assert.Equal(t, 20, l.send(t, "a", "c", 9001, 20), "a→c")
		assert.Equal(t, 20, l.send(t, "c", "b", 9001, 20), "c→b")

		rules, err := Rules(l.a, "tbt_part")
		require.NoError(t, err)
		t.Logf("Rules(a):\n%s", strings.Join(rules, "\n"))
		require.Len(t, rules, 6)
		assert.Contains(t, rules, "ip output: ip saddr @from {198.18.61.1/32} ip daddr @to {198.18.61.17/32} counter packets 20 bytes 840 drop")
		assert.Contains(t, rules[0], "ip input: ")
		if out := nftList(t, l.a, "ip", "tbt_part"); out != "" {
			t.Logf("nft list table ip tbt_part (a):\n%s", out)
			assert.Contains(t, out, "ip saddr @from ip daddr @to counter packets 20 bytes 840 drop")
			assert.Contains(t, out, "elements = { 198.18.61.1 }")
		}

		assertGone(t, l.a, "tbt_part")
		assertGone(t, l.b, "tbt_part")
		assert.Equal(t, 20, l.send(t, "a", "b", 9001, 20), "a→b after delete")
		assert.Equal(t, 20, l.send(t, "b", "a", 9001, 20), "b→a after delete")
	})

	t.Run("one way", func(t *testing.T) {
		require.NoError(t, Partition(l.a, "tbt_oneway", a, b, true))
		require.NoError(t, Partition(l.b, "tbt_oneway", a, b, true))
		assert.Zero(t, l.send(t, "a", "b", 9002, 20), "a→b")
		assert.Equal(t, 20, l.send(t, "b", "a", 9002, 20), "b→a")
		rules, err := Rules(l.b, "tbt_oneway")
		require.NoError(t, err)
		assert.Len(t, rules, 3)
		assertGone(t, l.a, "tbt_oneway")
		assertGone(t, l.b, "tbt_oneway")
		assert.Equal(t, 20, l.send(t, "a", "b", 9002, 20), "a→b after delete")
	})

	t.Run("several ranges and everything", func(t *testing.T) {
		ac := []netip.Prefix{netip.PrefixFrom(addrC, 32), netip.PrefixFrom(addrA, 32)}
		require.NoError(t, Partition(l.r, "tbt_multi", ac, b, true))
		assert.Zero(t, l.send(t, "a", "b", 9004, 20), "a→b")
		assert.Zero(t, l.send(t, "c", "b", 9004, 20), "c→b")
		assert.Equal(t, 20, l.send(t, "a", "c", 9004, 20), "a→c")
		rules, err := Rules(l.r, "tbt_multi")
		require.NoError(t, err)
		assert.Contains(t, rules, "ip forward: ip saddr @from {198.18.61.1/32, 198.18.61.33/32} ip daddr @to {198.18.61.17/32} counter packets 40 bytes 1680 drop")
		assertGone(t, l.r, "tbt_multi")

		// b cut off from everyone: a set reaching the last address.
		all := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		require.NoError(t, Partition(l.b, "tbt_all", b, all, false))
		assert.Zero(t, l.send(t, "b", "a", 9004, 20), "b→a")
		assert.Zero(t, l.send(t, "c", "b", 9004, 20), "c→b")
		assert.Equal(t, 20, l.send(t, "c", "a", 9004, 20), "c→a")
		rules, err = Rules(l.b, "tbt_all")
		require.NoError(t, err)
		assert.Contains(t, rules[0], "@to {0.0.0.0/0}")
		assertGone(t, l.b, "tbt_all")
		assert.Equal(t, 20, l.send(t, "b", "a", 9004, 20), "b→a after delete")
	})

	t.Run("at the router (forward hook)", func(t *testing.T) {
		// a's subnet against b's subnet, enforced only by the router.
		from := []netip.Prefix{netip.MustParsePrefix("198.18.61.0/28")}
		to := []netip.Prefix{netip.MustParsePrefix("198.18.61.16/28")}
		require.NoError(t, Partition(l.r, "tbt_fwd", from, to, false))
		assert.Zero(t, l.send(t, "a", "b", 9003, 20), "a→b")
		assert.Zero(t, l.send(t, "b", "a", 9003, 20), "b→a")
		assert.Equal(t, 20, l.send(t, "a", "c", 9003, 20), "a→c")
		assert.Equal(t, 20, l.send(t, "b", "c", 9003, 20), "b→c")
		assert.Equal(t, 40, dropped(t, l.r, "tbt_fwd"))
		assertGone(t, l.r, "tbt_fwd")
		assert.Equal(t, 20, l.send(t, "a", "b", 9003, 20), "a→b after delete")
	})
}

func TestBlackhole(t *testing.T) {
	l := newLab(t)
	bHost := netip.PrefixFrom(addrB, 32)

	t.Run("port at the sender", func(t *testing.T) {
		require.NoError(t, Blackhole(l.a, "tbt_bh", bHost, "udp", 9999))
		assert.Zero(t, l.send(t, "a", "b", 9999, 20), "to 9999")
		assert.Equal(t, 20, l.send(t, "a", "b", 9998, 20), "to 9998")
		assert.Equal(t, 20, l.send(t, "c", "b", 9999, 20), "c to 9999 (not blackholed at c)")
		rules, err := Rules(l.a, "tbt_bh")
		require.NoError(t, err)
		t.Logf("Rules(a):\n%s", strings.Join(rules, "\n"))
		assert.Equal(t, []string{
			"ip output: meta l4proto udp ip daddr 198.18.61.17 th dport 9999 counter packets 20 bytes 840 drop",
			"ip forward: meta l4proto udp ip daddr 198.18.61.17 th dport 9999 counter packets 0 bytes 0 drop",
		}, rules)
		if out := nftList(t, l.a, "ip", "tbt_bh"); out != "" {
			t.Logf("nft list table ip tbt_bh (a):\n%s", out)
			assert.Contains(t, out, "ip daddr 198.18.61.17 udp dport 9999 counter packets 20 bytes 840 drop")
		}
		assertGone(t, l.a, "tbt_bh")
		assert.Equal(t, 20, l.send(t, "a", "b", 9999, 20), "to 9999 after delete")
	})

	t.Run("prefix at the router", func(t *testing.T) {
		require.NoError(t, Blackhole(l.r, "tbt_bh_fwd", netip.MustParsePrefix("198.18.61.20/28"), "", 0))
		assert.Zero(t, l.send(t, "a", "b", 9998, 20), "a→b")
		assert.Zero(t, l.send(t, "c", "b", 9998, 20), "c→b")
		assert.Equal(t, 20, l.send(t, "b", "c", 9998, 20), "b→c")
		rules, err := Rules(l.r, "tbt_bh_fwd")
		require.NoError(t, err)
		assert.Contains(t, rules, "ip forward: ip daddr 198.18.61.16/28 counter packets 40 bytes 1680 drop")
		if out := nftList(t, l.r, "ip", "tbt_bh_fwd"); out != "" {
			assert.Contains(t, out, "ip daddr 198.18.61.16/28 counter packets 40 bytes 1680 drop")
		}
		assertGone(t, l.r, "tbt_bh_fwd")
		assert.Equal(t, 20, l.send(t, "a", "b", 9998, 20), "a→b after delete")
	})
}

// lossBound is the half-width of the 99.9% two-sided normal-approximation
// interval of the number lost out of n at probability p.
func lossBound(n int, p float64) float64 {
	return 3.2905 * math.Sqrt(float64(n)*p*(1-p))
}

func TestLoss(t *testing.T) {
	l := newLab(t)
	const n = 1000
	require.Equal(t, n, l.send(t, "a", "b", 9100, n), "baseline without loss")

	cases := []struct {
		name, node, dir, mech string
		fallback              bool
	}{
		{"egress at a", "a", "egress", MechNetdevEgress, false},
		{"ingress at b", "b", "ingress", MechNetdevIngress, false},
		{"egress at a, ip fallback", "a", "egress", MechIPPostrouting, true},
		{"ingress at b, ip fallback", "b", "ingress", MechIPPrerouting, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forceLossFallback = c.fallback
			defer func() { forceLossFallback = false }()
			ns := l.ns(c.node)
			mech, err := Loss(ns, "tbt_loss", "eth0", 30, c.dir)
			require.NoError(t, err)
			assert.Equal(t, c.mech, mech)
			got := l.send(t, "a", "b", 9101, n)
			lost := n - got
			drops := dropped(t, ns, "tbt_loss")
			rules, err := Rules(ns, "tbt_loss")
			require.NoError(t, err)
			t.Logf("%s: %d/%d lost (%.3f, 99.9%% bound 0.30±%.3f), kernel counter %d; rules: %q",
				mech, lost, n, float64(lost)/n, lossBound(n, 0.3)/n, drops, rules)
			assert.InDelta(t, 0.3*n, float64(lost), lossBound(n, 0.3))
			assert.GreaterOrEqual(t, drops, lost, "kernel counter covers the lost datagrams")
			require.Len(t, rules, 1)
			assert.Contains(t, rules[0], "numgen random mod 10000 < 3000 counter packets")
			assertGone(t, ns, "tbt_loss")
		})
	}

	t.Run("100 percent", func(t *testing.T) {
		mech, err := Loss(l.a, "tbt_loss_all", "eth0", 100, "egress")
		require.NoError(t, err)
		assert.Equal(t, MechNetdevEgress, mech)
		assert.Zero(t, l.send(t, "a", "b", 9102, 200))
		if out := nftList(t, l.a, "netdev", "tbt_loss_all"); out != "" {
			t.Logf("nft list table netdev tbt_loss_all (a):\n%s", out)
			assert.Contains(t, out, "numgen random mod 10000 < 10000")
			assert.Contains(t, out, `hook egress device "eth0"`)
		}
		assertGone(t, l.a, "tbt_loss_all")
		assert.Equal(t, n, l.send(t, "a", "b", 9102, n), "baseline restored")
	})

	t.Run("missing interface", func(t *testing.T) {
		_, err := Loss(l.a, "tbt_loss_x", "nosuch0", 10, "egress")
		assert.ErrorContains(t, err, "interface nosuch0")
		ok, err := Exists(l.a, "tbt_loss_x")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}
