package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tbctl/tbctl/collectors/pcap"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// captures are the run's packet captures, one pcapng file per interface
// in captures/NODE-IFACE.pcapng.
type captures struct {
	tl   *timeline
	list []*pcap.Capture
	name []string
}

func startCaptures(pl *Plan, rec *lab.Record, tl *timeline) (*captures, error) {
	c := &captures{tl: tl}
	if len(pl.Exp.Collect.Captures) == 0 {
		return c, nil
	}
	dir := filepath.Join(pl.Dir, "captures")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, cs := range pl.Exp.Collect.Captures {
		n := rec.Topology.Node(cs.Node)
		if n == nil || n.Kind == topo.KindHost {
			c.stop()
			return nil, errkind.User("collect.capture: %s is not a node of the lab", cs.Node)
		}
		spec := pcap.Spec{
			Node: cs.Node, Iface: cs.Iface,
			NS:      filepath.Join("/run/netns", lab.NamespaceName(rec.Prefix, rec.Name, cs.Node)),
			SnapLen: cs.SnapLen, MaxBytes: cs.MaxBytes, MaxPackets: cs.MaxPackets, MaxDuration: cs.For,
		}
		name := cs.Node + "-" + cs.Iface
		// The capture lives until stop, not until the caller's context:
		// stop then flushes what it caught.
		capt, err := pcap.Start(context.Background(), spec, filepath.Join(dir, name+".pcapng"))
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("capture %s:%s: %w", cs.Node, cs.Iface, err)
		}
		tl.Emit("capture-start", map[string]any{"node": cs.Node, "iface": cs.Iface, "file": "captures/" + name + ".pcapng"})
		c.list = append(c.list, capt)
		c.name = append(c.name, name)
	}
	return c, nil
}

// stop ends every capture and records what each caught.
func (c *captures) stop() error {
	var errs []error
	for i, capt := range c.list {
		st, err := capt.Stop()
		fields := map[string]any{"file": "captures/" + c.name[i] + ".pcapng", "packets": st.Packets, "bytes": st.Bytes, "dropped": st.Dropped, "reason": string(st.Reason)}
		if err != nil {
			fields["error"] = err.Error()
			errs = append(errs, fmt.Errorf("capture %s: %w", c.name[i], err))
		}
		c.tl.Emit("capture-end", fields)
	}
	c.list, c.name = nil, nil
	return errors.Join(errs...)
}
