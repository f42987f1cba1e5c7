// Package testbed is the engine's front door: it turns a topology file into
// a running lab and back, whatever provider runs it. The CLI calls only this
// package; it reads files, checks them (topo, ipplan), takes the lab's lock,
// writes the lab's record before anything is created, hands the work to the
// provider, starts the lab's supervisor when the topology places roles, and
// destroys whatever was made when a deploy fails.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/collectors/cgroup"
	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
	_ "github.com/tbctl/tbctl/testbed/provider/clab" // registers the containerlab provider
	"github.com/tbctl/tbctl/testbed/provider/netns"
	"github.com/tbctl/tbctl/testbed/provider/remote"
	"github.com/tbctl/tbctl/testbed/supervisor"
	"github.com/tbctl/tbctl/testbed/topo"
	"github.com/tbctl/tbctl/testbed/topo/ipplan"
)

// DefaultProvider runs labs when neither the command line nor the file names
// one.
const DefaultProvider = netns.Name

// Resolve reads, validates and plans a topology file for a provider. The
// provider is providerFlag if set, else the file's own, else the default.
// Bad input comes back as topo.Problems.
func Resolve(path, providerFlag string) (*topo.Topology, provider.Provider, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, errkind.User("read topology: %v", err)
	}
	return ResolveData(data, path, providerFlag)
}

// ResolveData is Resolve for a topology held in memory; path names it in
// messages.
func ResolveData(data []byte, path, providerFlag string) (*topo.Topology, provider.Provider, error) {
	name := providerFlag
	if name == "" {
		name = providerOf(data)
	}
	p, err := provider.Get(name)
	if err != nil {
		return nil, nil, errkind.User("%v", err)
	}
	t, err := topo.Parse(data, path, topo.Options{Provider: p.Name(), Kinds: p.Kinds()})
	if err != nil {
		return nil, nil, err
	}
	if err := ipplan.Apply(t); err != nil {
		return nil, nil, err
	}
	if err := supervisor.Check(t); err != nil {
		return nil, nil, errkind.User("%v", err)
	}
	return t, p, nil
}

// providerOf returns the provider a file names, else remote for a file
// with a remote section, else the default. A file too broken to read gets
// the default, and Parse then reports its problems.
func providerOf(data []byte) string {
	var head struct {
		Provider string `yaml:"provider"`
		Remote   any    `yaml:"remote"`
	}
	if yaml.Unmarshal(data, &head) == nil {
		switch {
		case head.Provider != "":
			return head.Provider
		case head.Remote != nil:
			return remote.Name
		}
	}
	return DefaultProvider
}

// DeployOptions say what to deploy and how to report it.
type DeployOptions struct {
	File     string
	Provider string // "" : the file's or the default
	Name     string // "" : the file's name
	Progress provider.Progress
}

// Deploy brings a lab up. On any failure, including a cancelled context,
// whatever was created is destroyed before it returns.
func Deploy(ctx context.Context, o DeployOptions) (rec *lab.Record, err error) {
	t, p, err := Resolve(o.File, o.Provider)
	if err != nil {
		return nil, err
	}
	if o.Name != "" {
		if err := topo.CheckLabName(o.Name); err != nil {
			return nil, errkind.User("--name: %v", err)
		}
		if t.Mgmt.Network == lab.NamespaceName(t.Prefix, t.Name, "mgmt") {
			t.Mgmt.Network = lab.NamespaceName(t.Prefix, o.Name, "mgmt")
		}
		t.Name = o.Name
	}
	if err := checkBinds(t); err != nil {
		return nil, err
	}
	if err := p.Preflight(ctx, t); err != nil {
		return nil, err
	}
	l := lab.Open(t.Name)
	unlock, err := l.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	rec = &lab.Record{
		Name: t.Name, Provider: p.Name(), Prefix: t.Prefix, File: o.File,
		Created: time.Now().UTC(), PID: os.Getpid(), State: lab.StateDeploying,
		Topology: t, Namespace: map[string]string{},
	}
	for _, n := range t.Nodes {
		if n.Kind != topo.KindHost {
			rec.Namespace[n.Name] = lab.NamespaceName(t.Prefix, t.Name, n.Name)
		}
	}
	if err := l.Create(rec); err != nil {
		return nil, errkind.User("%v", err)
	}
	err = p.Deploy(ctx, l, rec, t, o.Progress)
	if _, remote := p.(provider.FaultRelay); err == nil && !remote {
		// A provider whose nodes are elsewhere impairs links there.
		err = impairLinks(ctx, l, rec, t, o.Progress)
	}
	if err == nil && supervisor.Needed(t) {
		o.Progress.Start("start roles", 1)
		if err = supervisor.Launch(ctx, l); err == nil {
			o.Progress.Add(1)
		}
		o.Progress.End(err)
	}
	if err != nil {
		supervisor.Stop(l)
		cleanup := p.Destroy(context.WithoutCancel(ctx), l, rec)
		if cleanup == nil {
			cleanup = l.Remove()
		}
		if cleanup != nil {
			return nil, fmt.Errorf("deploy %s: %w (cleanup also failed: %v; run `tbctl destroy %s`)", t.Name, err, cleanup, t.Name)
		}
		return nil, fmt.Errorf("deploy %s: %w (everything created was removed)", t.Name, err)
	}
	rec.State = lab.StateRunning
	return rec, l.Save(rec)
}

