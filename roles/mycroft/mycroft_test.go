package mycroft

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/roles"
)

// freePorts returns n distinct TCP ports free on loopback.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

type result struct {
	dir   string
	err   error
	ready bool
}

// ring runs ranks instances of the role in this process, rank r with
// params(r) on top of the ring's addresses, until they end; stop, if not
// nil, is called once every rank is ready and cancels ctx when it returns.
func ring(t *testing.T, ranks int, extra func(r int) map[string]any, stop func()) []*result {
	t.Helper()
	ports := freePorts(t, 2*ranks) // ring ports, then trace ports
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := make([]*result, ranks)
	readyCh := make([]chan struct{}, ranks)
	var wg sync.WaitGroup
	for r := range ranks {
		res[r] = &result{dir: t.TempDir()}
		readyCh[r] = make(chan struct{})
		params := map[string]any{
			"rank": r, "ranks": ranks, "next": "127.0.0.1",
			"port": ports[r], "next_port": ports[(r+1)%ranks], "trace_port": ports[ranks+r],
			"size": 64<<10 + 12, "chunk": 8 << 10, "channels": 2,
			"compute": "5ms", "trace_interval": "1ms",
		}
		for k, v := range extra(r) {
			params[k] = v
		}
		wg.Go(func() {
			res[r].err = roles.Serve(ctx, roles.Instance{Role: "mycroft", Instance: "rank" + string(rune('0'+r)), Dir: res[r].dir, Params: params},
				func() { res[r].ready = true; close(readyCh[r]) })
		})
	}
	if stop != nil {
		for r := range ranks {
			select {
			case <-readyCh[r]:
			case <-time.After(10 * time.Second):
				t.Fatalf("rank %d not ready within 10 s", r)
			}
		}
		stop()
		cancel()
	}
	wg.Wait()
	return res
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
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
		if line == "" {
			continue
		}
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		out = append(out, v)
	}
	return out
}

func of(lines []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["type"] == typ {
			out = append(out, l)
		}
	}
	return out
}

func settle(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines outlive the instances")
}

func TestRingCompletes(t *testing.T) {
	for _, ranks := range []int{3, 4} {
		t.Run(string(rune('0'+ranks))+"-ranks", func(t *testing.T) {
			before := runtime.NumGoroutine()
			const iters = 6
			res := ring(t, ranks, func(int) map[string]any { return map[string]any{"iterations": iters} }, nil)
			for r, x := range res {
				require.NoError(t, x.err, "rank %d", r)
				assert.True(t, x.ready, "rank %d", r)
				s := readJSON(t, filepath.Join(x.dir, "summary.json"))
				assert.Equal(t, float64(iters), s["iterations"], "rank %d", r)
				assert.Equal(t, true, s["complete"])
				assert.Equal(t, 0.0, s["mismatches"])
				assert.Equal(t, 0.0, s["errors"])
				assert.Equal(t, float64(r), s["rank"])
				assert.Greater(t, s["iter_p50_ms"], 0.0)
				assert.LessOrEqual(t, s["iter_p50_ms"], s["iter_p99_ms"])
				assert.Greater(t, s["busbw_p50_gbps"], 0.0)
				assert.GreaterOrEqual(t, s["compute_p50_ms"], 5.0) // wall time >= CPU time
				assert.InEpsilon(t, s["busbw_p50_gbps"].(float64)/s["algbw_p50_gbps"].(float64), 2*float64(ranks-1)/float64(ranks), 0.05)

				series := readLines(t, filepath.Join(x.dir, "series.jsonl"))
				require.Len(t, series, iters)
				prev := 0.0
				for i, l := range series {
					assert.Equal(t, float64(i), l["iter"])
					assert.Greater(t, l["t_s"], prev)
					prev = l["t_s"].(float64)
					assert.GreaterOrEqual(t, l["compute_ms"], 5.0)
					assert.Greater(t, l["allreduce_ms"], 0.0)
					assert.InDelta(t, l["iter_ms"], l["compute_ms"].(float64)+l["allreduce_ms"].(float64), 0.01)
					assert.Greater(t, l["busbw_gbps"], 0.0)
					assert.Equal(t, 0.0, l["mismatches"])
				}

				trace := readLines(t, filepath.Join(x.dir, "trace.jsonl"))
				comp := of(trace, "completion")
				require.Len(t, comp, iters, "rank %d", r)
				for i, c := range comp {
					assert.Equal(t, float64(i+1), c["op"])
					assert.Equal(t, float64(r), c["rank"])
					assert.Equal(t, float64(ranks), c["n"])
					assert.Equal(t, float64(64<<10+12), c["bytes"])
					assert.Equal(t, 2.0, c["channels"])
					assert.Nil(t, c["error"])
					assert.Greater(t, c["chunks_sent"], 0.0)
					assert.Greater(t, c["chunks_recvd"], 0.0)
				}

				events, err := os.ReadFile(filepath.Join(x.dir, "events.jsonl"))
				require.NoError(t, err)
				for _, want := range []string{`"event":"connected"`, `"event":"ready"`, `"event":"done"`, `"status":"ok"`} {
					assert.Contains(t, string(events), want)
				}
			}
			settle(t, before)
		})
	}
}

