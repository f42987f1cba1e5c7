package linkem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
)

// TestMain lets the test binary serve as `tbctl fault relay`, which Insert
// starts from os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) == 5 && os.Args[1] == "fault" && os.Args[2] == "relay" && os.Args[3] == "--config" {
		cfg, err := ParseRelayConfig(os.Args[4])
		if os.Getenv("LINKEM_TEST_RELAY_FAILS") != "" {
			err = errors.New("failing as the test asked")
		}
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			err = RunRelay(ctx, cfg)
			stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testbed is two namespaces joined by a veth pair: A has eth1
// 198.18.60.1/30, B has eth1 198.18.60.2/30, a second veth with 198.18.63.1/30,
// a static route and a multipath route through eth1.
type testbed struct {
	dir  string
	link Link
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs")
	}
	if err := namespace.InThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }); err != nil {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
}

func newTestbed(t *testing.T, bridge bool) *testbed {
	needRoot(t)
	dir := t.TempDir()
	tb := &testbed{dir: dir, link: Link{NSA: filepath.Join(dir, "nsA"), IfA: "eth1", NSB: filepath.Join(dir, "nsB"), IfB: "eth1"}}
	for _, p := range []string{tb.link.NSA, tb.link.NSB} {
		require.NoError(t, createHidden(p))
		t.Cleanup(func() { unpin(p) })
	}
	ha, fa, err := openNS(tb.link.NSA)
	require.NoError(t, err)
	defer ha.Close()
	defer fa.Close()
	hb, fb, err := openNS(tb.link.NSB)
	require.NoError(t, err)
	defer hb.Close()
	defer fb.Close()
	mustAddr := func(h *netlink.Handle, ln netlink.Link, cidr string) {
		a, err := netlink.ParseAddr(cidr)
		require.NoError(t, err)
		require.NoError(t, h.AddrAdd(ln, a))
	}
	require.NoError(t, ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", Index: 1 << 16}, PeerName: "eth1", PeerNamespace: netlink.NsFd(int(fb))}))
	a, err := ha.LinkByName("eth1")
	require.NoError(t, err)
	mustAddr(ha, a, "198.18.60.1/30")
	require.NoError(t, ha.LinkSetUp(a))
	b, err := hb.LinkByName("eth1")
	require.NoError(t, err)
	if bridge {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
		require.NoError(t, hb.LinkAdd(br))
		require.NoError(t, hb.LinkSetMaster(b, br))
		mustAddr(hb, br, "198.18.60.2/30")
		require.NoError(t, hb.LinkSetUp(br))
		require.NoError(t, hb.LinkSetUp(b))
		return tb
	}
	mustAddr(hb, b, "198.18.60.2/30")
	require.NoError(t, hb.LinkSetUp(b))
	// A second path for the multipath route (this kernel may lack dummy).
	d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dum0", Index: 1<<16 + 1}, PeerName: "dum0p"}
	require.NoError(t, hb.LinkAdd(d))
	dp, err := hb.LinkByName("dum0p")
	require.NoError(t, err)
	require.NoError(t, hb.LinkSetUp(dp))
	mustAddr(hb, d, "198.18.63.1/30")
	require.NoError(t, hb.LinkSetUp(d))
	_, dst1, _ := net.ParseCIDR("198.18.61.0/24")
	require.NoError(t, hb.RouteAdd(&netlink.Route{Dst: dst1, Gw: net.ParseIP("198.18.60.1"), LinkIndex: b.Attrs().Index}))
	_, dst2, _ := net.ParseCIDR("198.18.62.0/24")
	require.NoError(t, hb.RouteAdd(&netlink.Route{Dst: dst2, MultiPath: []*netlink.NexthopInfo{
		{LinkIndex: b.Attrs().Index, Gw: net.ParseIP("198.18.60.1")},
		{LinkIndex: d.Attrs().Index, Gw: net.ParseIP("198.18.63.2"), Hops: 1},
	}}))
	return tb
}

// snapB is what end B's namespace shows of eth1, minus its peer.
func (tb *testbed) snapB(t *testing.T) Iface {
	hb, fb, err := openNS(tb.link.NSB)
	require.NoError(t, err)
	defer hb.Close()
	defer fb.Close()
	ln, err := hb.LinkByName("eth1")
	require.NoError(t, err)
	f, err := snapshot(hb, ln)
	require.NoError(t, err)
	f.PeerIndex = 0
	return f
}

// inNS runs fn on a thread in a namespace; sockets made there stay there.
func inNS(path string, fn func() error) error {
	return namespace.InThread(func() error {
		if err := namespace.Enter(path, unix.CLONE_NEWNET); err != nil {
			return err
		}
		return fn()
	})
}

// echo serves UDP echo in namespace A on 198.18.60.1:7000 until the test
// ends; it returns a counter of datagrams received.
func (tb *testbed) echo(t *testing.T) *atomic.Int64 {
	var c *net.UDPConn
	require.NoError(t, inNS(tb.link.NSA, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("198.18.60.1"), Port: 7000})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	n := new(atomic.Int64)
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			n.Add(1)
			if buf[0] == 'E' {
				c.WriteToUDP(buf[:k], from)
			}
		}
	}()
	return n
}

