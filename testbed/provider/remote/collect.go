package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// Collect runs `tbctl remote collect` on every host of the lab: each host
// runs the lab's collectors (testbed/gather, as the runner does for a
// local lab) on its share of the nodes, with the captures of its nodes,
// and streams samples and timeline events back; samples go to write as
// they arrive, events to emit with the host's name added. Stop ends the
// hosts' collectors, fetches their captures into dir/captures, and
// returns what the hosts reported failed.
func (p *Provider) Collect(l *lab.Lab, rec *lab.Record, cfg experiment.Collect, dir string, write func([]collectors.Sample) error, emit func(string, map[string]any)) (provider.Collection, error) {
	st, err := loadState(l)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotDeployed(l.Name)
	}
	caps := map[string][]*experiment.Capture{}
	for _, cs := range cfg.Captures {
		h, err := st.hostOf(cs.Node)
		if err != nil {
			return nil, errkind.User("collect.capture: %s is not a node of the lab", cs.Node)
		}
		caps[h.Target.Name] = append(caps[h.Target.Name], cs)
	}
	c := &collection{st: st, dir: dir, write: write, emit: emit, hosts: map[string]*hostCollector{}}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, h := range st.Hosts {
		hc := &hostCollector{host: h, remoteDir: path.Join(h.dir(), "collect", id), captures: len(caps[h.Target.Name]) > 0}
		hcfg := cfg
		hcfg.Captures = caps[h.Target.Name]
		if err := c.start(p, hc, hcfg); err != nil {
			c.Stop()
			return nil, fmt.Errorf("%s: %w", h.Target.Name, err)
		}
		c.hosts[h.Target.Name] = hc
	}
	return c, nil
}

// collection is the lab's collectors at work on its hosts.
type collection struct {
	st    *state
	dir   string
	write func([]collectors.Sample) error
	emit  func(string, map[string]any)
	hosts map[string]*hostCollector

	mu   sync.Mutex
	errs []error
	wg   sync.WaitGroup
}

// hostCollector is one host's `tbctl remote collect`.
type hostCollector struct {
	host      *hostState
	client    *sshx.Client
	stream    *sshx.Stream
	remoteDir string
	captures  bool

	mu          sync.Mutex // guards writes to the stream's stdin, and done
	done        bool       // the host said Done
	writeFailed bool       // writing its samples failed once (reported)
}

// start starts the host's collectors and waits until they run (or say
// why they cannot).
func (c *collection) start(p *Provider, hc *hostCollector, cfg experiment.Collect) error {
	conf, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if hc.client, err = p.connections().Client(context.Background(), hc.host.Target); err != nil {
		return err
	}
	if hc.stream, err = hc.client.StartStream(HostBin, "remote", "collect", "--lab", hc.host.Sub, "--dir", hc.remoteDir, "--config", string(conf)); err != nil {
		return err
	}
	sc := bufio.NewScanner(hc.stream.Stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for {
		if !sc.Scan() {
			hc.stream.Close()
			return errors.New("tbctl remote collect ended before it started")
		}
		var m wire.CollectMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			hc.stream.Close()
			return fmt.Errorf("tbctl remote collect said %q", sc.Text())
		}
		if m.Error != "" && !m.Ready {
			hc.stream.Close()
			return errors.New(m.Error)
		}
		if m.Ready {
			break
		}
		c.handle(hc, m) // events of starting, such as the cgroup mechanism
	}
	c.wg.Add(1)
	go c.follow(hc, sc)
	return nil
}

// follow hands on what one host sends until its stream ends.
func (c *collection) follow(hc *hostCollector, sc *bufio.Scanner) {
	defer c.wg.Done()
	for sc.Scan() {
		var m wire.CollectMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			c.handle(hc, m)
		}
	}
}

// handle hands on one message of a host.
func (c *collection) handle(hc *hostCollector, m wire.CollectMessage) {
	name := hc.host.Target.Name
	switch {
	case len(m.Samples) > 0:
		if err := c.write(m.Samples); err != nil && !hc.writeFailed {
			hc.writeFailed = true
			c.fail(fmt.Errorf("%s: %w", name, err))
		}
	case m.Event != "":
		if m.Fields == nil {
			m.Fields = map[string]any{}
		}
		m.Fields["host"] = name
		c.emit(m.Event, m.Fields)
	case m.Error != "":
		c.fail(fmt.Errorf("%s: %s", name, m.Error))
	case m.Done:
		hc.mu.Lock()
		hc.done = true
		hc.mu.Unlock()
	}
}

func (c *collection) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// AddInstance tells the node's host about a role instance started there.
func (c *collection) AddInstance(node, name string, pid int, metricsAddr string) {
	h, err := c.st.hostOf(node)
	if err != nil {
		return
	}
	hc := c.hosts[h.Target.Name]
	if hc == nil {
		return
	}
	line, _ := json.Marshal(wire.CollectInstance{Node: node, Instance: name, PID: pid, Metrics: metricsAddr})
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if _, err := hc.stream.Stdin.Write(append(line, '\n')); err != nil {
		c.fail(fmt.Errorf("%s: tell the collectors about %s: %w", h.Target.Name, name, err))
	}
}

// Stop ends every host's collectors, waits for their last samples and
// events, and fetches the captures.
func (c *collection) Stop() error {
	for _, hc := range c.hosts {
		hc.mu.Lock()
		hc.stream.Stdin.Close()
		hc.mu.Unlock()
	}
	c.wg.Wait()
	for name, hc := range c.hosts {
		hc.stream.Session.Wait()
		hc.stream.Close()
		if !hc.done {
			c.fail(fmt.Errorf("%s: lost the collectors' session before they stopped", name))
		}
		if hc.captures {
			ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
			_, err := hc.client.FetchDir(ctx, path.Join(hc.remoteDir, "captures"), filepath.Join(c.dir, "captures"))
			cancel()
			if err != nil {
				c.fail(fmt.Errorf("%s: fetch the captures: %w", name, err))
			}
		}
	}
	c.hosts = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}