// With trace_alternate, one iteration of each pair is traced, the same
// on every rank; series.jsonl says which.
func TestTraceAlternate(t *testing.T) {
	const iters = 6
	res := ring(t, 3, func(int) map[string]any { return map[string]any{"iterations": iters, "trace_alternate": true} }, nil)
	var want []bool
	for r, x := range res {
		require.NoError(t, x.err, "rank %d", r)
		series := readLines(t, filepath.Join(x.dir, "series.jsonl"))
		require.Len(t, series, iters)
		var got []bool
		for _, l := range series {
			got = append(got, l["traced"] == true)
		}
		for k := 0; k < iters; k += 2 {
			assert.NotEqual(t, got[k], got[k+1], "rank %d: one of iterations %d and %d is traced", r, k, k+1)
		}
		if want == nil {
			want = got
		}
		assert.Equal(t, want, got, "rank %d traced other iterations than rank 0", r)
		comp := of(readLines(t, filepath.Join(x.dir, "trace.jsonl")), "completion")
		require.Len(t, comp, iters/2, "rank %d", r)
	}
}

// tracedInPair varies which iteration of a pair is traced, with the seed
// and along the run.
func TestTracedInPair(t *testing.T) {
	for _, seed := range []int64{1, 2, 42} {
		first := 0
		for k := 0; k < 1000; k++ {
			a, b := tracedInPair(seed, 2*k), tracedInPair(seed, 2*k+1)
			require.NotEqual(t, a, b)
			if a {
				first++
			}
		}
		assert.InDelta(t, 500, first, 60, "seed %d: the first of a pair is traced about half the time", seed)
	}
	same := 0
	for k := 0; k < 1000; k++ {
		if tracedInPair(1, 2*k) == tracedInPair(2, 2*k) {
			same++
		}
	}
	assert.InDelta(t, 500, same, 60, "seeds 1 and 2 draw apart")
}

func TestStopUntilDuration(t *testing.T) {
	before := runtime.NumGoroutine()
	t0 := time.Now()
	res := ring(t, 3, func(int) map[string]any { return map[string]any{"iterations": 0} },
		func() { time.Sleep(300 * time.Millisecond) })
	assert.Less(t, time.Since(t0), 3*time.Second)
	for r, x := range res {
		require.NoError(t, x.err, "rank %d: Serve reports a stop as a clean exit", r)
		s := readJSON(t, filepath.Join(x.dir, "summary.json"))
		assert.Equal(t, false, s["complete"])
		assert.Equal(t, 0.0, s["mismatches"])
		assert.Equal(t, 0.0, s["errors"])
		n := s["iterations"].(float64)
		assert.GreaterOrEqual(t, n, 3.0)
		assert.Len(t, readLines(t, filepath.Join(x.dir, "series.jsonl")), int(n))
		events, err := os.ReadFile(filepath.Join(x.dir, "events.jsonl"))
		require.NoError(t, err)
		assert.Contains(t, string(events), `"status":"stopped"`)
	}
	settle(t, before)
}

func TestMismatchFails(t *testing.T) {
	afterReduce = func(rank, iter int, data []float32) {
		if rank == 1 && iter == 2 {
			data[17]++
			data[len(data)-1] = -1
		}
	}
	defer func() { afterReduce = nil }()
	res := ring(t, 3, func(int) map[string]any { return map[string]any{"iterations": 4, "trace": false} }, nil)
	for r, x := range res {
		s := readJSON(t, filepath.Join(x.dir, "summary.json"))
		assert.Equal(t, 4.0, s["iterations"], "rank %d: a mismatch does not stop the loop", r)
		_, err := os.Stat(filepath.Join(x.dir, "trace.jsonl"))
		assert.True(t, os.IsNotExist(err), "trace false writes no trace.jsonl")
		if r != 1 {
			assert.NoError(t, x.err)
			continue
		}
		require.Error(t, x.err)
		assert.Contains(t, x.err.Error(), "2 elements in 1 of 4 iterations")
		assert.Equal(t, 2.0, s["mismatches"])
		assert.Equal(t, 1.0, s["bad_iterations"])
		events, err := os.ReadFile(filepath.Join(x.dir, "events.jsonl"))
		require.NoError(t, err)
		assert.Contains(t, string(events), `"event":"mismatch"`)
		assert.Contains(t, string(events), `"status":"failed"`)
	}
}

