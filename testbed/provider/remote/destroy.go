package remote

import (
	"context"
	"fmt"
	"os"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
)

// Destroy removes the lab from every host it recorded: the host's tbctl
// destroys the host's share (its namespaces, and the tunnel devices marked
// with its lab's alias) and the lab's directory under /var/lib/tbctl/labs
// goes. A host that cannot be reached fails the destroy, and the lab's
// directory stays so that it can be tried again.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab, rec *lab.Record) error {
	st, err := loadState(l)
	if err != nil || st == nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	err = p.connections().ForEach(ctx, st.targets(), Parallel, func(ctx context.Context, c *sshx.Client) error {
		h := st.host(c.Name())
		// The host's tbctl does the work; a deploy killed before it was
		// copied (or a host cleaned since) gets it again.
		if _, err := c.CopyFile(ctx, self, HostBin, 0o755); err != nil {
			return err
		}
		if err := runHost(ctx, c, HostBin, "destroy", h.Sub); err != nil {
			return err
		}
		return runHost(ctx, c, "rm", "-rf", "--", h.dir())
	})
	if err != nil {
		return fmt.Errorf("on the lab's hosts: %w (the lab's record stays in %s for another try; if these hosts are gone for good, remove that directory)", err, l.Dir)
	}
	return nil
}
