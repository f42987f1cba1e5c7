package remote

import (
	"context"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
)

// Exec runs a command in a node through its host's tbctl.
func (p *Provider) Exec(ctx context.Context, l *lab.Lab, rec *lab.Record, node string, argv []string, stdio provider.Stdio) (int, error) {
	_, h, err := p.nodeHost(l, node)
	if err != nil {
		return -1, err
	}
	c, err := p.connections().Client(ctx, h.Target)
	if err != nil {
		return -1, err
	}
	return c.Run(ctx, append([]string{HostBin, "exec", h.Sub, node, "--"}, argv...), stdio.In, stdio.Out, stdio.Err)
}

// nodeHost returns the lab's state and the host that runs node.
func (p *Provider) nodeHost(l *lab.Lab, node string) (*state, *hostState, error) {
	st, err := loadState(l)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, errNotDeployed(l.Name)
	}
	h, err := st.hostOf(node)
	return st, h, err
}
