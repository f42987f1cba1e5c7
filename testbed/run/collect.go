package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/gather"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
)

// collection is what measures one run's lab while its roles run: the
// lab's collectors (testbed/gather), here for a lab on this machine or on
// its hosts for a remote one, writing every sample into the run's
// metrics.jsonl and packet captures into captures/.
type collection struct {
	f    *os.File
	w    *collectors.Writer
	work provider.Collection
}

// startCollectors starts what the experiment's collect section asks for.
// Call addInstance as each role instance starts and stop at the end.
func startCollectors(ctx context.Context, pl *Plan, rec *lab.Record, tl *timeline) (*collection, error) {
	c := &collection{}
	cfg := pl.Exp.Collect
	if cfg.Interval == 0 && len(cfg.Captures) == 0 {
		return c, nil
	}
	f, err := os.Create(filepath.Join(pl.Dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	c.f, c.w = f, collectors.NewWriter(f)
	l, _, p, err := testbed.Open(pl.Lab)
	if err == nil {
		if s, ok := p.(provider.Sampler); ok {
			c.work, err = s.Collect(l, rec, cfg, pl.Dir, c.w.Write, tl.Emit)
			if err != nil {
				err = fmt.Errorf("collect on the lab's hosts: %w", err)
			}
		} else {
			c.work, err = gather.Start(ctx, rec, cfg, filepath.Join(pl.Dir, "captures"), c.w.Write, tl.Emit)
		}
	}
	if err != nil {
		c.finish()
		return nil, err
	}
	return c, nil
}

// addInstance puts a started role instance's process into its node's
// cgroup and its metrics endpoint among the scrape targets.
func (c *collection) addInstance(node, name string, pid int, metricsAddr string) {
	if c.work != nil {
		c.work.AddInstance(node, name, pid, metricsAddr)
	}
}

// stop ends collection and flushes metrics.jsonl and the captures.
func (c *collection) stop() error {
	var err error
	if c.work != nil {
		err = c.work.Stop()
		c.work = nil
	}
	if ferr := c.finish(); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// finish writes out and closes metrics.jsonl.
func (c *collection) finish() error {
	if c.w == nil {
		return nil
	}
	err := c.w.Finish()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.w = nil
	if err != nil {
		return fmt.Errorf("write metrics.jsonl: %w", err)
	}
	return nil
}
