package qdisc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/internal/namespace"
)

func TestObject(t *testing.T) {
	for _, c := range []struct {
		handle, parent uint32
		want           string
	}{
		{0x10000, netlink.HANDLE_ROOT, "eth0:tbf:1:0"},
		{0xffff0000, 0xfffffff1, "eth0:tbf:ffff:0"},
		{0x80010000, 0x10001, "eth0:tbf:8001:0"},
		{0, netlink.HANDLE_ROOT, "eth0:tbf:0:0"},
		{0, 0x00000002, "eth0:tbf:0:0@0:2"},
	} {
		require.Equal(t, c.want, Object("eth0", "tbf", c.handle, c.parent))
	}
}

// attr encodes one netlink attribute, padded to four bytes.
func attr(typ uint16, value []byte) []byte {
	b := make([]byte, 4, 4+len(value)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(value)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, value...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseQdisc(t *testing.T) {
	msg := make([]byte, nl.SizeofTcMsg)
	binary.NativeEndian.PutUint32(msg[4:], 7)           // ifindex
	binary.NativeEndian.PutUint32(msg[8:], 0x10000)     // handle 1:0
	binary.NativeEndian.PutUint32(msg[12:], 0xffffffff) // root
	msg = append(msg, attr(nl.TCA_KIND, []byte("tbf\x00"))...)
	basic := make([]byte, 16)
	binary.NativeEndian.PutUint64(basic, 123456789012)
	binary.NativeEndian.PutUint32(basic[8:], 0xffffffff)
	queue := make([]byte, 20)
	for i, v := range []uint32{3, 4500, 17, 2, 99} {
		binary.NativeEndian.PutUint32(queue[4*i:], v)
	}
	pkt64 := binary.NativeEndian.AppendUint64(nil, 1<<33)
	var stats2 []byte
	stats2 = append(stats2, attr(nl.TCA_STATS_BASIC, basic)...)
	stats2 = append(stats2, attr(nl.TCA_STATS_QUEUE, queue)...)
	stats2 = append(stats2, attr(nl.TCA_STATS_PKT64, pkt64)...)
	msg = append(msg, attr(nl.TCA_STATS2|nl.NLA_F_NESTED, stats2)...)

	q, ok, err := parseQdisc(msg)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, qdiscStats{
		ifindex: 7, handle: 0x10000, parent: 0xffffffff, kind: "tbf",
		bytes: 123456789012, packets: 1 << 33,
		qlen: 3, backlog: 4500, drops: 17, requeues: 2, overlimits: 99,
	}, q)

	_, ok, err = parseQdisc(msg[:nl.SizeofTcMsg+8]) // the kind only
	require.NoError(t, err)
	require.False(t, ok, "a qdisc without statistics")
}

// newNS creates a network namespace pinned at /run/netns/<name>, with
// IPv6 off so that nothing but the test sends on its interfaces, and
// removes it when the test ends.
func newNS(t testing.TB, name string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll("/run/netns", 0o755))
	path := filepath.Join("/run/netns", name)
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
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
	})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	require.NoError(t, err)
	return path
}

// udpSocket opens a UDP socket inside the namespace at path.
func udpSocket(t *testing.T, path string) int {
	t.Helper()
	fd := -1
	require.NoError(t, namespace.InThread(func() error {
		if err := namespace.Enter(path, unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}))
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// addVeth adds a veth pair, name and name+"p", both up, name with an
// address and ARP off so that what is sent to its subnet goes straight
// through its qdisc (and is dropped by the peer, which has no address).
func addVeth(t testing.TB, h *netlink.Handle, name, prefix string) {
	t.Helper()
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}))
	l, err := h.LinkByName(name)
	require.NoError(t, err)
	peer, err := h.LinkByName(name + "p")
	require.NoError(t, err)
	addr, err := netlink.ParseAddr(prefix)
	require.NoError(t, err)
	require.NoError(t, h.AddrAdd(l, addr))
	require.NoError(t, h.LinkSetARPOff(l))
	require.NoError(t, h.LinkSetUp(peer))
	require.NoError(t, h.LinkSetUp(l))
}

func tc(t testing.TB, ns string, args ...string) {
	t.Helper()
	out, err := exec.Command("tc", append([]string{"-n", ns}, args...)...).CombinedOutput()
	require.NoError(t, err, "tc %v: %s", args, out)
}

// byObject indexes samples by object and metric, checking that each
// appears once and comes from the node and source expected.
func byObject(t *testing.T, samples []collectors.Sample, node string) map[string]map[string]float64 {
	t.Helper()
	m := map[string]map[string]float64{}
	for _, s := range samples {
		require.Equal(t, "qdisc", s.Source)
		require.Equal(t, node, s.Node)
		if m[s.Object] == nil {
			m[s.Object] = map[string]float64{}
		}
		_, dup := m[s.Object][s.Metric]
		require.False(t, dup, "%s %s twice", s.Object, s.Metric)
		m[s.Object][s.Metric] = s.Value
	}
	return m
}

var metrics = []string{"bytes", "packets", "drops", "overlimits", "requeues", "backlog_bytes", "qlen"}