// Adopt records a lab whose nodes exist already, as host-kind nodes: the
// remote provider's physical hosts, where tbctl creates nothing. It
// writes the lab's record and applies its links' static impairments,
// which destroy reverts. On failure it removes what it did.
func Adopt(ctx context.Context, rec *lab.Record) error {
	if err := topo.CheckLabName(rec.Name); err != nil {
		return errkind.User("%v", err)
	}
	l := lab.Open(rec.Name)
	unlock, err := l.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	rec.Provider, rec.PID, rec.Created, rec.State = netns.Name, os.Getpid(), time.Now().UTC(), lab.StateRunning
	if err := l.Create(rec); err != nil {
		return errkind.User("%v", err)
	}
	if err := impairLinks(ctx, l, rec, rec.Topology, provider.NoProgress{}); err != nil {
		fault.Open(l, rec).Clear("")
		l.Remove()
		return err
	}
	return nil
}

// impairLinks applies the links' static impairments through the fault
// engine, so they are journaled, verified, served by the same mechanisms as
// faults (and listed by tbctl fault list), and reverted by destroy.
func impairLinks(ctx context.Context, l *lab.Lab, rec *lab.Record, t *topo.Topology, prog provider.Progress) error {
	type inj struct {
		code, target string
		params       map[string]string
	}
	var todo []inj
	for _, link := range t.Links {
		imp := link.Impair
		if imp == nil {
			continue
		}
		if imp.Delay > 0 {
			params := map[string]string{"delay": imp.Delay.String()}
			if imp.Jitter > 0 {
				params["jitter"] = imp.Jitter.String()
			}
			todo = append(todo, inj{"net.delay", link.A.String(), params})
		}
		for _, ep := range []topo.Endpoint{link.A, link.B} {
			if ep.Node == "" {
				continue // a link's end on another machine (remote, physical)
			}
			end := ep.String()
			if imp.LossPct > 0 {
				todo = append(todo, inj{"net.loss", end, map[string]string{"percent": fmt.Sprint(imp.LossPct)}})
			}
			if imp.RateMbps > 0 {
				todo = append(todo, inj{"net.rate", end, map[string]string{"mbps": fmt.Sprint(imp.RateMbps)}})
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	prog.Start("impair links", len(todo))
	e := fault.Open(l, rec)
	for _, in := range todo {
		if _, err := e.Inject(ctx, in.code, in.target, in.params, false); err != nil {
			prog.End(err)
			return fmt.Errorf("impair link at %s: %w", in.target, err)
		}
		prog.Add(1)
	}
	prog.End(nil)
	return nil
}

// Destroy removes a lab. A lab that does not exist is not an error: destroy
// is idempotent.
func Destroy(ctx context.Context, name string) error {
	l := lab.Open(name)
	unlock, err := l.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	rec, _ := l.Load() // a missing or torn record still lets names be swept
	if rec == nil {
		return sweep(ctx, l)
	}
	pname := DefaultProvider
	if rec.Provider != "" {
		pname = rec.Provider
	}
	p, err := provider.Get(pname)
	if err != nil {
		return err
	}
	if err := p.Preflight(ctx, nil); err != nil {
		return err
	}
	supervisor.Stop(l)
	if rec != nil && rec.Topology != nil {
		// Faults outside the lab's namespaces (and their journal) go first.
		fault.Open(l, rec).Clear("")
	}
	if err := p.Destroy(ctx, l, rec); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	// The per-node cgroups of a run's collectors, also when the run was
	// killed before it removed them.
	if err := cgroup.RemoveLab(name); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	return l.Remove()
}

// sweep destroys a lab whose record is lost, and with it which provider
// made it: every provider that can run here removes what it would have
// made, by name.
func sweep(ctx context.Context, l *lab.Lab) error {
	supervisor.Stop(l)
	var errs []error
	for _, pname := range provider.Names() {
		p, _ := provider.Get(pname)
		if p.Preflight(ctx, nil) != nil {
			continue
		}
		errs = append(errs, p.Destroy(ctx, l, nil))
	}
	errs = append(errs, cgroup.RemoveLab(l.Name))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", l.Name, err)
	}
	return l.Remove()
}

// Labs lists deployed labs and, when orphans is set, labs that left objects
// behind without a record.
func Labs(ctx context.Context, orphans bool) ([]string, error) {
	names, err := lab.List()
	if err != nil || !orphans {
		return names, err
	}
	for _, pname := range provider.Names() {
		p, _ := provider.Get(pname)
		more, err := p.Orphans(ctx)
		if err != nil {
			return nil, err
		}
		names = append(names, more...)
	}
	return names, nil
}

// DestroyAll removes every lab, orphans included.
func DestroyAll(ctx context.Context) ([]string, error) {
	names, err := Labs(ctx, true)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, Destroy(ctx, n))
	}
	return names, errors.Join(errs...)
}

