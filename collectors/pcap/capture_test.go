package pcap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors/anonymize"
	"github.com/tbctl/tbctl/internal/namespace"
)

// The live tests build a pair of network namespaces, pinned at
// /run/netns/tbtest-pcap-<pid>-<n>-{a,b}, joined by a veth pair:
//
//	a: pa 198.18.97.1/30 ── b: pb 198.18.97.2/30
//
// with IPv6 off (no router solicitations or DAD to count), and capture on
// pb. Nothing leaves the namespaces; they are deleted when the test ends.

var (
	addrA = netip.MustParseAddr("198.18.97.1")
	addrB = netip.MustParseAddr("198.18.97.2")
)

type lab struct {
	a, b         string // namespace paths
	nameA, nameB string // their names for ip netns exec
}

var labSeq atomic.Int32

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, a veth pair and packet sockets")
	}
}

func newLab(t testing.TB) *lab {
	t.Helper()
	needRoot(t)
	require.NoError(t, os.MkdirAll("/run/netns", 0o755))
	n := labSeq.Add(1)
	l := &lab{nameA: fmt.Sprintf("tbtest-pcap-%d-%d-a", os.Getpid(), n), nameB: fmt.Sprintf("tbtest-pcap-%d-%d-b", os.Getpid(), n)}
	l.a, l.b = "/run/netns/"+l.nameA, "/run/netns/"+l.nameB
	newNS(t, l.a)
	newNS(t, l.b)
	ha, hb := handle(t, l.a), handle(t, l.b)
	fb, err := netns.GetFromPath(l.b)
	require.NoError(t, err)
	defer fb.Close()
	require.NoError(t, ha.LinkAdd(&netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "pa"},
		PeerName:      "pb",
		PeerNamespace: netlink.NsFd(int(fb)),
	}))
	for _, s := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Addr
	}{{ha, "pa", addrA}, {hb, "pb", addrB}} {
		link, err := s.h.LinkByName(s.name)
		require.NoError(t, err)
		ipn := &net.IPNet{IP: s.addr.AsSlice(), Mask: net.CIDRMask(30, 32)}
		require.NoError(t, s.h.AddrAdd(link, &netlink.Addr{IPNet: ipn}))
		require.NoError(t, s.h.LinkSetUp(link))
	}
	return l
}

