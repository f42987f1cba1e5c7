package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/collectors/cgroup"
	"github.com/tbctl/tbctl/collectors/netdev"
	"github.com/tbctl/tbctl/collectors/promscrape"
	"github.com/tbctl/tbctl/collectors/qdisc"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote"
	"github.com/tbctl/tbctl/testbed/topo"
)

// collection is what measures one run's lab while its roles run: samplers
// on a ticker (interface counters, qdiscs, per-node cgroups), a scraper of
// the roles' Prometheus endpoints on its own ticker, and packet captures.
// Everything sampled goes to the run's metrics.jsonl.
type collection struct {
	pl     *Plan
	tl     *timeline
	f      *os.File
	w      *collectors.Writer
	samp   []sampler
	groups map[string]*cgroup.Group // node → its cgroup

	mu      sync.Mutex
	targets []promscrape.Target
	scraper *promscrape.Scraper

	caps       *captures
	stopRemote func() error // the hosts' sampling, on a remote lab
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	errs       []error
}

// sampler is one source read on the ticker.
type sampler struct {
	name   string
	sample func() ([]collectors.Sample, error)
	close  func()
}

// startCollectors starts what the experiment's collect section asks for.
// Call addInstance as each role instance starts and stop at the end.
func startCollectors(ctx context.Context, pl *Plan, rec *lab.Record, tl *timeline) (*collection, error) {
	c := &collection{pl: pl, tl: tl, groups: map[string]*cgroup.Group{}}
	cfg := pl.Exp.Collect
	if cfg.Interval == 0 && len(cfg.Captures) == 0 {
		return c, nil
	}
	if err := c.open(rec); err != nil {
		c.closeAll()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	if cfg.Interval > 0 {
		c.wg.Add(2)
		go c.loop(cctx, cfg.Interval)
		go c.scrapeLoop(cctx, cfg.Scrape)
	}
	return c, nil
}

func (c *collection) open(rec *lab.Record) error {
	cfg := c.pl.Exp.Collect
	if rec.Provider == remote.Name {
		return c.openRemote(rec)
	}
	var nd []netdev.Node
	var qd []qdisc.Node
	var nodes []string
	for _, n := range rec.Topology.Nodes {
		if n.Kind == topo.KindHost {
			continue
		}
		ns := filepath.Join("/run/netns", lab.NamespaceName(rec.Prefix, rec.Name, n.Name))
		nd = append(nd, netdev.Node{Name: n.Name, NS: ns})
		qd = append(qd, qdisc.Node{Name: n.Name, NS: ns})
		nodes = append(nodes, n.Name)
	}
	f, err := os.Create(filepath.Join(c.pl.Dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	c.f, c.w = f, collectors.NewWriter(f)
	if cfg.Has("netdev") {
		s, err := netdev.Open(nd)
		if err != nil {
			return fmt.Errorf("collect interface counters: %w", err)
		}
		c.samp = append(c.samp, sampler{"interface counters", s.Sample, s.Close})
	}
	if cfg.Has("qdisc") {
		s, err := qdisc.Open(qd)
		if err != nil {
			return fmt.Errorf("collect qdisc statistics: %w", err)
		}
		c.samp = append(c.samp, sampler{"qdisc statistics", s.Sample, s.Close})
	}
	if cfg.Has("cgroup") {
		var groups []*cgroup.Group
		for _, n := range nodes {
			g, err := cgroup.Create(rec.Name, n)
			if err != nil {
				return fmt.Errorf("collect CPU and memory: %w", err)
			}
			c.groups[n] = g
			groups = append(groups, g)
		}
		s, err := cgroup.Open(groups)
		if err != nil {
			return fmt.Errorf("collect CPU and memory: %w", err)
		}
		c.samp = append(c.samp, sampler{"CPU and memory", s.Sample, s.Close})
		c.tl.Emit("collect", map[string]any{"source": "cgroup", "mechanism": groups[0].Mechanism()})
	}
	caps, err := startCaptures(c.pl, rec, c.tl)
	if err != nil {
		return err
	}
	c.caps = caps
	return nil
}

// hostSources are the samplers that read a host's kernel: on a remote
// lab the hosts run them and stream the samples here.
var hostSources = []string{"netdev", "qdisc"}

// openRemote starts what can be collected from a lab on remote hosts: the
// hosts sample interface counters and qdiscs and stream them here; CPU
// and memory per node and role metrics are not collected there yet,
// which the timeline says.
func (c *collection) openRemote(rec *lab.Record) error {
	cfg := c.pl.Exp.Collect
	if len(cfg.Captures) > 0 {
		return fmt.Errorf("collect: packet captures are not available on the remote provider yet; remove collect.captures")
	}
	f, err := os.Create(filepath.Join(c.pl.Dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	c.f, c.w = f, collectors.NewWriter(f)
	var host, skipped []string
	for _, s := range cfg.Sources {
		if slices.Contains(hostSources, s) {
			host = append(host, s)
		} else {
			skipped = append(skipped, s)
		}
	}
	if len(host) > 0 && cfg.Interval > 0 {
		l, _, p, err := testbed.Open(c.pl.Lab)
		if err != nil {
			return err
		}
		s, ok := p.(provider.Sampler)
		if !ok {
			return fmt.Errorf("collect: provider %s cannot sample its hosts", p.Name())
		}
		if c.stopRemote, err = s.Collect(l, rec, cfg.Interval, host, c.w.Write); err != nil {
			return fmt.Errorf("collect on the lab's hosts: %w", err)
		}
	}
	if len(skipped) > 0 {
		c.tl.Emit("collect-skipped", map[string]any{"sources": skipped,
			"reason": "the remote provider does not collect CPU and memory per node or role metrics on its hosts yet"})
	}
	return nil
}

// addInstance puts a started role instance's process into its node's
// cgroup and its metrics endpoint among the scrape targets.
func (c *collection) addInstance(node, name string, pid int, metricsAddr string) {
	if g := c.groups[node]; g != nil && pid > 0 {
		if err := g.Add(pid); err != nil {
			c.tl.Emit("collect-warning", map[string]any{"source": "cgroup", "instance": name, "error": err.Error()})
		}
	}
	if metricsAddr != "" && c.pl.Exp.Collect.Has("prom") {
		c.mu.Lock()
		c.targets = append(c.targets, promscrape.Target{Node: node, Instance: name, URL: "http://" + metricsAddr + "/metrics"})
		if c.scraper != nil {
			c.scraper.Close()
		}
		c.scraper = promscrape.New(c.targets, time.Second)
		c.mu.Unlock()
	}
}

func (c *collection) loop(ctx context.Context, interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := map[string]bool{}
	for {
		for _, s := range c.samp {
			samples, err := s.sample()
			if err == nil {
				err = c.w.Write(samples)
			}
			if err != nil && !failed[s.name] {
				failed[s.name] = true
				c.fail(fmt.Errorf("collect %s: %w", s.name, err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scrapeLoop scrapes the roles' metrics on its own ticker, so a slow
// endpoint never delays the counters. A role that never answers is noted
// on the timeline once, not failed: roles come and go.
func (c *collection) scrapeLoop(ctx context.Context, interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	warned, answered := map[string]bool{}, map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		s, targets := c.scraper, c.targets
		c.mu.Unlock()
		if s == nil {
			continue
		}
		samples, err := s.Sample(ctx)
		if len(samples) > 0 {
			if werr := c.w.Write(samples); werr != nil {
				c.fail(fmt.Errorf("collect role metrics: %w", werr))
				return
			}
		}
		failed := map[string]error{}
		var perr *promscrape.Error
		if errors.As(err, &perr) {
			for _, f := range perr.Failed {
				failed[f.Target.Instance] = f.Err
			}
		}
		for _, tg := range targets {
			err, bad := failed[tg.Instance]
			switch {
			case !bad:
				answered[tg.Instance] = true
			case !answered[tg.Instance] && !warned[tg.Instance] && ctx.Err() == nil:
				// An instance that answered before and no longer does
				// has ended; one that never answered is worth a note.
				warned[tg.Instance] = true
				c.tl.Emit("collect-warning", map[string]any{"source": "prom", "instance": tg.Instance, "error": err.Error()})
			}
		}
	}
}

func (c *collection) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// stop ends collection, flushes metrics.jsonl and the captures, and removes
// the per-node cgroups.
func (c *collection) stop() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	if c.stopRemote != nil {
		if err := c.stopRemote(); err != nil {
			c.fail(fmt.Errorf("collect on the lab's hosts: %w", err))
		}
		c.stopRemote = nil
	}
	c.closeAll()
	return errors.Join(c.errs...)
}

func (c *collection) closeAll() {
	for _, s := range c.samp {
		s.close()
	}
	c.samp = nil
	c.mu.Lock()
	if c.scraper != nil {
		c.scraper.Close()
		c.scraper = nil
	}
	c.mu.Unlock()
	if c.caps != nil {
		if err := c.caps.stop(); err != nil {
			c.fail(err)
		}
		c.caps = nil
	}
	if c.w != nil {
		if err := c.w.Finish(); err != nil {
			c.fail(fmt.Errorf("write metrics.jsonl: %w", err))
		}
		if err := c.f.Close(); err != nil {
			c.fail(fmt.Errorf("write metrics.jsonl: %w", err))
		}
		c.w = nil
	}
	for node, g := range c.groups {
		if err := g.Remove(); err != nil {
			c.fail(fmt.Errorf("remove the cgroup of %s: %w", node, err))
		}
		delete(c.groups, node)
	}
}