// Open returns a deployed lab, its record and its provider.
func Open(name string) (*lab.Lab, *lab.Record, provider.Provider, error) {
	l := lab.Open(name)
	rec, err := l.Load()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, errkind.User("no lab called %q is deployed (see `tbctl inspect`)", name)
		}
		return nil, nil, nil, err
	}
	p, err := provider.Get(rec.Provider)
	if err != nil {
		return nil, nil, nil, err
	}
	// Any tbctl that touches a lab reverts the faults a dead tbctl held.
	if _, err := fault.Open(l, rec).Heal(); err != nil {
		return nil, nil, nil, fmt.Errorf("heal faults left by a tbctl that died: %w", err)
	}
	return l, rec, p, nil
}

// Faults returns the fault engine of a deployed lab (Open has reverted the
// faults whose tbctl died).
func Faults(name string) (fault.Injector, error) {
	l, rec, p, err := Open(name) // heals
	if err != nil {
		return nil, err
	}
	if r, ok := p.(provider.FaultRelay); ok {
		return r.Faults(l, rec)
	}
	return fault.Open(l, rec), nil
}

// Inspect reports a deployed lab's live state.
func Inspect(ctx context.Context, name string) (*provider.Inspection, error) {
	l, rec, p, err := Open(name)
	if err != nil {
		return nil, err
	}
	insp, err := p.Inspect(ctx, l, rec)
	if err == nil {
		insp.Roles = supervisor.Status(l)
	}
	return insp, err
}

// Exec runs a command inside a node of a lab and returns its exit status.
func Exec(ctx context.Context, labName, node string, argv []string, stdio provider.Stdio) (int, error) {
	l, rec, p, err := Open(labName)
	if err != nil {
		return 0, err
	}
	return p.Exec(ctx, l, rec, node, argv, stdio)
}

// checkBinds refuses, before anything is made, binds whose host path does
// not exist: every provider would fail on them halfway.
func checkBinds(t *topo.Topology) error {
	var probs topo.Problems
	for _, n := range t.Nodes {
		for _, b := range n.Binds {
			if _, err := os.Stat(b.Host); err != nil {
				probs = append(probs, topo.Problem{Pos: n.Pos, Msg: fmt.Sprintf("node %s: binds: host path %s does not exist", n.Name, b.Host), Hint: "create it, or fix the path"})
			}
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}
