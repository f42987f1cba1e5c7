package traffic

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/roles"
)

// freePort returns a port free for both TCP and UDP on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", net.JoinHostPort("", strconv.Itoa(port)))
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startServer runs a server instance with directory dir until the test
// ends and returns its port.
func startServer(t *testing.T, dir string) int {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- roles.Serve(ctx, roles.Instance{Role: "traffic", Instance: "server", Dir: dir,
			Params: map[string]any{"mode": "server", "port": port}}, func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server ended before it was ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready within 5 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("server did not stop within 5 s")
		}
	})
	return port
}

// client runs one client instance to its end and returns its summary.
func client(t *testing.T, ctx context.Context, params map[string]any) (map[string]any, string, error) {
	t.Helper()
	dir := t.TempDir()
	err := roles.Serve(ctx, roles.Instance{Role: "traffic", Instance: "client", Dir: dir, Params: params}, nil)
	return readJSON(t, filepath.Join(dir, "summary.json")), dir, err
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v), path)
	return v
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		out = append(out, v)
	}
	return out
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	require.True(t, ok, "summary lacks number %q: %v", key, m)
	return v
}

func TestClientsAgainstServer(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("all", func(t *testing.T) {
		serverDir := t.TempDir()
		t.Cleanup(func() {
			// Registered first, so it runs after the server has stopped.
			s := readJSON(t, filepath.Join(serverDir, "summary.json"))
			require.NotNil(t, s)
			conns := s["connections"].(map[string]any)
			assert.GreaterOrEqual(t, conns["bulk"], 5.0)
			assert.Equal(t, 2.0, conns["rr"])
			assert.Equal(t, 2.0, conns["udp-report"])
			assert.Greater(t, s["bytes"].(map[string]any)["bulk"], 0.0)
		})
		port := startServer(t, serverDir)
		base := func(kv ...any) map[string]any {
			p := map[string]any{"target": "127.0.0.1", "port": port, "duration": "1s"}
			for i := 0; i < len(kv); i += 2 {
				p[kv[i].(string)] = kv[i+1]
			}
			return p
		}
		ctx := context.Background()

		t.Run("tcp", func(t *testing.T) {
			s, dir, err := client(t, ctx, base("mode", "tcp", "duration", "1s"))
			require.NoError(t, err)
			assert.Equal(t, true, s["complete"])
			assert.Greater(t, num(t, s, "throughput_mbps"), 0.0)
			assert.Greater(t, num(t, s, "bytes"), 0.0)
			assert.Equal(t, 1.0, num(t, s, "streams"))
			assert.Equal(t, 1.0, num(t, s, "jain_fairness"))
			for _, k := range []string{"retransmits", "min_stream_mbps", "max_stream_mbps"} {
				num(t, s, k)
			}
			lines := readLines(t, filepath.Join(dir, "series.jsonl"))
			assert.InDelta(t, 10, len(lines), 2)
			assert.Greater(t, lines[3]["mbps"].(float64), 0.0)
		})
		t.Run("tcp-streams", func(t *testing.T) {
			s, _, err := client(t, ctx, base("mode", "tcp", "streams", 3, "duration", "500ms", "buffer", 65536))
			require.NoError(t, err)
			per := s["per_stream_mbps"].([]any)
			require.Len(t, per, 3)
			var sum float64
			for _, x := range per {
				assert.Greater(t, x.(float64), 0.0)
				sum += x.(float64)
			}
			assert.InEpsilon(t, num(t, s, "throughput_mbps"), sum, 0.01)
			j := num(t, s, "jain_fairness")
			assert.True(t, j > 1.0/3 && j <= 1, "jain %v", j)
			assert.LessOrEqual(t, num(t, s, "min_stream_mbps"), num(t, s, "max_stream_mbps"))
		})
		t.Run("rr-closed-loop", func(t *testing.T) {
			s, dir, err := client(t, ctx, base("mode", "rr", "duration", "1s"))
			require.NoError(t, err)
			assert.Greater(t, num(t, s, "requests"), 100.0)
			order := []string{"rtt_min_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_p999_ms", "rtt_max_ms"}
			for i := 1; i < len(order); i++ {
				assert.LessOrEqual(t, num(t, s, order[i-1]), num(t, s, order[i]), order[i])
			}
			assert.Greater(t, num(t, s, "rtt_min_ms"), 0.0)
			mean := num(t, s, "rtt_mean_ms")
			assert.True(t, mean >= num(t, s, "rtt_min_ms") && mean <= num(t, s, "rtt_max_ms"))
			var n float64
			for _, b := range s["histogram"].([]any) {
				n += b.(map[string]any)["count"].(float64)
			}
			assert.Equal(t, num(t, s, "requests"), n)
			lines := readLines(t, filepath.Join(dir, "series.jsonl"))
			assert.InDelta(t, 10, len(lines), 2)
			assert.LessOrEqual(t, lines[2]["p50_ms"].(float64), lines[2]["p99_ms"].(float64))
		})
		t.Run("rr-open-loop", func(t *testing.T) {
			s, _, err := client(t, ctx, base("mode", "rr", "rate", 2000, "size", 200, "duration", "500ms"))
			require.NoError(t, err)
			assert.InDelta(t, 1000, num(t, s, "requests"), 1)
			assert.LessOrEqual(t, num(t, s, "rtt_p50_ms"), num(t, s, "rtt_p999_ms"))
		})
		t.Run("udp-constant", func(t *testing.T) {
			s, dir, err := client(t, ctx, base("mode", "udp", "rate_mbps", 20))
			require.NoError(t, err)
			assert.InEpsilon(t, 20, num(t, s, "offered_mbps"), 0.1)
			assert.Equal(t, 0.0, num(t, s, "loss_pct"))
			assert.Equal(t, num(t, s, "sent"), num(t, s, "received"))
			assert.InEpsilon(t, 20, num(t, s, "goodput_mbps"), 0.1)
			for _, k := range []string{"jitter_ms", "out_of_order", "duplicates"} {
				num(t, s, k)
			}
			assert.Equal(t, 0.0, num(t, s, "duplicates"))
			lines := readLines(t, filepath.Join(dir, "series.jsonl"))
			assert.InDelta(t, 10, len(lines), 1)
			for _, l := range lines[1:9] {
				// Never more than the rate plus the 1 ms catch-up allowance
				// (less when the sender was held up: late_slots).
				assert.LessOrEqual(t, l["mbps"].(float64), 20*1.02, "interval %v", l)
			}
		})
		t.Run("udp-bursty", func(t *testing.T) {
			s, _, err := client(t, ctx, base("mode", "udp", "rate_mbps", 20, "pattern", "bursty", "burst", 20))
			require.NoError(t, err)
			assert.InEpsilon(t, 20, num(t, s, "offered_mbps"), 0.1)
			assert.Equal(t, 0.0, num(t, s, "loss_pct"))
			assert.Equal(t, 20.0, num(t, s, "burst"))
		})
		t.Run("stopped-early", func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(300*time.Millisecond, cancel)
			t0 := time.Now()
			s, dir, err := client(t, ctx, base("mode", "tcp", "duration", "10s"))
			require.NoError(t, err) // Serve reports a stop as a clean exit
			assert.Less(t, time.Since(t0), 2*time.Second)
			assert.Equal(t, false, s["complete"])
			assert.Contains(t, readFile(t, filepath.Join(dir, "events.jsonl")), `"status":"stopped"`)
		})

	})
	// No goroutine of the instances outlives them.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
}