// client dials the echo server from namespace B.
func (tb *testbed) client(t *testing.T) *net.UDPConn {
	var c *net.UDPConn
	require.NoError(t, inNS(tb.link.NSB, func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP("198.18.60.1"), Port: 7000})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// rtt measures the median round trip of n echoes, spaced by gap; lost
// echoes do not count.
func rtt(t *testing.T, c *net.UDPConn, n int, gap time.Duration) time.Duration {
	var rs []time.Duration
	buf := make([]byte, 2048)
	for i := range n {
		msg := []byte(fmt.Sprintf("E%06d", i))
		start := time.Now()
		_, err := c.Write(msg)
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			if string(buf[:k]) == string(msg) {
				rs = append(rs, time.Since(start))
				break
			}
		}
		time.Sleep(gap)
	}
	require.NotEmpty(t, rs, "no echo came back")
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	return rs[len(rs)/2]
}

func TestInsertRemove(t *testing.T) {
	tb := newTestbed(t, false)
	tb.echo(t)
	c := tb.client(t)
	base := rtt(t, c, 50, time.Millisecond)
	before := tb.snapB(t)
	require.Len(t, before.Routes, 2, "the static and the multipath route")

	blip := time.Now()
	s, err := Insert(tb.link, Impairment{}, filepath.Join(tb.dir, "emu"))
	require.NoError(t, err)
	t.Logf("insert took %s", time.Since(blip))
	t.Cleanup(func() { Remove(s) })
	require.NoError(t, Verify(s))
	assert.Equal(t, before, tb.snapB(t), "B's interface, addresses and routes")
	assert.True(t, pinned(s.NSPath))
	_, err = os.Stat("/run/netns/linkem-ns")
	assert.True(t, os.IsNotExist(err))

	through := rtt(t, c, 50, time.Millisecond)
	t.Logf("median RTT: plain veth %s, through the emulator %s", base, through)
	assert.Less(t, through-base, time.Millisecond)

	// Delay one direction: the round trip grows by the delay.
	require.NoError(t, Update(s, Impairment{Direction: AtoB, Delay: 20 * time.Millisecond}))
	delayed := rtt(t, c, 30, time.Millisecond)
	t.Logf("median RTT with 20ms a-to-b: %s (+%s)", delayed, delayed-through)
	assert.InDelta(t, float64(20*time.Millisecond), float64(delayed-through), float64(time.Millisecond))

	// Both directions: twice.
	require.NoError(t, Update(s, Impairment{Delay: 10 * time.Millisecond}))
	delayed = rtt(t, c, 20, time.Millisecond)
	t.Logf("median RTT with 10ms both ways: %s (+%s)", delayed, delayed-through)
	assert.InDelta(t, float64(20*time.Millisecond), float64(delayed-through), float64(time.Millisecond))

	// Remove from a State read back from JSON, as another process would.
	loaded, err := LoadState(s.StateFile())
	require.NoError(t, err)
	require.NoError(t, Remove(loaded))
	require.NoError(t, VerifyRemoved(loaded))
	require.NoError(t, Remove(loaded), "a second Remove")
	after := tb.snapB(t)
	assert.Equal(t, before, after)
	_, err = os.Stat(s.NSPath)
	assert.True(t, os.IsNotExist(err))
	back := rtt(t, c, 50, time.Millisecond)
	t.Logf("median RTT after removal: %s", back)
	assert.Less(t, back-base, 200*time.Microsecond)
}

func TestLossCorruptDuplicate(t *testing.T) {
	tb := newTestbed(t, false)
	got := tb.echo(t)
	c := tb.client(t)
	rtt(t, c, 3, 0) // ARP
	s, err := Insert(tb.link, Impairment{Direction: BtoA, LossPct: 30, Seed: 42}, filepath.Join(tb.dir, "emu"))
	require.NoError(t, err)
	defer Remove(s)
	got.Store(0)
	const n = 400
	for range n {
		_, err := c.Write([]byte("D"))
		require.NoError(t, err)
		time.Sleep(200 * time.Microsecond)
	}
	time.Sleep(100 * time.Millisecond)
	// 99% two-sided binomial bound around 0.7·n.
	mean, sd := 0.7*n, math.Sqrt(n*0.7*0.3)
	t.Logf("%d of %d datagrams through at 30%% loss (99%% bounds %.0f-%.0f)", got.Load(), n, mean-2.576*sd, mean+2.576*sd)
	assert.InDelta(t, mean, float64(got.Load()), 2.576*sd)
	st := freshStats(t, s, time.Now())
	t.Logf("relay b-to-a: %+v", st.BtoA)
	assert.InDelta(t, n-got.Load(), st.BtoA.Lost, 2, "counted losses (ARP frames cross too)")

	// Every datagram corrupted: UDP's checksum catches each one, as the
	// relay computes checksums left to the device before flipping a bit.
	require.NoError(t, Update(s, Impairment{Direction: BtoA, CorruptPct: 100}))
	got.Store(0)
	for range 50 {
		_, err := c.Write([]byte("D0123456789"))
		require.NoError(t, err)
	}
	time.Sleep(50 * time.Millisecond)
	t.Logf("%d of 50 corrupted datagrams accepted by UDP", got.Load())
	assert.Zero(t, got.Load())

	// Every datagram duplicated.
	require.NoError(t, Update(s, Impairment{Direction: BtoA, DuplicatePct: 100}))
	got.Store(0)
	for range 50 {
		_, err := c.Write([]byte("D"))
		require.NoError(t, err)
	}
	time.Sleep(50 * time.Millisecond)
	assert.EqualValues(t, 100, got.Load())
	require.NoError(t, Remove(s))
	require.NoError(t, VerifyRemoved(s))
}

