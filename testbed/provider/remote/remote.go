// Package remote is the provider for labs on other machines: bare-metal
// hosts reached over SSH, listed in an inventory (or made by OpenTofu, see
// package cloud). The topology's remote: section names the inventory, the
// mode and which host runs which node.
//
// In emulated mode each host runs its share of the lab as a netns lab of
// its own, deployed by the same tbctl binary copied there; a link between
// nodes on two hosts becomes a VXLAN tunnel between the hosts. Role
// instances run on their host under `tbctl remote role`, which stops them
// when the controller's SSH session ends; their files are fetched into the
// run directory when they end.
//
// On the controller it touches only the lab's directory. On each host it
// touches only /var/lib/tbctl (the copied binary and the lab's files) and
// what the host's own tbctl makes for the lab, which `tbctl destroy` there
// removes by name.
package remote

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	"github.com/tbctl/tbctl/testbed/provider/remote/inventory"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Name is the provider's name for --provider.
const Name = "remote"

// Paths on the hosts.
const (
	HostBin  = "/var/lib/tbctl/bin/tbctl"
	HostLabs = "/var/lib/tbctl/labs"
)

// Parallel bounds how many hosts are worked on at once.
var Parallel = 16

// DialOptions tune the SSH connections to the hosts.
var DialOptions = sshx.Options{Timeout: 10 * time.Second, Retries: 3, Agent: true}

// Provider runs labs on remote hosts.
type Provider struct {
	once sync.Once
	pool *sshx.Pool
}

func init() { provider.Register(&Provider{}) }

func (*Provider) Name() string { return Name }

// Kinds are the kinds a host's netns lab can run; a host-kind node would
// be the controller and cannot be placed.
func (*Provider) Kinds() map[string]bool {
	return map[string]bool{topo.KindLinux: true, topo.KindBridge: true}
}

// connections returns the process's pool: one SSH connection per host,
// shared by every lab and call.
func (p *Provider) connections() *sshx.Pool {
	p.once.Do(func() { p.pool = sshx.NewPool(DialOptions) })
	return p.pool
}

func target(h *inventory.Host) sshx.Target {
	return sshx.Target{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, Identity: h.Identity, HostKey: h.HostKey, KnownHosts: h.KnownHosts}
}

// Preflight reads the inventory, places the nodes and refuses what cannot
// be made on remote hosts. Deploy then reaches every host before it makes
// anything, so a wrong key, user or address fails with nothing made. With
// no topology (destroy) it checks nothing: destroy reaches the hosts it
// recorded.
func (p *Provider) Preflight(ctx context.Context, t *topo.Topology) error {
	if t == nil {
		return nil
	}
	_, _, err := p.planFor(t, t.Name)
	return err
}

// planFor loads the topology's inventory and places its nodes.
func (p *Provider) planFor(t *topo.Topology, labName string) (*plan, *inventory.Inventory, error) {
	if t.Remote == nil {
		return nil, nil, errkind.User("%s: the remote provider needs a remote: section naming the inventory (see docs/remote.md)", t.File)
	}
	if err := unsupported(t); err != nil {
		return nil, nil, err
	}
	inv, err := inventory.Load(t.Remote.Inventory)
	if err != nil {
		return nil, nil, errkind.User("%v", err)
	}
	pl, err := newPlan(labName, t, inv)
	if err != nil {
		return nil, nil, errkind.User("%v", err)
	}
	if pl.mode == topo.RemotePhysical {
		if err := physicalProblems(t); err != nil {
			return nil, nil, err
		}
	}
	return pl, inv, nil
}

// unsupported refuses what has no meaning on remote hosts.
func unsupported(t *topo.Topology) error {
	var probs topo.Problems
	for _, n := range t.Nodes {
		if len(n.Binds) > 0 {
			probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: binds are paths on the controller and are not supported on the remote provider", n.Name), Hint: "remove binds, or copy the files with the experiment's roles"})
		}
		if len(n.Roles) > 0 {
			probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: roles in the topology are not supported on the remote provider yet", n.Name), Hint: "place them in an experiment's roles: section and use tbctl run"})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// reach connects to every host of the plan, in parallel, calling done as
// each answers.
func (p *Provider) reach(ctx context.Context, pl *plan, done func()) error {
	var targets []sshx.Target
	for _, hp := range pl.hosts {
		targets = append(targets, target(hp.host))
	}
	err := p.connections().ForEach(ctx, targets, Parallel, func(context.Context, *sshx.Client) error { done(); return nil })
	if err != nil {
		return errkind.Env("fix it in "+pl.inventory, "reach the lab's hosts: %v", err)
	}
	return nil
}

// Start is not used: role instances are started by Launch.
func (*Provider) Start(_ *lab.Lab, _ *lab.Record, node string, _ *exec.Cmd) error {
	return fmt.Errorf("node %s is on a remote host: processes there are started with Launch", node)
}

// Orphans finds nothing: a remote lab's hosts are known only from its
// directory, so a lab whose directory is lost is destroyed on each host
// with `tbctl destroy --all` there.
func (*Provider) Orphans(context.Context) ([]string, error) { return nil, nil }

var (
	_ provider.Provider   = (*Provider)(nil)
	_ provider.Launcher   = (*Provider)(nil)
	_ provider.FaultRelay = (*Provider)(nil)
	_ provider.Sampler    = (*Provider)(nil)
)

// WaitForSSH waits until every host of the inventory completes an SSH
// handshake with its verified key, retrying until timeout: new cloud
// hosts take a while to boot. The last error of each host that never
// answered is returned.
func WaitForSSH(ctx context.Context, inv *inventory.Inventory, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var targets []sshx.Target
	for _, h := range inv.Hosts {
		targets = append(targets, target(h))
	}
	opts := DialOptions
	opts.Retries = 1
	var last error
	for {
		pool := sshx.NewPool(opts)
		last = pool.ForEach(ctx, targets, Parallel, func(context.Context, *sshx.Client) error { return nil })
		pool.Close()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hosts did not answer over SSH within %s: %w", timeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}
