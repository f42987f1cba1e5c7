// Package promscrape scrapes the Prometheus endpoints of a lab's role
// instances (http://HOST:PORT/metrics) and turns every series into
// samples of the collectors' long format: one sample per series, the
// metric named by its family and its labels in a canonical form. The
// exposition is negotiated and parsed with the Prometheus libraries
// (protobuf, or the text format). It only reads.
package promscrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/internal/namespace"
)

// Target is one endpoint to scrape.
type Target struct {
	Node     string // the node the instance runs on
	Instance string // the role instance: the samples' object
	URL      string // e.g. http://198.18.0.1:9100/metrics; HOST should be an address
	// NS is the path of a network namespace to connect from, such as the
	// node's /run/netns/<name>, for an endpoint that is only reachable
	// inside the lab; empty to connect from the caller's namespace.
	NS string
}

// Scraper scrapes a fixed set of targets, keeping connections alive
// between scrapes.
type Scraper struct {
	targets  []Target
	timeout  time.Duration
	clients  []*http.Client // per target; shared by targets with the same NS
	parallel int
}

// MaxParallel is how many targets are scraped at once.
const MaxParallel = 16

// maxBody is the largest exposition read from a target.
const maxBody = 64 << 20

// accept asks for delimited protobuf, else the text format, with names
// as they are (UTF-8).
const accept = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.7,` +
	`text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.1`

// DefaultTimeout is the timeout of one target's scrape when New is given
// none.
const DefaultTimeout = 5 * time.Second

// New returns a scraper of targets; timeout bounds each target's scrape
// (DefaultTimeout if zero).
func New(targets []Target, timeout time.Duration) *Scraper {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	s := &Scraper{targets: targets, timeout: timeout, parallel: min(len(targets), MaxParallel)}
	byNS := map[string]*http.Client{}
	for _, t := range targets {
		c, ok := byNS[t.NS]
		if !ok {
			c = &http.Client{Transport: &http.Transport{
				Proxy:               nil, // lab addresses: never through a proxy
				DialContext:         dialer(t.NS),
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true, // the endpoints are near: gzip would cost more than it saves
			}}
			byNS[t.NS] = c
		}
		s.clients = append(s.clients, c)
	}
	return s
}

// dialer connects from inside network namespace ns (or from the caller's
// when ns is ""), on a thread that is thrown away afterwards. The socket
// stays in the namespace it was made in.
func dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	if ns == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := namespace.InThread(func() error {
			if err := namespace.Enter(ns, unix.CLONE_NEWNET); err != nil {
				return err
			}
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Close closes the idle connections.
func (s *Scraper) Close() {
	for _, c := range s.clients {
		c.CloseIdleConnections()
	}
}

// TargetError is a target that could not be scraped.
type TargetError struct {
	Target Target
	Err    error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%s on %s (%s): %v", e.Target.Instance, e.Target.Node, e.Target.URL, e.Err)
}

func (e *TargetError) Unwrap() error { return e.Err }

// Error is the error of a Sample in which some targets could not be
// scraped. It is one error for all of them, whatever their number; a
// caller that samples often may want to report it only when the set of
// failed targets changes.
type Error struct {
	Failed []*TargetError
	Of     int // how many targets were scraped
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("%d of %d Prometheus targets not scraped: %s", len(e.Failed), e.Of, strings.Join(parts, "; "))
}

// Unwrap returns the targets' errors, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// Instances lists the instances of the failed targets.
func (e *Error) Instances() []string {
	out := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Target.Instance
	}
	return out
}

// Sample scrapes every target, MaxParallel at a time. The samples come in
// the order of the targets, and within a target in the order of metric
// family names. A target that does not answer, answers with an error or
// with what does not parse gives no samples; the others' are returned,
// with an *Error naming the failed targets.
func (s *Scraper) Sample(ctx context.Context) ([]collectors.Sample, error) {
	results := make([][]collectors.Sample, len(s.targets))
	errs := make([]error, len(s.targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range s.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = s.scrape(ctx, i)
			}
		}()
	}
	for i := range s.targets {
		next <- i
	}
	close(next)
	wg.Wait()

	var out []collectors.Sample
	var failed []*TargetError
	for i, r := range results {
		if errs[i] != nil {
			failed = append(failed, &TargetError{Target: s.targets[i], Err: errs[i]})
			continue
		}
		out = append(out, r...)
	}
	if len(failed) > 0 {
		return out, &Error{Failed: failed, Of: len(s.targets)}
	}
	return out, nil
}

// scrape fetches and parses one target.
func (s *Scraper) scrape(ctx context.Context, i int) ([]collectors.Sample, error) {
	t := s.targets[i]
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.clients[i].Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Read what is left so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	format := expfmt.ResponseFormat(resp.Header)
	if format.FormatType() == expfmt.TypeUnknown {
		format = expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	// The names are taken as they are: UTF-8 validation, not the legacy
	// character set (the library's default for a format without an
	// escaping term).
	dec := expfmt.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxBody), format.WithEscapingScheme(model.NoEscaping))
	var fams []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", formatName(format), err)
		}
		fams = append(fams, mf)
	}
	slices.SortStableFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	var out []collectors.Sample
	for _, mf := range fams {
		out = appendFamily(out, t, mf)
	}
	return out, nil
}

func formatName(f expfmt.Format) string {
	if f.FormatType() == expfmt.TypeProtoDelim {
		return "protobuf exposition"
	}
	return "text exposition"
}

// appendFamily appends a family's series: counters, gauges and untyped
// as name{labels}; summaries as name{labels,quantile="q"}, name_sum and
// name_count; histograms as name_bucket{labels,le="b"} (with the +Inf
// bucket, which protobuf leaves implicit), name_sum and name_count.
func appendFamily(out []collectors.Sample, t Target, mf *dto.MetricFamily) []collectors.Sample {
	name := mf.GetName()
	add := func(metric string, v float64) {
		out = append(out, collectors.Sample{Source: "prom", Node: t.Node, Object: t.Instance, Metric: metric, Value: v})
	}
	for _, m := range mf.GetMetric() {
		labels := m.GetLabel()
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			add(Name(name, labels, "", ""), m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			add(Name(name, labels, "", ""), m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			add(Name(name, labels, "", ""), m.GetUntyped().GetValue())
		case dto.MetricType_SUMMARY:
			sm := m.GetSummary()
			for _, q := range sm.GetQuantile() {
				add(Name(name, labels, "quantile", formatFloat(q.GetQuantile())), q.GetValue())
			}
			add(Name(name+"_sum", labels, "", ""), sm.GetSampleSum())
			add(Name(name+"_count", labels, "", ""), float64(sm.GetSampleCount()))
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			floats := h.GetSampleCountFloat() > 0
			count := float64(h.GetSampleCount())
			if floats {
				count = h.GetSampleCountFloat()
			}
			buckets := h.GetBucket()
			for _, b := range buckets {
				v := float64(b.GetCumulativeCount())
				if floats {
					v = b.GetCumulativeCountFloat()
				}
				add(Name(name+"_bucket", labels, "le", formatFloat(b.GetUpperBound())), v)
			}
			// A native histogram without classic buckets has no +Inf bucket
			// either: only its sum and count are taken.
			if n := len(buckets); n > 0 && !math.IsInf(buckets[n-1].GetUpperBound(), +1) {
				add(Name(name+"_bucket", labels, "le", "+Inf"), count)
			}
			add(Name(name+"_sum", labels, "", ""), h.GetSampleSum())
			add(Name(name+"_count", labels, "", ""), count)
		}
	}
	return out
}

// Name is a series' canonical name: the metric name, then its labels
// (with extra, unless ""), sorted by name, as name{a="x",b="y"}, values
// escaped as in the text format (\\, \" and \n). A series without labels
// is its name alone.
func Name(metric string, labels []*dto.LabelPair, extra, extraValue string) string {
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(labels)+1)
	for _, l := range labels {
		pairs = append(pairs, pair{l.GetName(), l.GetValue()})
	}
	if extra != "" {
		pairs = append(pairs, pair{extra, extraValue})
	}
	if len(pairs) == 0 {
		return metric
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteString(`="`)
		for j := 0; j < len(p.value); j++ {
			switch c := p.value[j]; c {
			case '\\':
				b.WriteString(`\\`)
			case '"':
				b.WriteString(`\"`)
			case '\n':
				b.WriteString(`\n`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// formatFloat writes a bound or quantile as the Prometheus text format
// does, so that a series has one name whichever format it came in.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
