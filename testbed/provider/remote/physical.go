package remote

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/topo"
)

// physicalProblems refuses, in physical mode, what would change a host
// beyond what destroy reverts: exec commands, sysctls, routes. Links must
// join two nodes: they describe cables.
func physicalProblems(t *topo.Topology) error {
	var probs topo.Problems
	for _, n := range t.Nodes {
		switch {
		case n.Kind != topo.KindLinux:
			probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: physical mode places only linux nodes, each on a host of its own", n.Name), Hint: "use mode: emulated for bridges"})
		case len(n.Exec) > 0 || len(n.Sysctls) > 0:
			probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: exec and sysctls would change the host for good; physical mode does not run them", n.Name), Hint: "configure the host yourself, or shape links with impair:, which destroy reverts"})
		case len(n.Routes) > 0:
			probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: physical mode does not install routes on hosts", n.Name), Hint: "remove routing: static and routes:, and route on the hosts themselves"})
		}
	}
	for _, l := range t.Links {
		if l.Type != topo.LinkVeth {
			probs = append(probs, topo.Problem{Pos: l.Pos, Msg: fmt.Sprintf("a %s link has no cable to check in physical mode", l.Type), Hint: "write links between two nodes"})
		}
	}
	if len(probs) > 0 {
		return probs.Sorted()
	}
	return nil
}

// physicalRecord is the lab a host keeps for its node in physical mode:
// the node is the host itself (kind host, so roles and faults act in the
// host's own namespace) with its interfaces as the topology writes them,
// and each of its links with the far end, on another host, left out.
func physicalRecord(sub string, t *topo.Topology, node string) *lab.Record {
	n := *t.Node(node)
	n.Kind, n.Exec, n.Routes = topo.KindHost, nil, nil
	sub_ := &topo.Topology{Name: sub, Prefix: t.Prefix, Mgmt: topo.Mgmt{Disabled: true}, Nodes: []*topo.Node{&n}}
	for _, l := range t.Links {
		var end topo.Endpoint
		switch node {
		case l.A.Node:
			end = l.A
		case l.B.Node:
			end = l.B
		default:
			continue
		}
		sub_.Links = append(sub_.Links, &topo.Link{Type: l.Type, A: end, MTU: l.MTU, Impair: l.Impair, Pos: l.Pos})
	}
	return &lab.Record{Name: sub, Prefix: t.Prefix, Topology: sub_, Namespace: map[string]string{}}
}

// checkCable pings each link's far address from the near end's interface,
// on the near end's host: the cable is there and carries traffic. A link
// without an address at its far end is checked only for its interfaces
// (by adopt on each host).
func checkCable(ctx context.Context, c *sshx.Client, t *topo.Topology, l *topo.Link) error {
	far := t.Node(l.B.Node).Interface(l.B.Iface)
	if far == nil || len(far.Addrs) == 0 {
		return nil
	}
	addr := far.Addrs[0].Addr().String()
	var out bytes.Buffer
	code, err := c.Run(ctx, []string{"ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", l.A.Iface, addr}, nil, &out, &out)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("link %s -- %s: %s does not answer from %s's %s (%s); check the cabling and the addresses the topology writes",
			l.A, l.B, addr, l.A.Node, l.A.Iface, lastLine(out.String()))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
