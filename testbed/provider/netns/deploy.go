package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/topo"
)

// deployment is the state of one Deploy: the open namespaces of its nodes.
type deployment struct {
	lab  *lab.Lab
	rec  *lab.Record
	topo *topo.Topology
	root *nodeNS

	linkNo map[*topo.Link]int // position of each link in the topology

	mu  sync.Mutex
	nss map[string]*nodeNS // node name → its namespace (root for host nodes)
}

// action is one named step of a deploy, done for count items.
type action struct {
	name  string
	count int
	do    func(ctx context.Context, i int) error
}

// Deploy creates the lab as a list of named actions, each reporting its
// progress.
func (p *Provider) Deploy(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, prog provider.Progress) error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	root, err := rootNS()
	if err != nil {
		return fmt.Errorf("open root namespace: %w", err)
	}
	d := &deployment{lab: l, rec: rec, topo: t, root: root, nss: map[string]*nodeNS{}, linkNo: map[*topo.Link]int{}}
	defer d.close()
	for i, link := range t.Links {
		d.linkNo[link] = i
	}
	if err := prepareMgmt(root, rec, t, func() error { return l.Save(rec) }); err != nil {
		return err
	}

	return runActions(ctx, d.actions(), prog)
}

// runActions does each action for all its items in parallel, reporting
// progress, and stops at the first that fails.
func runActions(ctx context.Context, actions []action, prog provider.Progress) error {
	for _, a := range actions {
		if a.count == 0 {
			continue
		}
		prog.Start(a.name, a.count)
		err := forEach(ctx, a.count, func(i int) error { return a.do(ctx, i) }, func() { prog.Add(1) })
		prog.End(err)
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *deployment) actions() []action {
	t := d.topo
	bridges := nodesOfKind(t, topo.KindBridge)
	mgmtNodes := d.mgmtNodes()
	withBinds := nodesWhere(t, func(n *topo.Node) bool { return len(n.Binds) > 0 })
	withRoutes := nodesWhere(t, func(n *topo.Node) bool { return len(n.Routes) > 0 })
	withSysctls := nodesWhere(t, func(n *topo.Node) bool { return len(n.Sysctls) > 0 })
	withCmd := nodesWhere(t, func(n *topo.Node) bool { return n.Cmd != "" })
	withExec := nodesWhere(t, func(n *topo.Node) bool { return len(n.Exec) > 0 })
	return []action{
		{"create namespaces", len(t.Nodes), func(ctx context.Context, i int) error { return d.createNode(t.Nodes[i]) }},
		{"create bridges", len(bridges), func(ctx context.Context, i int) error { return d.createBridge(bridges[i]) }},
		{"attach management network", len(mgmtNodes), func(ctx context.Context, i int) error { return d.attachMgmt(ctx, mgmtNodes[i]) }},
		{"create links", len(t.Links), func(ctx context.Context, i int) error { return d.createLink(t.Links[i]) }},
		{"set sysctls", len(withSysctls), func(ctx context.Context, i int) error { return d.setSysctls(withSysctls[i]) }},
		{"install routes", len(withRoutes), func(ctx context.Context, i int) error { return d.installRoutes(withRoutes[i]) }},
		{"mount binds", len(withBinds), func(ctx context.Context, i int) error { return d.mountBinds(withBinds[i]) }},
		{"start node commands", len(withCmd), func(ctx context.Context, i int) error { return d.startCmd(withCmd[i]) }},
		{"run exec commands", len(withExec), func(ctx context.Context, i int) error { return d.runExec(ctx, withExec[i]) }},
	}
}

func (d *deployment) close() {
	for name, n := range d.nss {
		if n != d.root {
			n.Close()
		}
		delete(d.nss, name)
	}
	d.root.Close()
}

// ns returns the open namespace of a node, or the root namespace for host
// nodes and the "host" side of links.
func (d *deployment) ns(node string) *nodeNS {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nss[node]; ok {
		return n
	}
	return d.root
}

func (d *deployment) createNode(n *topo.Node) error {
	if !inNamespace(n.Kind) {
		return nil
	}
	ns, err := createNS(namespacePath(d.rec, n.Name), d.topo.IPv6, needsForwarding(d.topo, n))
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	d.mu.Lock()
	d.nss[n.Name] = ns
	d.mu.Unlock()
	return nil
}

// createBridge makes the Linux bridge of a bridge node, named after it,
// inside the node's namespace.
func (d *deployment) createBridge(n *topo.Node) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Name}}
	h := d.ns(n.Name).nl
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, kernelLacks("bridge", err))
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("node %s: set bridge up: %w", n.Name, err)
	}
	return nil
}

// setSysctls writes a node's net.* sysctls inside its namespace, after its
// links exist so per-interface settings apply.
func (d *deployment) setSysctls(n *topo.Node) error {
	if !inNamespace(n.Kind) {
		return fmt.Errorf("node %s: sysctls on a host node would change the host itself; set them outside tbctl", n.Name)
	}
	return d.inNodeNS(n.Name, func() error {
		keys := make([]string, 0, len(n.Sysctls))
		for k := range n.Sysctls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := os.WriteFile(p, []byte(n.Sysctls[k]), 0o644); err != nil {
				return fmt.Errorf("node %s: sysctl %s=%s: %w", n.Name, k, n.Sysctls[k], err)
			}
		}
		return nil
	})
}

// kernelLacks turns "not supported" from the kernel, when creating a device
// of a driver, into an environment error that says what to do.
func kernelLacks(driver string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errkind.Env(fmt.Sprintf("load it (modprobe %s) or use a kernel built with it", driver), "the kernel has no %s driver", driver)
	}
	return fmt.Errorf("create %s: %w", driver, err)
}

// needsForwarding tells whether a node routes for others: a linux node with
// more than one data interface in a statically routed topology.
func needsForwarding(t *topo.Topology, n *topo.Node) bool {
	return t.Routing == topo.RoutingStatic && n.Kind == topo.KindLinux && len(n.Interfaces) > 1
}

func nodesOfKind(t *topo.Topology, kind string) []*topo.Node {
	return nodesWhere(t, func(n *topo.Node) bool { return n.Kind == kind })
}

func nodesWhere(t *topo.Topology, keep func(*topo.Node) bool) []*topo.Node {
	var out []*topo.Node
	for _, n := range t.Nodes {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// logPath is where a node's long-lived command writes its output.
func logPath(l *lab.Lab, node string) string { return filepath.Join(l.Dir, "nodes", node+".log") }