// newNS makes a network namespace pinned at path, with IPv6 off and lo up,
// and deletes it when the test ends.
func newNS(t testing.TB, path string) {
	t.Helper()
	err := namespace.InThread(func() error {
		if err := namespace.NewPinned(path); err != nil {
			return err
		}
		if err := namespace.DisableIPv6(); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	t.Cleanup(func() {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
	})
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	require.NoError(t, err, "namespace %s", path)
}

func handle(t testing.TB, path string) *netlink.Handle {
	t.Helper()
	fd, err := netns.GetFromPath(path)
	require.NoError(t, err)
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

// udpConn opens a UDP socket inside the namespace at path.
func udpConn(t testing.TB, path string, laddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	require.NoError(t, namespace.InThread(func() error {
		if err := namespace.Enter(path, unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(laddr)))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// sendUDP sends n datagrams of size bytes from a to b:9 (discarded by a
// listener there, so that b answers with no ICMP errors).
func (l *lab) sendUDP(t testing.TB, n, size int) {
	t.Helper()
	ca := udpConn(t, l.a, addrA.String()+":0")
	defer ca.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrB, 9))
	payload := make([]byte, size)
	for i := range n {
		if size >= 4 {
			binary.BigEndian.PutUint32(payload, uint32(i))
		}
		_, err := ca.WriteToUDP(payload, to)
		require.NoError(t, err)
	}
}

func (l *lab) listenB(t testing.TB) {
	udpConn(t, l.b, addrB.String()+":9")
}

// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

func waitDone(t testing.TB, c *Capture, within time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("capture still running after %v", within)
	}
}

func TestCapturePing(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	fds := openFDs(t)

	path := filepath.Join(dir, "ping.pcapng")
	short := filepath.Join(dir, "short.pcapng")
	begin := time.Now()
	c, err := Start(context.Background(), Spec{Node: "b", NS: l.b, Iface: "pb"}, path)
	require.NoError(t, err)
	cs, err := Start(context.Background(), Spec{Node: "b", NS: l.b, Iface: "pb", SnapLen: 60}, short)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.nameA, "ping", "-n", "-c", "5", "-i", "0.05", "-W", "2", addrB.String()).CombinedOutput()
	require.NoError(t, err, "ping: %s", out)

	st, err := c.Stop()
	require.NoError(t, err)
	end := time.Now()
	sts, err := cs.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonStopped, st.Reason)
	assert.Zero(t, st.Dropped)

	pkts, ifaces, err := ReadFile(path)
	require.NoError(t, err)
	require.Len(t, ifaces, 1)
	assert.Equal(t, Interface{LinkType: LinkTypeEthernet, SnapLen: DefaultSnapLen, Name: "pb", TSResol: 9}, ifaces[0])
	assert.Equal(t, int64(len(pkts)), st.Packets)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), st.Bytes)

	// Five echo requests in from a, five replies out to a, in order, each
	// complete (98 bytes is below the snap length).
	var requests, replies int
	var last time.Time
	for _, p := range pkts {
		assert.False(t, p.Time.Before(begin.Add(-time.Second)) || p.Time.After(end), "timestamp %v outside the capture", p.Time)
		assert.False(t, p.Time.Before(last), "timestamps go back")
		last = p.Time
		if len(p.Data) < 14+20+8 || binary.BigEndian.Uint16(p.Data[12:]) != 0x0800 || p.Data[14+9] != 1 {
			continue // ARP
		}
		ip := p.Data[14:]
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		assert.Equal(t, 98, p.OrigLen)
		assert.Len(t, p.Data, 98)
		verifyChecksums(t, ip, "ping")
		switch ip[20] {
		case 8: // echo request
			assert.Equal(t, addrA, src)
			assert.Equal(t, addrB, dst)
			assert.Equal(t, uint32(FlagInbound|FlagUnicast), p.Flags)
			assert.Equal(t, requests, int(binary.BigEndian.Uint16(ip[26:]))-1, "sequence number")
			requests++
		case 0: // echo reply
			assert.Equal(t, addrB, src)
			assert.Equal(t, addrA, dst)
			assert.Equal(t, uint32(FlagOutbound), p.Flags)
			replies++
		}
	}
	assert.Equal(t, 5, requests)
	assert.Equal(t, 5, replies)

	// The same packets cut to 60 bytes.
	spkts, _, err := ReadFile(short)
	require.NoError(t, err)
	assert.Equal(t, len(pkts), len(spkts))
	assert.Equal(t, int64(len(spkts)), sts.Packets)
	for i := range min(len(pkts), len(spkts)) {
		assert.Equal(t, pkts[i].OrigLen, spkts[i].OrigLen)
		assert.Equal(t, pkts[i].Data[:min(60, len(pkts[i].Data))], spkts[i].Data)
	}

	if lines, _, ok := tcpdumpRead(t, path); ok {
		assert.Len(t, lines, len(pkts))
		n := 0
		for _, line := range lines {
			if strings.Contains(line, "IP 198.18.97.1 > 198.18.97.2: ICMP echo request") {
				n++
			}
		}
		assert.Equal(t, 5, n, "tcpdump output:\n%v", lines)
	}

	// Anonymized, the same exchange between other addresses.
	anon := filepath.Join(dir, "anon.pcapng")
	a := anonymize.NewFromSecret([]byte("ping"))
	in, err := os.Open(path)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Anonymize(in, &buf, a))
	in.Close()
	require.NoError(t, os.WriteFile(anon, buf.Bytes(), 0o644))
	assert.False(t, bytes.Contains(buf.Bytes(), addrA.AsSlice()) || bytes.Contains(buf.Bytes(), addrB.AsSlice()))
	apkts, _, err := ReadFile(anon)
	require.NoError(t, err)
	require.Len(t, apkts, len(pkts))
	if lines, _, ok := tcpdumpRead(t, anon); ok {
		assert.Len(t, lines, len(pkts))
		want := fmt.Sprintf("IP %s > %s: ICMP echo request", a.Addr(addrA), a.Addr(addrB))
		n := 0
		for _, line := range lines {
			if strings.Contains(line, want) {
				n++
			}
		}
		assert.Equal(t, 5, n, "%q in tcpdump output:\n%v", want, lines)
	}

	// Nothing left behind: sockets, eventfds, files, goroutines.
	assert.Equal(t, fds, openFDs(t), "open file descriptors")
	assert.Eventually(t, func() bool { return !captureGoroutines() }, 2*time.Second, 10*time.Millisecond, "capture goroutines left running")
}