func TestBrokenRingFails(t *testing.T) {
	old := stopGrace
	stopGrace = 200 * time.Millisecond
	defer func() { stopGrace = old }()
	before := runtime.NumGoroutine()
	ports := freePorts(t, 4)
	dirs := []string{t.TempDir(), t.TempDir()}
	ctx0, stop0 := context.WithCancel(context.Background())
	ready := make(chan struct{}, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		ctx := context.Background()
		if r == 0 {
			ctx = ctx0
		}
		wg.Go(func() {
			errs[r] = roles.Serve(ctx, roles.Instance{Role: "mycroft", Dir: dirs[r], Params: map[string]any{
				"rank": r, "ranks": 2, "next": "127.0.0.1", "port": ports[r], "next_port": ports[1-r], "trace_port": ports[2+r],
				"size": 1 << 20, "compute": "1ms", "iterations": 0,
			}}, func() { ready <- struct{}{} })
		})
	}
	<-ready
	<-ready
	time.Sleep(100 * time.Millisecond)
	stop0() // rank 0 stops, rank 1 never does
	wg.Wait()
	assert.NoError(t, errs[0])
	require.Error(t, errs[1])
	assert.Contains(t, errs[1].Error(), "ring broke")
	s := readJSON(t, filepath.Join(dirs[1], "summary.json"))
	assert.Equal(t, 1.0, s["errors"])
	assert.NotEmpty(t, s["error"])
	comp := of(readLines(t, filepath.Join(dirs[1], "trace.jsonl")), "completion")
	require.NotEmpty(t, comp)
	assert.NotNil(t, comp[len(comp)-1]["error"], "the failed AllReduce's completion record carries its error")
	settle(t, before)
}

func TestFillVerify(t *testing.T) {
	const ranks, n = 5, 1000
	sum := make([]float32, n)
	one := make([]float32, n)
	for r := range ranks {
		fill(one, r, 3)
		for j := range sum {
			sum[j] += one[j]
		}
	}
	assert.Equal(t, int64(0), verify(sum, ranks, 3))
	assert.Equal(t, int64(n), verify(sum, ranks, 4), "another iteration's sums differ everywhere")
	sum[10] += 1
	assert.Equal(t, int64(1), verify(sum, ranks, 3))

	// verifyRefill counts as verify does and leaves the next fill behind,
	// also in the tail shorter than the 8-element cycle (n = 1003).
	const r = 2
	odd := make([]float32, n+3)
	for j := range odd {
		odd[j] = float32(ranks*(ranks+1)/2 + ranks*((3+j)&7))
	}
	odd[5], odd[n+2] = -1, -1
	next := pattern(r+1, 1, 4)
	assert.Equal(t, int64(2), verifyRefill(odd, ranks, 3, &next))
	want := make([]float32, n+3)
	fill(want, r, 4)
	assert.Equal(t, want, odd)
}