func TestSampleTBF(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace, interfaces and qdiscs")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("needs tc (iproute2)")
	}
	name := fmt.Sprintf("tbtest-qdisc-%d", os.Getpid())
	path := newNS(t, name)
	fd, err := netns.GetFromPath(path)
	require.NoError(t, err)
	h, err := netlink.NewHandleAt(fd)
	fd.Close()
	require.NoError(t, err)
	defer h.Close()

	addVeth(t, h, "d0", "198.18.0.1/24")
	tc(t, name, "qdisc", "add", "dev", "d0", "root", "handle", "1:", "tbf", "rate", "10mbit", "burst", "32kb", "latency", "50ms")

	s, err := Open([]Node{{Name: "n1", NS: path}})
	require.NoError(t, err)
	defer s.Close()

	samples, err := s.Sample()
	require.NoError(t, err)
	got := byObject(t, samples, "n1")
	require.Contains(t, got, "d0:tbf:1:0")
	for _, m := range metrics {
		require.Contains(t, got["d0:tbf:1:0"], m)
		require.Zero(t, got["d0:tbf:1:0"][m], m)
	}
	for o := range got {
		require.NotRegexp(t, "^lo:", o, "loopback is left out")
	}

	// A burst of 300 datagrams of 1400 bytes (1442 on the wire) at a
	// 10 Mbit/s bucket of 32 KB, whose queue holds 50 ms: most are
	// dropped, some wait. Every datagram the socket took was sent,
	// dropped or is queued.
	sock := udpSocket(t, path)
	const frame = 1400 + 8 + 20 + 14
	payload := make([]byte, 1400)
	to := &unix.SockaddrInet4{Port: 9, Addr: netip.MustParseAddr("198.18.0.2").As4()}
	sent := 0
	for range 300 {
		if err := unix.Sendto(sock, payload, unix.MSG_DONTWAIT, to); err == nil {
			sent++
		}
	}
	require.Greater(t, sent, 100)
	samples, err = s.Sample()
	require.NoError(t, err)
	tbf := byObject(t, samples, "n1")["d0:tbf:1:0"]
	t.Logf("after a burst of %d: %v", sent, tbf)
	require.Equal(t, float64(sent), tbf["packets"]+tbf["drops"]+tbf["qlen"], "sent = dequeued + dropped + queued")
	require.Equal(t, tbf["packets"]*frame, tbf["bytes"])
	require.Equal(t, tbf["qlen"]*frame, tbf["backlog_bytes"])
	require.Greater(t, tbf["drops"], 0.0)
	require.Greater(t, tbf["overlimits"], 0.0)
	require.GreaterOrEqual(t, tbf["packets"], float64(32*1024/frame), "the bucket's burst passes at once")
	require.LessOrEqual(t, tbf["backlog_bytes"], 10e6/8*0.05+32*1024, "the queue holds at most rate×latency+burst")

	// An interface that appears later is found, and once the queue has
	// drained every value equals what netlink.QdiscList reads.
	addVeth(t, h, "d1", "198.18.1.1/24")
	tc(t, name, "qdisc", "add", "dev", "d1", "root", "handle", "2:", "pfifo", "limit", "100")
	time.Sleep(300 * time.Millisecond)
	samples, err = s.Sample()
	require.NoError(t, err)
	got = byObject(t, samples, "n1")
	require.Contains(t, got, "d1:pfifo:2:0")
	tbf = got["d0:tbf:1:0"]
	require.Zero(t, tbf["qlen"])
	require.Zero(t, tbf["backlog_bytes"])
	require.Equal(t, float64(sent), tbf["packets"]+tbf["drops"])

	qdiscs, err := h.QdiscList(nil)
	require.NoError(t, err)
	want := 0
	for _, q := range qdiscs {
		a := q.Attrs()
		l, err := h.LinkByIndex(a.LinkIndex)
		require.NoError(t, err)
		if l.Attrs().Name == "lo" {
			continue
		}
		want++
		o := Object(l.Attrs().Name, q.Type(), a.Handle, a.Parent)
		require.Contains(t, got, o)
		st := a.Statistics
		for m, v := range map[string]uint64{
			"bytes": st.Basic.Bytes, "packets": uint64(st.Basic.Packets),
			"drops": uint64(st.Queue.Drops), "overlimits": uint64(st.Queue.Overlimits),
			"requeues": uint64(st.Queue.Requeues), "backlog_bytes": uint64(st.Queue.Backlog),
			"qlen": uint64(st.Queue.Qlen),
		} {
			require.Equal(t, float64(v), got[o][m], "%s %s", o, m)
		}
	}
	require.Len(t, got, want)
}

// BenchmarkSample samples one node with a veth pair and a tbf qdisc.
func BenchmarkSample(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates a network namespace")
	}
	name := fmt.Sprintf("tbbench-qdisc-%d", os.Getpid())
	path := newNS(b, name)
	fd, err := netns.GetFromPath(path)
	require.NoError(b, err)
	h, err := netlink.NewHandleAt(fd)
	fd.Close()
	require.NoError(b, err)
	defer h.Close()
	addVeth(b, h, "d0", "198.18.0.1/24")
	tc(b, name, "qdisc", "add", "dev", "d0", "root", "handle", "1:", "tbf", "rate", "10mbit", "burst", "32kb", "latency", "50ms")
	s, err := Open([]Node{{Name: "n1", NS: path}})
	require.NoError(b, err)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}