// captureGoroutines reports whether a goroutine of a capture is running.
func captureGoroutines() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "pcap.(*Capture)")
}

func TestCaptureMaxPackets(t *testing.T) {
	l := newLab(t)
	l.listenB(t)
	path := filepath.Join(t.TempDir(), "n.pcapng")
	c, err := Start(context.Background(), Spec{NS: l.b, Iface: "pb", MaxPackets: 3}, path)
	require.NoError(t, err)
	l.sendUDP(t, 10, 20)
	waitDone(t, c, 5*time.Second)
	st, err := c.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonMaxPackets, st.Reason)
	assert.Equal(t, int64(3), st.Packets)
	pkts, _, err := ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, pkts, 3)
}

func TestCaptureMaxBytes(t *testing.T) {
	l := newLab(t)
	l.listenB(t)
	l.sendUDP(t, 1, 1) // resolve b's address first: no ARP in the capture
	path := filepath.Join(t.TempDir(), "b.pcapng")
	// Room for the header and a little over 4 full-size packets: a block
	// of 128 bytes of packet is 28 + 128 + 16 bytes of options.
	const epb = 28 + 128 + 16
	h := newWriter(io.Discard)
	(&Capture{spec: Spec{Iface: "pb", SnapLen: DefaultSnapLen}}).writeHeader(h)
	maxBytes := h.n + 4*epb + epb/2
	c, err := Start(context.Background(), Spec{NS: l.b, Iface: "pb", MaxBytes: maxBytes}, path)
	require.NoError(t, err)
	l.sendUDP(t, 20, 200)
	waitDone(t, c, 5*time.Second)
	st, err := c.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonMaxBytes, st.Reason)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), st.Bytes)
	assert.LessOrEqual(t, fi.Size(), maxBytes)
	assert.Equal(t, h.n+4*epb, fi.Size())
	pkts, _, err := ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, pkts, 4)
	for _, p := range pkts {
		assert.Len(t, p.Data, 128)
		assert.Equal(t, 14+20+8+200, p.OrigLen)
	}

	// A limit below the header is refused, and nothing is created.
	_, err = Start(context.Background(), Spec{NS: l.b, Iface: "pb", MaxBytes: 50}, path+".x")
	assert.ErrorContains(t, err, "MaxBytes")
	assert.NoFileExists(t, path+".x")
}

