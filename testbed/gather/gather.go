// Package gather runs a lab's collectors on the machine that holds the
// lab's namespaces: samplers on a ticker (interface counters, qdiscs,
// per-node cgroups), a scraper of the role instances' Prometheus
// endpoints on its own ticker, and packet captures into pcapng files.
// The runner starts it for a lab on this machine; `tbctl remote collect`
// starts the same on each host of a remote lab and streams what it
// gathers to the controller. It hands samples and timeline events to the
// caller and writes only its captures and its per-node cgroups, which
// Stop removes.
package gather

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/collectors/cgroup"
	"github.com/tbctl/tbctl/collectors/netdev"
	"github.com/tbctl/tbctl/collectors/pcap"
	"github.com/tbctl/tbctl/collectors/promscrape"
	"github.com/tbctl/tbctl/collectors/qdisc"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Emit receives timeline events: collect (a source's mechanism),
// collect-warning, capture-start and capture-end.
type Emit func(kind string, fields map[string]any)

// Gatherer measures one lab until Stop.
type Gatherer struct {
	rec    *lab.Record
	cfg    experiment.Collect
	write  func([]collectors.Sample) error
	emit   Emit
	samp   []sampler
	groups map[string]*cgroup.Group // node → its cgroup
	caps   []*capture

	mu      sync.Mutex
	targets []promscrape.Target
	scraper *promscrape.Scraper
	errs    []error

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// sampler is one source read on the ticker.
type sampler struct {
	name   string
	sample func() ([]collectors.Sample, error)
	close  func()
}

// capture is one running packet capture.
type capture struct {
	name string // NODE-IFACE
	c    *pcap.Capture
}

// NodeNS is the network namespace a node of rec lives in on this
// machine: its /run/netns entry, or "" (this machine's own) for a node
// of kind host.
func NodeNS(rec *lab.Record, n *topo.Node) string {
	if n.Kind == topo.KindHost {
		return ""
	}
	return filepath.Join("/run/netns", lab.NamespaceName(rec.Prefix, rec.Name, n.Name))
}

// Start starts what cfg asks for on rec's lab. Samples go to write as
// they are taken, events to emit; captures are written into capDir as
// NODE-IFACE.pcapng, and their events name them captures/NODE-IFACE.pcapng.
// A node of kind host is the machine itself: only the interfaces the
// topology gives it are sampled. Call AddInstance as each role instance
// starts, and Stop at the end.
func Start(ctx context.Context, rec *lab.Record, cfg experiment.Collect, capDir string, write func([]collectors.Sample) error, emit Emit) (*Gatherer, error) {
	g := &Gatherer{rec: rec, cfg: cfg, write: write, emit: emit, groups: map[string]*cgroup.Group{}}
	if err := g.open(capDir); err != nil {
		g.closeAll()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	if cfg.Interval > 0 {
		g.wg.Add(2)
		go g.loop(cctx, cfg.Interval)
		go g.scrapeLoop(cctx, cfg.Scrape)
	}
	return g, nil
}

func (g *Gatherer) open(capDir string) error {
	cfg := g.cfg
	var nd []netdev.Node
	var qd []qdisc.Node
	hostIfaces := map[string]*topo.Node{} // nodes of kind host, whose samples are filtered
	for _, n := range g.rec.Topology.Nodes {
		ns := NodeNS(g.rec, n)
		if n.Kind == topo.KindHost {
			hostIfaces[n.Name] = n
		}
		nd = append(nd, netdev.Node{Name: n.Name, NS: ns})
		qd = append(qd, qdisc.Node{Name: n.Name, NS: ns})
	}
	keep := func(sample func() ([]collectors.Sample, error)) func() ([]collectors.Sample, error) {
		if len(hostIfaces) == 0 {
			return sample
		}
		return func() ([]collectors.Sample, error) {
			s, err := sample()
			return onlyTopologyIfaces(s, hostIfaces), err
		}
	}
	if cfg.Has("netdev") && len(nd) > 0 {
		s, err := netdev.Open(nd)
		if err != nil {
			return fmt.Errorf("collect interface counters: %w", err)
		}
		g.samp = append(g.samp, sampler{"interface counters", keep(s.Sample), s.Close})
	}
	if cfg.Has("qdisc") && len(qd) > 0 {
		s, err := qdisc.Open(qd)
		if err != nil {
			return fmt.Errorf("collect qdisc statistics: %w", err)
		}
		g.samp = append(g.samp, sampler{"qdisc statistics", keep(s.Sample), s.Close})
	}
	if cfg.Has("cgroup") && len(g.rec.Topology.Nodes) > 0 {
		var groups []*cgroup.Group
		for _, n := range g.rec.Topology.Nodes {
			grp, err := cgroup.Create(g.rec.Name, n.Name)
			if err != nil {
				return fmt.Errorf("collect CPU and memory: %w", err)
			}
			g.groups[n.Name] = grp
			groups = append(groups, grp)
		}
		s, err := cgroup.Open(groups)
		if err != nil {
			return fmt.Errorf("collect CPU and memory: %w", err)
		}
		g.samp = append(g.samp, sampler{"CPU and memory", s.Sample, s.Close})
		g.emit("collect", map[string]any{"source": "cgroup", "mechanism": groups[0].Mechanism()})
	}
	return g.startCaptures(capDir)
}

// onlyTopologyIfaces drops the samples of a host node's interfaces that
// its topology does not name: the machine has others (its uplink,
// containers' veths) that are not the lab's.
func onlyTopologyIfaces(samples []collectors.Sample, hosts map[string]*topo.Node) []collectors.Sample {
	out := samples[:0]
	for _, s := range samples {
		if n := hosts[s.Node]; n != nil {
			iface, _, _ := strings.Cut(s.Object, ":") // qdisc objects are IFACE:KIND:…
			if n.Interface(iface) == nil {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// startCaptures starts one capture per collect.capture entry.
func (g *Gatherer) startCaptures(dir string) error {
	if len(g.cfg.Captures) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, cs := range g.cfg.Captures {
		n := g.rec.Topology.Node(cs.Node)
		if n == nil {
			return errkind.User("collect.capture: %s is not a node of the lab", cs.Node)
		}
		spec := pcap.Spec{
			Node: cs.Node, Iface: cs.Iface, NS: NodeNS(g.rec, n),
			SnapLen: cs.SnapLen, MaxBytes: cs.MaxBytes, MaxPackets: cs.MaxPackets, MaxDuration: cs.For,
		}
		name := cs.Node + "-" + cs.Iface
		// The capture lives until Stop, not until the caller's context:
		// Stop then flushes what it caught.
		c, err := pcap.Start(context.Background(), spec, filepath.Join(dir, name+".pcapng"))
		if err != nil {
			return fmt.Errorf("capture %s:%s: %w", cs.Node, cs.Iface, err)
		}
		g.emit("capture-start", map[string]any{"node": cs.Node, "iface": cs.Iface, "file": "captures/" + name + ".pcapng"})
		g.caps = append(g.caps, &capture{name: name, c: c})
	}
	return nil
}

// MetricsAddr is where an instance on node should serve its Prometheus
// metrics: on the node's management address when it has one (mgmt, as
// inspect reports it), else on loopback inside the node, where the
// scraper connects from within the node's namespace. k counts the
// instances on the node before this one.
func MetricsAddr(mgmt string, k int) string {
	if mgmt != "" {
		return fmt.Sprintf("%s:%d", mgmt, 9100+k)
	}
	return fmt.Sprintf("127.0.0.1:%d", LoopbackMetricsPort+k)
}

// LoopbackMetricsPort is the first port of instances serving metrics on
// loopback; it stays clear of 9100, node_exporter's port, which a real
// host's own namespace may already serve.
const LoopbackMetricsPort = 39100

// AddInstance puts a started role instance's process into its node's
// cgroup and its metrics endpoint among the scrape targets. An endpoint
// on loopback is scraped from inside the node's namespace.
func (g *Gatherer) AddInstance(node, name string, pid int, metricsAddr string) {
	if grp := g.groups[node]; grp != nil && pid > 0 {
		if err := grp.Add(pid); err != nil {
			g.emit("collect-warning", map[string]any{"source": "cgroup", "instance": name, "error": err.Error()})
		}
	}
	if metricsAddr == "" || !g.cfg.Has("prom") {
		return
	}
	t := promscrape.Target{Node: node, Instance: name, URL: "http://" + metricsAddr + "/metrics"}
	if host, _, err := net.SplitHostPort(metricsAddr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			if n := g.rec.Topology.Node(node); n != nil {
				t.NS = NodeNS(g.rec, n)
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.targets = append(g.targets, t)
	if g.scraper != nil {
		g.scraper.Close()
	}
	g.scraper = promscrape.New(g.targets, time.Second)
}

func (g *Gatherer) loop(ctx context.Context, interval time.Duration) {
	defer g.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := map[string]bool{}
	for {
		for _, s := range g.samp {
			samples, err := s.sample()
			if err == nil {
				err = g.write(samples)
			}
			if err != nil && !failed[s.name] {
				failed[s.name] = true
				g.fail(fmt.Errorf("collect %s: %w", s.name, err))
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
func (g *Gatherer) scrapeLoop(ctx context.Context, interval time.Duration) {
	defer g.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	warned, answered := map[string]bool{}, map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		s, targets := g.scraper, g.targets
		g.mu.Unlock()
		if s == nil {
			continue
		}
		samples, err := s.Sample(ctx)
		if len(samples) > 0 {
			if werr := g.write(samples); werr != nil {
				g.fail(fmt.Errorf("collect role metrics: %w", werr))
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
				g.emit("collect-warning", map[string]any{"source": "prom", "instance": tg.Instance, "error": err.Error()})
			}
		}
	}
}

func (g *Gatherer) fail(err error) {
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
}

// Stop ends sampling, scraping and the captures (recording what each
// caught), removes the per-node cgroups, and returns what failed.
func (g *Gatherer) Stop() error {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
	g.closeAll()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

func (g *Gatherer) closeAll() {
	for _, s := range g.samp {
		s.close()
	}
	g.samp = nil
	g.mu.Lock()
	if g.scraper != nil {
		g.scraper.Close()
		g.scraper = nil
	}
	g.mu.Unlock()
	for _, c := range g.caps {
		st, err := c.c.Stop()
		fields := map[string]any{"file": "captures/" + c.name + ".pcapng", "packets": st.Packets, "bytes": st.Bytes, "dropped": st.Dropped, "reason": string(st.Reason)}
		if err != nil {
			fields["error"] = err.Error()
			g.fail(fmt.Errorf("capture %s: %w", c.name, err))
		}
		g.emit("capture-end", fields)
	}
	g.caps = nil
	for node, grp := range g.groups {
		if err := grp.Remove(); err != nil {
			g.fail(fmt.Errorf("remove the cgroup of %s: %w", node, err))
		}
		delete(g.groups, node)
	}
}
