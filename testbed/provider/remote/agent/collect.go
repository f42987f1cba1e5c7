package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"sync"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed"
	"github.com/tbctl/tbctl/testbed/experiment"
	"github.com/tbctl/tbctl/testbed/gather"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// Collect runs the lab's collectors (testbed/gather, as the runner does
// on the controller for a local lab) on the host's lab sub, with captures
// in dir/captures, and writes wire.CollectMessage lines to out: Ready once
// started, then samples and events as they come. It reads
// wire.CollectInstance lines from in; when in ends (the run is over, or
// the controller is gone) it stops, which removes the per-node cgroups
// and closes the captures, and writes what failed and Done.
func Collect(ctx context.Context, sub string, cfg experiment.Collect, dir string, in io.Reader, out io.Writer) error {
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m wire.CollectMessage) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	_, rec, _, err := testbed.Open(sub)
	if err == nil {
		var g *gather.Gatherer
		g, err = gather.Start(ctx, rec, cfg, filepath.Join(dir, "captures"),
			func(s []collectors.Sample) error { return send(wire.CollectMessage{Samples: s}) },
			func(kind string, fields map[string]any) { send(wire.CollectMessage{Event: kind, Fields: fields}) })
		if err == nil {
			return serveCollect(g, in, send)
		}
	}
	send(wire.CollectMessage{Error: err.Error()})
	return err
}

// serveCollect hands the instances read from in to g until in ends, then
// stops g.
func serveCollect(g *gather.Gatherer, in io.Reader, send func(wire.CollectMessage) error) error {
	if err := send(wire.CollectMessage{Ready: true}); err != nil {
		g.Stop()
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var ci wire.CollectInstance
		if json.Unmarshal(sc.Bytes(), &ci) == nil {
			g.AddInstance(ci.Node, ci.Instance, ci.PID, ci.Metrics)
		}
	}
	err := g.Stop()
	if err != nil {
		send(wire.CollectMessage{Error: err.Error()})
	}
	send(wire.CollectMessage{Done: true})
	return err
}
