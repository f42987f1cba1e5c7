package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/collectors/netdev"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// startCollectors samples every node's interface counters into the run's
// metrics.jsonl until the returned function is called.
func startCollectors(ctx context.Context, pl *Plan, rec *lab.Record) (func() error, error) {
	interval := pl.Exp.Collect.Interval
	if interval == 0 {
		return func() error { return nil }, nil
	}
	var nodes []netdev.Node
	for _, n := range rec.Topology.Nodes {
		if n.Kind != topo.KindHost {
			nodes = append(nodes, netdev.Node{Name: n.Name, NS: filepath.Join("/run/netns", lab.NamespaceName(rec.Prefix, rec.Name, n.Name))})
		}
	}
	sampler, err := netdev.Open(nodes)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(pl.Dir, "metrics.jsonl"))
	if err != nil {
		sampler.Close()
		return nil, err
	}
	w := collectors.NewWriter(f)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var firstErr error
		for {
			samples, err := sampler.Sample()
			if err == nil {
				err = w.Write(samples)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			select {
			case <-cctx.Done():
				done <- firstErr
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		cancel()
		err := <-done
		sampler.Close()
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("collect interface counters: %w", err)
		}
		return nil
	}, nil
}
