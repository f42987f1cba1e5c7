package experiment

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"
	"github.com/tbctl/tbctl/internal/yamlnode"
)

// Collect says what is measured while a run's roles run.
type Collect struct {
	Interval time.Duration // how often samplers sample; 0: off
	Scrape   time.Duration // how often the roles' metrics are scraped
	Sources  []string      // samplers on, out of CollectSources
	Captures []*Capture    // packet captures
}

// CollectSources are the samplers: interface counters, qdisc statistics,
// per-node cgroup CPU and memory, and the roles' Prometheus metrics.
var CollectSources = []string{"netdev", "qdisc", "cgroup", "prom"}

// DefaultSources are on unless the experiment says otherwise. qdisc is
// asked for by name: a dump of every qdisc of every node each interval
// costs about as much kernel time as the interface counters, and most
// experiments read queues from their roles instead.
var DefaultSources = []string{"netdev", "cgroup", "prom"}

// DefaultScrape is how often role metrics are scraped: Prometheus itself
// scrapes every 15 s or more; a second is fine-grained for a run and costs
// a fraction of scraping at the sampling interval.
const DefaultScrape = time.Second

// Has reports whether a sampler is on.
func (c Collect) Has(source string) bool {
	return c.Interval > 0 && contains(c.Sources, source)
}

// Capture asks for the packets of one interface in a pcapng file.
type Capture struct {
	Node, Iface string
	SnapLen     int           // bytes kept of each packet
	MaxBytes    int64         // the file stops growing here
	MaxPackets  int64         // 0: no limit
	For         time.Duration // 0: as long as the run measures
}

// Capture defaults.
const (
	DefaultSnapLen  = 128
	DefaultMaxBytes = 64 << 20
	MaxSnapLen      = 262144
)

var (
	collectFields = []string{"interval", "scrape", "sources", "capture"}
	captureFields = []string{"target", "snaplen", "max_bytes", "max_packets", "for"}
)

// collect decodes the collect section.
func (p *parser) collect(n *yaml.Node, e *Experiment) {
	f := p.fields(n, "collect", collectFields)
	if f == nil {
		return
	}
	if iv, ok := f["interval"]; ok {
		if iv.value.Value == "off" {
			e.Collect.Interval = 0
		} else if d, ok := p.duration(iv.value, "collect.interval"); ok {
			if d < 10*time.Millisecond {
				p.add(iv.value, "use 10ms or more, or off", "collect.interval %s is too short", d)
			}
			e.Collect.Interval = d
		}
	}
	if v, ok := f["scrape"]; ok {
		if d, ok := p.duration(v.value, "collect.scrape"); ok {
			if d < 10*time.Millisecond {
				p.add(v.value, "use 10ms or more", "collect.scrape %s is too short", d)
			}
			e.Collect.Scrape = d
		}
	}
	if v, ok := f["sources"]; ok {
		e.Collect.Sources = nil
		if v.value.Kind != yaml.SequenceNode {
			p.typeProblem(v.value, "collect.sources", "a list")
		}
		for _, item := range v.value.Content {
			s := p.str(deref(item), "collect.sources")
			if s == "" {
				continue
			}
			if !contains(CollectSources, s) {
				p.add(item, suggest.Hint(s, CollectSources, "sources"), "collect.sources: unknown source %q", s)
				continue
			}
			e.Collect.Sources = append(e.Collect.Sources, s)
		}
	}
	if v, ok := f["capture"]; ok && !isNull(v.value) {
		if v.value.Kind != yaml.SequenceNode {
			p.typeProblem(v.value, "collect.capture", "a list")
			return
		}
		seen := map[string]bool{}
		for i, item := range v.value.Content {
			if c := p.capture(deref(item), fmt.Sprintf("collect.capture[%d]", i), e); c != nil {
				key := c.Node + ":" + c.Iface
				if seen[key] {
					p.add(item, "capture each interface once", "collect.capture[%d]: %s is captured twice", i, key)
					continue
				}
				seen[key] = true
				e.Collect.Captures = append(e.Collect.Captures, c)
			}
		}
	}
}

func (p *parser) capture(n *yaml.Node, path string, e *Experiment) *Capture {
	f := p.fields(n, path, captureFields)
	if f == nil {
		return nil
	}
	c := &Capture{SnapLen: DefaultSnapLen, MaxBytes: DefaultMaxBytes}
	target := p.requiredField(n, f, path, "target", "name an interface: NODE:IFACE, e.g. r1:eth2")
	if target != "" {
		node, iface, ok := strings.Cut(target, ":")
		if !ok || node == "" || iface == "" || strings.ContainsAny(iface, ":/ ") {
			p.add(f["target"].value, "name an interface: NODE:IFACE, e.g. r1:eth2 (one end of a link sees all its packets)", "%s.target %q is not NODE:IFACE", path, target)
		} else {
			c.Node, c.Iface = node, iface
		}
	}
	if v, ok := f["snaplen"]; ok {
		if i, ok := p.integer(v.value, path+".snaplen"); ok {
			if i < 14 || i > MaxSnapLen {
				p.add(v.value, fmt.Sprintf("use 14 to %d bytes", MaxSnapLen), "%s.snaplen %d is out of range", path, i)
			}
			c.SnapLen = int(i)
		}
	}
	if v, ok := f["max_bytes"]; ok {
		if b, ok := p.size(v.value, path+".max_bytes"); ok {
			c.MaxBytes = b
		}
	}
	if v, ok := f["max_packets"]; ok {
		if i, ok := p.integer(v.value, path+".max_packets"); ok {
			if i <= 0 {
				p.add(v.value, "write a positive count", "%s.max_packets %d is not positive", path, i)
			}
			c.MaxPackets = i
		}
	}
	if v, ok := f["for"]; ok {
		c.For, _ = p.duration(v.value, path+".for")
	}
	return c
}

// size decodes a byte count: a whole number, or one with a unit (KiB,
// MiB, GiB, KB, MB, GB).
func (p *parser) size(n *yaml.Node, path string) (int64, bool) {
	const hint = "write a number of bytes, e.g. 1048576 or 64MiB"
	if n.Kind != yaml.ScalarNode {
		p.add(n, hint, "%s: expected a size, got %s", path, yamlnode.Describe(n))
		return 0, false
	}
	s := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		p.add(n, hint, "%s: %q is not a positive size", path, n.Value)
		return 0, false
	}
	return v * mult, true
}
