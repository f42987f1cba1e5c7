package promscrape

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/internal/namespace"
)

func TestName(t *testing.T) {
	l := func(n, v string) *dto.LabelPair { return &dto.LabelPair{Name: &n, Value: &v} }
	require.Equal(t, "up", Name("up", nil, "", ""))
	require.Equal(t, `x{a="1",b="2"}`, Name("x", []*dto.LabelPair{l("b", "2"), l("a", "1")}, "", ""))
	require.Equal(t, `x_bucket{a="1",le="+Inf",z="2"}`, Name("x_bucket", []*dto.LabelPair{l("z", "2"), l("a", "1")}, "le", "+Inf"))
	require.Equal(t, `x{a="q\"b\\s\nn"}`, Name("x", []*dto.LabelPair{l("a", "q\"b\\s\nn")}, "", ""))
	require.Equal(t, "0.5", formatFloat(0.5))
	require.Equal(t, "1e+06", formatFloat(1e6))
	require.Equal(t, "-Inf", formatFloat(-1/zero))
}

var zero = 0.0

// registry holds one metric of each kind.
func registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "requests_total", Help: "h"})
	c.Add(3)
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "temperature_celsius", Help: "h"}, []string{"zone", "room"})
	g.WithLabelValues("north", "a").Set(21.5)
	g.WithLabelValues("south", `b"\`+"\n").Set(-4)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: "h", Buckets: []float64{0.1, 0.5, 1}})
	for _, v := range []float64{0.05, 0.3, 0.7, 2} {
		h.Observe(v)
	}
	s := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "size_bytes", Help: "h", Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01}}, []string{"dir"})
	for i := 1; i <= 100; i++ {
		s.WithLabelValues("in").Observe(float64(i))
	}
	u := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "legacy", Help: "h", ConstLabels: prometheus.Labels{"v": "1"}}, func() float64 { return 42 })
	reg.MustRegister(c, g, h, s, u)
	return reg
}

// want is what registry() scrapes as, but the summary's quantiles.
var want = map[string]float64{
	"requests_total": 3,
	`temperature_celsius{room="a",zone="north"}`:       21.5,
	`temperature_celsius{room="b\"\\\n",zone="south"}`: -4,
	`latency_seconds_bucket{le="0.1"}`:                 1,
	`latency_seconds_bucket{le="0.5"}`:                 2,
	`latency_seconds_bucket{le="1"}`:                   3,
	`latency_seconds_bucket{le="+Inf"}`:                4,
	"latency_seconds_sum":                              3.05,
	"latency_seconds_count":                            4,
	`size_bytes_sum{dir="in"}`:                         5050,
	`size_bytes_count{dir="in"}`:                       100,
	`legacy{v="1"}`:                                    42,
}

// server serves reg, in the text format if text, and counts connections.
// It checks the format it serves in.
func server(t *testing.T, reg *prometheus.Registry, text bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if text {
			r.Header.Del("Accept")
		}
		h.ServeHTTP(w, r)
		want := "application/vnd.google.protobuf;"
		if text {
			want = "text/plain;"
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("served as %q, want %s", ct, want)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// check compares one target's samples with want, the quantiles within
// the summary's error.
func check(t *testing.T, samples []collectors.Sample, node, instance string) {
	t.Helper()
	got := map[string]float64{}
	for _, s := range samples {
		if s.Object != instance {
			continue
		}
		require.Equal(t, "prom", s.Source)
		require.Equal(t, node, s.Node)
		_, dup := got[s.Metric]
		require.False(t, dup, "%s twice", s.Metric)
		got[s.Metric] = s.Value
	}
	require.InDelta(t, 50, got[`size_bytes{dir="in",quantile="0.5"}`], 5)
	require.InDelta(t, 90, got[`size_bytes{dir="in",quantile="0.9"}`], 1)
	delete(got, `size_bytes{dir="in",quantile="0.5"}`)
	delete(got, `size_bytes{dir="in",quantile="0.9"}`)
	require.Equal(t, len(want), len(got), "%v", got)
	for k, v := range want {
		require.Contains(t, got, k)
		require.InDelta(t, v, got[k], 1e-9, k)
	}
}

func TestScrape(t *testing.T) {
	reg := registry()
	protoSrv, protoConns := server(t, reg, false)
	textSrv, textConns := server(t, reg, true)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/metrics"
	down.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "this is { not metrics")
	}))
	t.Cleanup(garbage.Close)

	s := New([]Target{
		{Node: "n1", Instance: "proto", URL: protoSrv.URL + "/metrics"},
		{Node: "n2", Instance: "down", URL: downURL},
		{Node: "n2", Instance: "text", URL: textSrv.URL + "/metrics"},
		{Node: "n3", Instance: "broken", URL: broken.URL + "/metrics"},
		{Node: "n3", Instance: "garbage", URL: garbage.URL + "/metrics"},
	}, 2*time.Second)
	defer s.Close()
	for round := 0; round < 3; round++ {
		samples, err := s.Sample(context.Background())
		check(t, samples, "n1", "proto")
		check(t, samples, "n2", "text")
		// In the order of the targets.
		require.Equal(t, "proto", samples[0].Object)
		require.Equal(t, "text", samples[len(samples)-1].Object)

		var e *Error
		require.True(t, errors.As(err, &e), "%v", err)
		require.Equal(t, []string{"down", "broken", "garbage"}, e.Instances())
		require.Equal(t, 5, e.Of)
		require.ErrorIs(t, e.Failed[0], unix.ECONNREFUSED)
		require.ErrorContains(t, e.Failed[1], "500")
		require.ErrorContains(t, e.Failed[2], "parse text exposition")
	}
	require.Equal(t, int32(1), protoConns.Load(), "the connection is kept alive")
	require.Equal(t, int32(1), textConns.Load(), "the connection is kept alive")

	// A scrape that takes longer than the timeout fails alone.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	s2 := New([]Target{{Node: "n1", Instance: "slow", URL: slow.URL}, {Node: "n1", Instance: "proto", URL: protoSrv.URL + "/metrics"}}, 200*time.Millisecond)
	defer s2.Close()
	start := time.Now()
	samples, err := s2.Sample(context.Background())
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	check(t, samples, "n1", "proto")
}

// An endpoint only reachable inside a network namespace.
func TestScrapeInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	path := filepath.Join("/run/netns", fmt.Sprintf("tbtest-prom-%d", os.Getpid()))
	require.NoError(t, os.MkdirAll("/run/netns", 0o755))
	var ln net.Listener
	err := namespace.InThread(func() error {
		if err := namespace.NewPinned(path); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	t.Cleanup(func() {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
	})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(registry(), promhttp.HandlerOpts{})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	s := New([]Target{{Node: "n1", Instance: "inside", URL: "http://" + ln.Addr().String() + "/metrics", NS: path}}, 2*time.Second)
	defer s.Close()
	samples, err := s.Sample(context.Background())
	require.NoError(t, err)
	check(t, samples, "n1", "inside")
}
