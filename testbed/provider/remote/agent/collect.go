package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/collectors/netdev"
	"github.com/tbctl/tbctl/collectors/qdisc"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/topo"
)

// HostSources are the collectors that read a host's kernel, which run on
// the host for a remote lab: interface counters and qdisc statistics.
var HostSources = []string{"netdev", "qdisc"}

// Collect samples the nodes of the host's lab sub every interval with the
// sources asked for (of HostSources) and writes each round as one JSON
// line (a list of collectors.Sample, or {"error": ...} once for a source
// that fails), until in ends. The controller stamps the samples as they
// arrive. Nodes of kind host (physical mode) are not sampled.
func Collect(ctx context.Context, sub string, interval time.Duration, sources []string, in io.Reader, out io.Writer) error {
	_, rec, _, err := testbed.Open(sub)
	if err != nil {
		return err
	}
	var nd []netdev.Node
	var qd []qdisc.Node
	for _, n := range rec.Topology.Nodes {
		if n.Kind == topo.KindHost {
			continue
		}
		ns := filepath.Join(netns.NetnsDir, lab.NamespaceName(rec.Prefix, rec.Name, n.Name))
		nd = append(nd, netdev.Node{Name: n.Name, NS: ns})
		qd = append(qd, qdisc.Node{Name: n.Name, NS: ns})
	}
	type sampler struct {
		name   string
		sample func() ([]collectors.Sample, error)
	}
	var samplers []sampler
	if slices.Contains(sources, "netdev") && len(nd) > 0 {
		s, err := netdev.Open(nd)
		if err != nil {
			return fmt.Errorf("collect interface counters: %w", err)
		}
		defer s.Close()
		samplers = append(samplers, sampler{"interface counters", s.Sample})
	}
	if slices.Contains(sources, "qdisc") && len(qd) > 0 {
		s, err := qdisc.Open(qd)
		if err != nil {
			return fmt.Errorf("collect qdisc statistics: %w", err)
		}
		defer s.Close()
		samplers = append(samplers, sampler{"qdisc statistics", s.Sample})
	}
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		close(gone)
	}()
	enc := json.NewEncoder(out)
	failed := map[string]bool{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var round []collectors.Sample
		for _, s := range samplers {
			samples, err := s.sample()
			if err != nil {
				if !failed[s.name] {
					failed[s.name] = true
					if err := enc.Encode(map[string]string{"error": fmt.Sprintf("collect %s: %v", s.name, err)}); err != nil {
						return err
					}
				}
				continue
			}
			round = append(round, samples...)
		}
		if len(round) > 0 {
			if err := enc.Encode(round); err != nil {
				return err
			}
		}
		select {
		case <-gone:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
