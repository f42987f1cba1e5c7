package linkem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBenchLinkemVsVeth compares a plain veth with the same veth through
// the emulator (zero impairment): iperf3 TCP throughput and ping RTT. Run
// by bench/linkem-vs-veth.sh (LINKEM_BENCH=1).
func TestBenchLinkemVsVeth(t *testing.T) {
	if os.Getenv("LINKEM_BENCH") == "" {
		t.Skip("a benchmark: run bench/linkem-vs-veth.sh (or set LINKEM_BENCH=1)")
	}
	for _, b := range []string{"iperf3", "ping"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s", b)
		}
	}
	secs := envInt("LINKEM_BENCH_SECONDS", 5)
	for _, gso := range []bool{true, false} {
		tb := newTestbed(t, false)
		mode := "TSO/GSO on (veth default)"
		if !gso {
			mode = "TSO/GSO off on the sender: 1514-byte frames"
		}
		fmt.Printf("== %s\n", mode)
		measure := func(label string) (float64, time.Duration) {
			if !gso {
				require.NoError(t, tb.offloadsOff())
			}
			gbps := tb.iperf3(t, secs)
			med := tb.ping(t, 100)
			fmt.Printf("%-22s iperf3 TCP %6.2f Gbit/s   ping median RTT %6.1f µs\n", label+":", gbps, float64(med)/1e3)
			return gbps, med
		}
		g0, r0 := measure("plain veth")
		s, err := Insert(tb.link, Impairment{}, filepath.Join(tb.dir, "emu"))
		require.NoError(t, err)
		g1, r1 := measure("through the emulator")
		st, _ := ReadStats(s)
		require.NoError(t, Remove(s))
		g2, r2 := measure("after removal")
		fmt.Printf("emulator vs plain veth: throughput %.1f%% (%.2f Gbit/s), added median RTT %.1f µs\n",
			100*g1/g0, g1, float64(r1-r0)/1e3)
		fmt.Printf("after removal vs before: throughput %.1f%%, RTT %+.1f µs\n", 100*g2/g0, float64(r2-r0)/1e3)
		fmt.Printf("relay b-to-a (iperf3 data): %d frames, %d bytes, mean %.0f bytes a frame\n",
			st.BtoA.Sent, st.BtoA.SentB, float64(st.BtoA.SentB)/max(1, float64(st.BtoA.Sent)))
	}
}

// offloadsOff turns TSO and GSO off on B's eth1, the iperf3 sender, so
// that it sends frames of at most the MTU.
func (tb *testbed) offloadsOff() error {
	return inNS(tb.link.NSB, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, cmd := range []uint32{0x1f, 0x24} { // ETHTOOL_STSO, ETHTOOL_SGSO
			val := struct{ cmd, data uint32 }{cmd, 0}
			var ifr struct {
				name [16]byte
				data uintptr
				_    [16]byte
			}
			copy(ifr.name[:], "eth1")
			ifr.data = uintptr(unsafe.Pointer(&val))
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
				return fmt.Errorf("ethtool %#x on eth1: %w", cmd, e)
			}
		}
		return nil
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// run runs a command in a namespace and returns its output.
func runIn(t *testing.T, ns string, name string, args ...string) []byte {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, inNS(ns, cmd.Start))
	require.NoError(t, cmd.Wait(), "%s %v: %s", name, args, out.String())
	return out.Bytes()
}

// iperf3 measures TCP throughput from B to A, in Gbit/s.
func (tb *testbed) iperf3(t *testing.T, secs int) float64 {
	srv := exec.Command("iperf3", "-s", "-1", "-B", "198.18.60.1", "-p", "5201")
	require.NoError(t, inNS(tb.link.NSA, srv.Start))
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(200 * time.Millisecond)
	out := runIn(t, tb.link.NSB, "iperf3", "-c", "198.18.60.1", "-p", "5201", "-t", strconv.Itoa(secs), "-J")
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	require.NoError(t, json.Unmarshal(out, &r))
	return r.End.SumReceived.BitsPerSecond / 1e9
}

var pingRTT = regexp.MustCompile(`time=([0-9.]+) ms`)

// ping measures the median RTT of n pings from B to A, 10 ms apart.
func (tb *testbed) ping(t *testing.T, n int) time.Duration {
	out := runIn(t, tb.link.NSB, "ping", "-n", "-c", strconv.Itoa(n), "-i", "0.01", "198.18.60.1")
	var rs []float64
	for _, m := range pingRTT.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		rs = append(rs, v)
	}
	require.NotEmpty(t, rs, "ping: %s", out)
	sort.Float64s(rs)
	return time.Duration(rs[len(rs)/2] * 1e6)
}