func TestCaptureEnds(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	fds := openFDs(t)

	// MaxDuration.
	begin := time.Now()
	c, err := Start(context.Background(), Spec{NS: l.b, Iface: "pb", MaxDuration: 300 * time.Millisecond}, filepath.Join(dir, "d.pcapng"))
	require.NoError(t, err)
	waitDone(t, c, 3*time.Second)
	assert.GreaterOrEqual(t, time.Since(begin), 300*time.Millisecond)
	st, err := c.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonMaxDuration, st.Reason)

	// The context.
	ctx, cancel := context.WithCancel(context.Background())
	c, err = Start(ctx, Spec{NS: l.b, Iface: "pb"}, filepath.Join(dir, "c.pcapng"))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	cancel()
	waitDone(t, c, time.Second)
	st, err = c.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonContext, st.Reason)

	// Stop, from several goroutines at once, then again: one result.
	c, err = Start(context.Background(), Spec{NS: l.b, Iface: "pb"}, filepath.Join(dir, "s.pcapng"))
	require.NoError(t, err)
	l.sendUDP(t, 5, 10)
	var wg sync.WaitGroup
	results := make([]Stats, 4)
	stopped := time.Now()
	for i := range results {
		wg.Go(func() {
			s, err := c.Stop()
			assert.NoError(t, err)
			results[i] = s
		})
	}
	wg.Wait()
	assert.Less(t, time.Since(stopped), time.Second, "Stop is prompt")
	again, err := c.Stop()
	require.NoError(t, err)
	for _, r := range results {
		assert.Equal(t, again, r)
	}
	assert.Equal(t, ReasonStopped, again.Reason)
	assert.GreaterOrEqual(t, again.Packets, int64(5), "the datagrams (and the ARP exchange)")

	// Bad interface or namespace: an error, nothing left open or created.
	_, err = Start(context.Background(), Spec{NS: l.b, Iface: "nosuch0"}, filepath.Join(dir, "x.pcapng"))
	assert.ErrorContains(t, err, "nosuch0")
	_, err = Start(context.Background(), Spec{NS: "/run/netns/tbtest-pcap-absent", Iface: "pb"}, filepath.Join(dir, "x.pcapng"))
	assert.ErrorContains(t, err, "tbtest-pcap-absent")
	assert.NoFileExists(t, filepath.Join(dir, "x.pcapng"))
	assert.Equal(t, fds, openFDs(t), "open file descriptors")
}

// TestCaptureCooked captures on a tun device, which has no link-layer
// header: the file holds Linux cooked frames.
func TestCaptureCooked(t *testing.T) {
	needRoot(t)
	path := fmt.Sprintf("/run/netns/tbtest-pcap-%d-%d-tun", os.Getpid(), labSeq.Add(1))
	newNS(t, path)
	var tun *os.File
	err := namespace.InThread(func() error {
		if err := namespace.Enter(path, unix.CLONE_NEWNET); err != nil {
			return err
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, _ := unix.NewIfreq("tbtun0")
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		tun = os.NewFile(uintptr(fd), "tun")
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no tun device here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { tun.Close() })
	h := handle(t, path)
	link, err := h.LinkByName("tbtun0")
	require.NoError(t, err)
	local, peer := netip.MustParseAddr("198.18.98.1"), netip.MustParseAddr("198.18.98.2")
	require.NoError(t, h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: local.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	require.NoError(t, h.LinkSetUp(link))

	file := filepath.Join(t.TempDir(), "tun.pcapng")
	c, err := Start(context.Background(), Spec{NS: path, Iface: "tbtun0"}, file)
	require.NoError(t, err)
	// Three datagrams in from the peer; nothing listens, so the node
	// answers each with an ICMP port unreachable, out through tbtun0.
	for i := range 3 {
		_, err := tun.Write(ipv4(peer, local, 17, udp(peer, local, 1234, 9, []byte{byte(i)})))
		require.NoError(t, err)
	}
	time.Sleep(50 * time.Millisecond)
	st, err := c.Stop()
	require.NoError(t, err)
	assert.Equal(t, int64(6), st.Packets)

	pkts, ifaces, err := ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, []Interface{{LinkType: LinkTypeLinuxSLL, SnapLen: DefaultSnapLen, Name: "tbtun0", TSResol: 9}}, ifaces)
	var in, out int
	for _, p := range pkts {
		require.Greater(t, len(p.Data), 16+20)
		assert.Equal(t, uint16(unix.ARPHRD_NONE), binary.BigEndian.Uint16(p.Data[2:]), "hardware type")
		assert.Equal(t, uint16(0x0800), binary.BigEndian.Uint16(p.Data[14:]), "protocol")
		assert.Equal(t, len(p.Data), p.OrigLen)
		ip := p.Data[16:]
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		switch binary.BigEndian.Uint16(p.Data[0:]) {
		case unix.PACKET_HOST:
			assert.Equal(t, uint32(FlagInbound|FlagUnicast), p.Flags)
			assert.Equal(t, []netip.Addr{peer, local}, []netip.Addr{src, dst})
			assert.Equal(t, byte(17), ip[9])
			in++
		case unix.PACKET_OUTGOING:
			assert.Equal(t, uint32(FlagOutbound), p.Flags)
			assert.Equal(t, []netip.Addr{local, peer}, []netip.Addr{src, dst})
			assert.Equal(t, byte(1), ip[9])
			out++
		}
	}
	assert.Equal(t, 3, in)
	assert.Equal(t, 3, out)
	if lines, _, ok := tcpdumpRead(t, file); ok {
		assert.Len(t, lines, 6)
		assert.Contains(t, lines[0], "IP 198.18.98.2.1234 > 198.18.98.1.9: UDP, length 1")
	}

	// Cooked frames anonymize too.
	a := anonymize.NewFromSecret([]byte("tun"))
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Anonymize(bytes.NewReader(raw), &buf, a))
	r := NewReader(&buf)
	p, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, a.Addr(peer).AsSlice(), p.Data[16+12:16+16])
	assert.Equal(t, a.Addr(local).AsSlice(), p.Data[16+16:16+20])
	verifyChecksums(t, p.Data[16:], "anonymized datagram")
}