func TestRate(t *testing.T) {
	tb := newTestbed(t, false)
	var ln net.Listener
	require.NoError(t, inNS(tb.link.NSB, func() (err error) {
		ln, err = net.Listen("tcp4", "198.18.60.2:7001")
		return err
	}))
	defer ln.Close()
	s, err := Insert(tb.link, Impairment{Direction: AtoB, RateMbps: 50}, filepath.Join(tb.dir, "emu"))
	require.NoError(t, err)
	defer Remove(s)

	const size = 12_500_000 // 2 s at 50 Mbit/s
	type result struct {
		n   int64
		dur time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1<<16)
		k, err := io.ReadFull(c, buf[:1])
		start := time.Now()
		n, err2 := io.CopyBuffer(io.Discard, c, buf)
		done <- result{n: int64(k) + n, dur: time.Since(start), err: errors.Join(err, err2)}
	}()
	var c net.Conn
	require.NoError(t, inNS(tb.link.NSA, func() (err error) {
		c, err = net.Dial("tcp4", "198.18.60.2:7001")
		return err
	}))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write(make([]byte, size))
	require.NoError(t, err)
	c.Close()
	r := <-done
	require.NoError(t, r.err)
	require.EqualValues(t, size, r.n)
	mbps := float64(r.n-1) * 8 / r.dur.Seconds() / 1e6
	// Frames on the wire: Ethernet, IP and TCP headers on every 1448 bytes.
	wire := mbps * (14 + 20 + 32 + 1448) / 1448
	st, _ := ReadStats(s)
	t.Logf("rate 50 Mbit/s: TCP goodput %.2f Mbit/s (%d bytes in %s), %.2f Mbit/s of frames; relay a-to-b: %+v", mbps, r.n, r.dur, wire, st.AtoB)
	// As netem does, the rate counts whole frames: TCP with timestamps gets
	// at most 1448/1514 of it.
	assert.InDelta(t, 50*1448.0/1514, mbps, 50*1448.0/1514*0.05, "goodput within 5% of what 50 Mbit/s of frames carries")
	assert.InDelta(t, 50, wire, 2.5, "frames within 5%")
}

// freshStats waits for the relay's counters written after t0.
func freshStats(t *testing.T, s *State, t0 time.Time) Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := ReadStats(s)
		if err == nil && st.Time.After(t0) {
			return st
		}
		require.True(t, time.Now().Before(deadline), "no fresh stats from the relay")
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBridgeAndKilledRelay(t *testing.T) {
	tb := newTestbed(t, true)
	tb.echo(t)
	c := tb.client(t)
	base := rtt(t, c, 10, time.Millisecond)
	before := tb.snapB(t)
	require.Equal(t, "br0", before.Master)
	s, err := Insert(tb.link, Impairment{}, filepath.Join(tb.dir, "emu"))
	require.NoError(t, err)
	assert.Equal(t, before, tb.snapB(t))
	through := rtt(t, c, 10, time.Millisecond)
	t.Logf("median RTT through a bridge port: %s, with the emulator %s", base, through)

	// A relay killed outright (as with a crashed tbctl's machine) is
	// healed by Remove.
	require.NoError(t, unix.Kill(s.RelayPID, unix.SIGKILL))
	for relayAlive(s) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Error(t, Verify(s))
	require.NoError(t, Remove(s))
	require.NoError(t, VerifyRemoved(s))
	assert.Equal(t, before, tb.snapB(t))
	rtt(t, c, 5, time.Millisecond)
}

func TestInsertFailureUndoes(t *testing.T) {
	tb := newTestbed(t, false)
	tb.echo(t)
	c := tb.client(t)
	before := tb.snapB(t)
	t.Setenv("LINKEM_TEST_RELAY_FAILS", "1")
	s, err := Insert(tb.link, Impairment{}, filepath.Join(tb.dir, "emu"))
	require.Error(t, err)
	assert.Nil(t, s)
	t.Logf("insert: %v", err)
	assert.Contains(t, err.Error(), "failing as the test asked")
	assert.Equal(t, before, tb.snapB(t))
	_, err = os.Stat(filepath.Join(tb.dir, "emu", "linkem-ns"))
	assert.True(t, os.IsNotExist(err))
	rtt(t, c, 5, time.Millisecond)
}
