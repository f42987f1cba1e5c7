package clab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider"
)

// Destroy removes the containerlab lab (through its file when there is
// one, else by the containers' labels), then what tbctl pinned and started
// in the nodes' namespaces. It works after a killed deploy and may be
// repeated.
func (p *Provider) Destroy(ctx context.Context, l *lab.Lab, rec *lab.Record) error {
	if rec == nil {
		rec = &lab.Record{Name: l.Name, Prefix: "tb"}
	}
	var errs []error
	file := fileOf(l)
	if cl, err := containerlab(); err == nil && exists(file) {
		if _, err := runIn(ctx, filepath.Dir(file), cl, "destroy", "-t", file, "--cleanup"); err != nil {
			errs = append(errs, err)
		}
	}
	// Whatever containerlab did not remove: containers by label, then the
	// management network.
	if out, err := run(ctx, "docker", "ps", "-aq", "--filter", "label=containerlab="+labName(rec)); err == nil {
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			if _, err := run(ctx, "docker", append([]string{"rm", "-f"}, ids...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if out, err := run(ctx, "docker", "network", "ls", "-q", "--no-trunc", "--filter", "name=^"+mgmtNetwork(rec)+"$"); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		if _, err := run(ctx, "docker", "network", "rm", mgmtNetwork(rec)); err != nil {
			errs = append(errs, err)
		}
		// The rule containerlab adds for the network's bridge.
		id := strings.TrimSpace(string(out))
		if len(id) >= 12 {
			run(ctx, "iptables", "-D", "DOCKER-USER", "-o", "br-"+id[:12], "-m", "comment", "--comment", "set by containerlab", "-j", "ACCEPT")
		}
	}
	errs = append(errs, removeHostEntries(labName(rec)))
	// The pins, and the role instances tbctl started in the namespaces.
	if err := p.ns.Destroy(ctx, l, rec); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Dir(file)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Orphans lists labs that have containers but no directory.
func (p *Provider) Orphans(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "docker", "ps", "-a", "--filter", "label=containerlab", "--format", `{{.Label "containerlab"}}`)
	if err != nil {
		return nil, nil // no Docker, no containers
	}
	known, err := lab.List()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, k := range known {
		have[k] = true
	}
	seen := map[string]bool{}
	var names []string
	for _, clabName := range strings.Fields(string(out)) {
		name, ok := strings.CutPrefix(clabName, "tb-")
		if ok && !have[name] && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names, nil
}

// Inspect shows the lab as the netns provider sees its namespaces, with
// the containerlab lab's management network.
func (p *Provider) Inspect(ctx context.Context, l *lab.Lab, rec *lab.Record) (*provider.Inspection, error) {
	insp, err := p.ns.Inspect(ctx, l, rec)
	if err != nil {
		return nil, err
	}
	insp.Provider = Name
	byNode, err := containers(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", rec.Name, err)
	}
	// Every container's eth0 is on the management network.
	for i := range insp.Nodes {
		n := &insp.Nodes[i]
		if c, ok := byNode[n.Name]; ok {
			n.Container = strings.TrimPrefix(first(c.Names), "/") + " " + c.State
		}
		for _, ifc := range n.Interfaces {
			if ifc.Name == "eth0" && len(ifc.Addrs) > 0 && n.MgmtIPv4 == "" {
				n.MgmtIPv4, _, _ = strings.Cut(ifc.Addrs[0], "/")
			}
		}
	}
	return insp, nil
}

// removeHostEntries removes what containerlab writes on the host for a lab
// and removes only at its own destroy: the lab's block of /etc/hosts and
// its SSH client configuration.
func removeHostEntries(name string) error {
	var errs []error
	if data, err := os.ReadFile("/etc/hosts"); err == nil {
		begin, end := "###### CLAB-"+name+"-START ######", "###### CLAB-"+name+"-END ######"
		if i := strings.Index(string(data), begin); i >= 0 {
			if j := strings.Index(string(data)[i:], end); j >= 0 {
				rest := string(data)[i+j+len(end):]
				rest = strings.TrimPrefix(rest, "\n")
				if err := os.WriteFile("/etc/hosts", []byte(string(data)[:i]+rest), 0o644); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := os.Remove("/etc/ssh/ssh_config.d/clab-" + name + ".conf"); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