func TestBusyUsesCPUTime(t *testing.T) {
	t0 := time.Now()
	require.True(t, busy(context.Background(), 20*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(t0), 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, busy(ctx, time.Hour))
	assert.Equal(t, 50*time.Millisecond, pct([]time.Duration{10, 20, 30, 40, 50 * time.Millisecond}, 99))
	assert.Equal(t, time.Duration(30), pct([]time.Duration{50, 10, 30, 20, 40}, 50))
}

func TestBadParams(t *testing.T) {
	r, err := roles.Get("mycroft")
	require.NoError(t, err)
	assert.Equal(t, []string{"next"}, r.RefParams())

	// Ill-typed and unknown parameters: Decode.
	_, err = r.Decode(map[string]any{"rank": "one", "compute": 50, "chanels": 2, "trace": "yes", "size": 1.5}, "roles.r0.params")
	require.Error(t, err)
	for _, want := range []string{
		`roles.r0.params.rank: want an integer, got one`,
		`roles.r0.params.compute: want a duration`,
		`roles.r0.params.chanels: role mycroft has no parameter "chanels" (did you mean "channels"?)`,
		`roles.r0.params.trace: want true or false`,
		`roles.r0.params.size: want an integer, got 1.5`,
	} {
		assert.Contains(t, err.Error(), want)
	}

	// Well-typed but bad values: the role's check, before it listens.
	dir := t.TempDir()
	err = roles.Serve(context.Background(), roles.Instance{Role: "mycroft", Dir: dir, Params: map[string]any{
		"rank": 3, "ranks": 3, "port": 70000, "size": 10, "channels": 0, "chunk": 2,
		"compute": "-1s", "iterations": -1, "trace_interval": "-5ms", "next_port": -1, "trace_port": 70000,
		"trace": false, "trace_alternate": true,
	}}, nil)
	require.Error(t, err)
	for _, want := range []string{
		"rank must be between 0 and ranks-1 = 2, got 3",
		"next is needed when ranks > 1",
		"port 70000 is not between 1 and 65535",
		"next_port -1",
		"size must be a multiple of 4",
		"compute must not be negative",
		"iterations must be 0",
		"channels must be between 1 and 64",
		"chunk must be between 4 bytes",
		"trace_interval must not be negative",
		"trace_port 70000 must be 0 or a port",
		"trace_alternate needs trace true",
	} {
		assert.Contains(t, err.Error(), want)
	}
	err = roles.Serve(context.Background(), roles.Instance{Role: "mycroft", Dir: dir, Params: map[string]any{"ranks": 0}}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ranks must be between 1 and 4096")

	// Defaults are what the documentation promises.
	p := r.Params().(*Params)
	assert.Equal(t, Params{Ranks: 2, Port: 7600, Size: 16 << 20, Compute: 50 * time.Millisecond, Channels: 2,
		Chunk: 512 << 10, Trace: true, TraceInterval: 100 * time.Millisecond, TracePort: 7601}, *p)
}

func TestSingleRank(t *testing.T) {
	ports := freePorts(t, 1)
	dir := t.TempDir()
	err := roles.Serve(context.Background(), roles.Instance{Role: "mycroft", Dir: dir, Params: map[string]any{
		"rank": 0, "ranks": 1, "port": ports[0], "size": 4096, "compute": "0s", "iterations": 3,
	}}, nil)
	require.NoError(t, err)
	s := readJSON(t, filepath.Join(dir, "summary.json"))
	assert.Equal(t, 3.0, s["iterations"])
	assert.Equal(t, 0.0, s["mismatches"])
}

func TestMetrics(t *testing.T) {
	ports := freePorts(t, 1)
	reg := prometheus.NewRegistry()
	env := &roles.Env{Dir: t.TempDir(), Metrics: reg}
	p := defaults().(*Params)
	p.Ranks, p.Port, p.Size, p.Compute, p.Iterations = 1, ports[0], 1<<16, time.Millisecond, 4
	require.NoError(t, run(context.Background(), env, p))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	require.Contains(t, got, "mycroft_iterations_total")
	assert.Equal(t, 4.0, got["mycroft_iterations_total"].Metric[0].GetCounter().GetValue())
	assert.Equal(t, uint64(4), got["mycroft_iteration_seconds"].Metric[0].GetHistogram().GetSampleCount())
	assert.GreaterOrEqual(t, got["mycroft_iteration_seconds"].Metric[0].GetHistogram().GetSampleSum(), 4e-3)
	assert.Equal(t, uint64(4), got["mycroft_allreduce_seconds"].Metric[0].GetHistogram().GetSampleCount())
	require.Contains(t, got, "mycroft_busbw_bytes_per_second")
	assert.Equal(t, 0.0, got["mycroft_mismatches_total"].Metric[0].GetCounter().GetValue())
}

// BenchmarkVerifyRefill passes once over a 64 MiB buffer as the loop does
// between AllReduces.
func BenchmarkVerifyRefill(b *testing.B) {
	const ranks = 4
	data := make([]float32, 16<<20)
	// Refilling with the expected sums keeps every element correct.
	sums := pattern(ranks*(ranks+1)/2, ranks, 0)
	verifyRefill(data, ranks, 0, &sums)
	b.SetBytes(int64(len(data)) * 4)
	for b.Loop() {
		if bad := verifyRefill(data, ranks, 0, &sums); bad != 0 {
			b.Fatalf("%d mismatches", bad)
		}
	}
}