func readFile(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func TestNoServer(t *testing.T) {
	port := freePort(t)
	t0 := time.Now()
	_, _, err := client(t, context.Background(), map[string]any{"mode": "rr", "target": "127.0.0.1", "port": port})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:"+strconv.Itoa(port))
	assert.InDelta(t, dialRetry.Seconds(), time.Since(t0).Seconds(), 1)
}

func TestBadParams(t *testing.T) {
	_, _, err := client(t, context.Background(), map[string]any{"mode": "flood", "target": "127.0.0.1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown mode "flood"`)
	assert.Contains(t, err.Error(), "server, tcp, udp, rr")

	_, _, err = client(t, context.Background(), map[string]any{"mode": "udp", "pattern": "spiky", "size": 8})
	require.Error(t, err)
	for _, want := range []string{"needs a target", "pattern must be constant or bursty", "size must be between 28"} {
		assert.Contains(t, err.Error(), want)
	}

	r, err := roles.Get("traffic")
	require.NoError(t, err)
	assert.Equal(t, []string{"target"}, r.RefParams())
}

func TestUDPFlow(t *testing.T) {
	f := newUDPFlow()
	for i, seq := range []uint64{0, 1, 3, 2, 2, 5} {
		f.add(seq, int64(i)*1000, int64(i)*1000+500, 100)
	}
	r := f.report(7, 7)
	assert.Equal(t, int64(5), r.Received)
	assert.Equal(t, int64(1), r.Duplicates)
	assert.Equal(t, int64(1), r.OutOfOrder)
	assert.Equal(t, int64(2), r.Lost) // 4 and 6
	assert.Equal(t, 0.0, r.JitterMS)  // constant transit time
	assert.Equal(t, 0.0005, r.OWDMinMS)
	assert.Equal(t, int64(1), f.report(7, 0).Lost) // without the count sent: up to seq 5

	// RFC 3550: one transit change of 16 µs moves the estimate by 1 µs.
	g := newUDPFlow()
	g.add(0, 0, 100_000, 1)
	g.add(1, 1_000_000, 1_116_000, 1)
	assert.InDelta(t, 0.001, g.report(1, 2).JitterMS, 1e-12)

	b := make([]byte, 64)
	putDatagram(b, datagram{flow: 1<<53 - 1, seq: 42, sendNS: 123456789})
	d, ok := parseDatagram(b)
	require.True(t, ok)
	assert.Equal(t, datagram{flow: 1<<53 - 1, seq: 42, sendNS: 123456789}, d)
	_, ok = parseDatagram([]byte("hello, world, this is not a datagram"))
	assert.False(t, ok)
}

func TestPacer(t *testing.T) {
	pc := newPacer(&Params{Size: 1250, RateMbps: 10, Pattern: "constant"}) // 1 ms apart
	assert.Equal(t, time.Duration(0), pc.at(0))
	assert.Equal(t, 5*time.Millisecond, pc.at(5))
	assert.Equal(t, int64(1), pc.dueBy(0))
	assert.Equal(t, int64(6), pc.dueBy(5*time.Millisecond+time.Microsecond))
	assert.Equal(t, int64(1), pc.maxLag)

	pc = newPacer(&Params{Size: 1250, RateMbps: 10, Pattern: "bursty", Burst: 4})
	assert.Equal(t, time.Duration(0), pc.at(3))
	assert.Equal(t, 4*time.Millisecond, pc.at(4))
	assert.Equal(t, int64(4), pc.dueBy(3*time.Millisecond))
	assert.Equal(t, int64(8), pc.dueBy(4*time.Millisecond))
	assert.Equal(t, int64(4), pc.maxLag)

	pc = newPacer(&Params{Size: 1000, RateMbps: 100, Pattern: "constant"}) // 80 µs apart
	assert.Equal(t, int64(13), pc.maxLag)
}

func TestJain(t *testing.T) {
	assert.Equal(t, 1.0, jain([]float64{5, 5, 5}))
	assert.InDelta(t, 0.25, jain([]float64{8, 0, 0, 0}), 1e-12)
	assert.Equal(t, 1.0, jain([]float64{0, 0}))
}
