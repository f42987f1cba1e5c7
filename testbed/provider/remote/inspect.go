package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/topo"
)

func errNotDeployed(name string) error {
	return errkind.User("lab %s has no remote hosts recorded (its deploy did not start)", name)
}

// Inspect asks every host's tbctl for its share and joins the answers.
// Each node's namespace is shown as host:namespace.
func (p *Provider) Inspect(ctx context.Context, l *lab.Lab, rec *lab.Record) (*provider.Inspection, error) {
	st, err := loadState(l)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotDeployed(l.Name)
	}
	insp := &provider.Inspection{Name: rec.Name, Provider: Name, State: rec.State, Mechanisms: rec.Mechanisms}
	// A node's end of a cross-host link shows the tunnel's veth as its
	// peer on its host; the peer that matters is the far node.
	far := map[string]string{}
	if rec.Topology != nil {
		for i, l := range rec.Topology.Links {
			if l.Type != topo.LinkVeth || l.A.Node == "" || l.B.Node == "" {
				continue
			}
			veth, _, _, _ := tunnelNames(rec.Name, i)
			far[l.A.String()+"|"+veth] = l.B.String() + " (vxlan)"
			far[l.B.String()+"|"+veth] = l.A.String() + " (vxlan)"
		}
		for _, l := range rec.Topology.Links {
			insp.Links = append(insp.Links, provider.LinkState{Type: l.Type, A: l.A.String(), B: l.B.String()})
		}
	}
	var mu sync.Mutex
	err = p.connections().ForEach(ctx, st.targets(), Parallel, func(ctx context.Context, c *sshx.Client) error {
		h := st.host(c.Name())
		out, err := c.Output(ctx, []string{HostBin, "inspect", h.Sub, "--format", "json"})
		if err != nil {
			return err
		}
		var sub provider.Inspection
		if err := json.Unmarshal(out, &sub); err != nil {
			return fmt.Errorf("%s: read inspect output: %w", c.Name(), err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, n := range sub.Nodes {
			n.Namespace = h.Target.Name + ":" + n.Namespace
			for i := range n.Interfaces {
				ifc := &n.Interfaces[i]
				if p, ok := far[n.Name+":"+ifc.Name+"|"+strings.TrimPrefix(ifc.Peer, "host:")]; ok {
					ifc.Peer = p
				}
			}
			insp.Nodes = append(insp.Nodes, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(insp.Nodes, func(i, j int) bool { return insp.Nodes[i].Name < insp.Nodes[j].Name })
	return insp, nil
}