// BenchmarkCapture sends b.N 64-byte datagrams from a to b as fast as
// four senders can and captures them on pb; it reports the packets
// written and dropped per second of sending.
func BenchmarkCapture(b *testing.B) {
	l := newLab(b)
	l.listenB(b)
	l.sendUDP(b, 1, 1) // resolve b's address first
	path := filepath.Join(b.TempDir(), "bench.pcapng")
	c, err := Start(context.Background(), Spec{NS: l.b, Iface: "pb", MaxBytes: -1}, path)
	require.NoError(b, err)
	const senders = 4
	conns := make([]*net.UDPConn, senders)
	for i := range conns {
		conns[i] = udpConn(b, l.a, addrA.String()+":0")
	}
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrB, 9))
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Go(func() {
			payload := make([]byte, 64)
			for range b.N/senders + int(boolInt(i < b.N%senders)) {
				conn.WriteToUDP(payload, to)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	st, err := c.Stop()
	b.StopTimer()
	require.NoError(b, err)
	b.ReportMetric(float64(st.Packets)/elapsed.Seconds(), "written/s")
	b.ReportMetric(float64(st.Dropped)/elapsed.Seconds(), "dropped/s")
	b.ReportMetric(float64(st.Packets+st.Dropped)/float64(b.N), "seen/sent")
}

// TestCaptureLinkFlap: a capture survives its interface going down and up
// again (a fault a lab may inject), and goes on capturing.
func TestCaptureLinkFlap(t *testing.T) {
	l := newLab(t)
	l.listenB(t)
	path := filepath.Join(t.TempDir(), "flap.pcapng")
	c, err := Start(context.Background(), Spec{NS: l.b, Iface: "pb"}, path)
	require.NoError(t, err)
	hb := handle(t, l.b)
	link, err := hb.LinkByName("pb")
	require.NoError(t, err)
	require.NoError(t, hb.LinkSetDown(link))
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	time.Sleep(200 * time.Millisecond)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	assert.Less(t, cpu, 100*time.Millisecond, "CPU used while the link was down: the reader must not spin")
	require.NoError(t, hb.LinkSetUp(link))
	select {
	case <-c.Done():
		t.Fatal("the capture ended when its link went down")
	default:
	}
	time.Sleep(100 * time.Millisecond) // for the veth pair to come up
	l.sendUDP(t, 5, 77)
	st, err := c.Stop()
	require.NoError(t, err)
	assert.Equal(t, ReasonStopped, st.Reason)
	pkts, _, err := ReadFile(path)
	require.NoError(t, err)
	n := 0
	for _, p := range pkts {
		if p.OrigLen == 14+20+8+77 {
			n++
		}
	}
	assert.Equal(t, 5, n, "datagrams captured after the link came back")
}
