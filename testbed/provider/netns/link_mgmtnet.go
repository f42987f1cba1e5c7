package netns

import (
	"fmt"

	"github.com/tbctl/tbctl/testbed/topo"
)

// createMgmtNetLink joins a node interface to the lab's management bridge
// through a root-namespace interface named by host-interface.
func (d *deployment) createMgmtNetLink(l *topo.Link) error {
	if d.rec.MgmtBr == "" {
		return fmt.Errorf("the lab has no management network (mgmt is disabled)")
	}
	if err := d.createHostLink(l); err != nil {
		return err
	}
	br, err := d.root.nl.LinkByName(d.rec.MgmtBr)
	if err != nil {
		return fmt.Errorf("find management bridge %s: %w", d.rec.MgmtBr, err)
	}
	end, err := d.root.nl.LinkByName(l.B.Iface)
	if err != nil {
		return err
	}
	if err := d.root.nl.LinkSetMasterByIndex(end, br.Attrs().Index); err != nil {
		return fmt.Errorf("attach %s to management bridge: %w", l.B.Iface, err)
	}
	return nil
}
