package topo

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tbctl/tbctl/internal/suggest"
)

// resolveRemote checks the remote section: its mode, that every node it
// places exists, and that every node has a host selector, from place or
// from default. Whether the selectors match hosts is the remote
// provider's check, as only it reads the inventory.
func (p *parser) resolveRemote(f *File, t *Topology) {
	d := f.Remote
	if d == nil {
		return
	}
	r := &Remote{Mode: d.Mode, Place: map[string]string{}, AllowSSHCut: d.AllowSSHCut, Pos: p.src.keyPos("/remote")}
	if r.Mode == "" {
		r.Mode = RemoteEmulated
	}
	if r.Mode != RemoteEmulated && r.Mode != RemotePhysical {
		p.probs.add(p.src.pos("/remote/mode"), `use "emulated" (nodes are namespaces on the hosts) or "physical" (each node is a host)`,
			"unknown remote mode %q", d.Mode)
	}
	switch {
	case d.Inventory == "" && d.Cloud == nil:
		p.probs.add(r.Pos, "add inventory: PATH naming the hosts' inventory file, or cloud: {module: DIR} to create the hosts",
			"remote: inventory or cloud is required")
	case d.Inventory != "" && d.Cloud != nil:
		p.probs.add(p.src.keyPos("/remote/cloud"), "keep one: the cloud module's output becomes the inventory",
			"remote: both inventory and cloud are set")
	case d.Cloud != nil:
		if d.Cloud.Module == "" {
			p.probs.add(p.src.keyPos("/remote/cloud"), "add module: DIR, the Terraform/OpenTofu module's directory", "remote.cloud: module is required")
		}
		r.Cloud = &Cloud{Module: p.relative(d.Cloud.Module), Vars: d.Cloud.Vars}
	default:
		r.Inventory = p.relative(d.Inventory)
	}
	var names []string
	for _, n := range t.Nodes {
		if n.Kind != KindHost {
			names = append(names, n.Name)
		}
	}
	keys := make([]string, 0, len(d.Place))
	for k := range d.Place {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ptr := "/remote/place/" + k
		switch n := t.Node(k); {
		case n == nil:
			hint := "place only nodes of this topology"
			if s := suggest.Closest(k, names); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			p.probs.add(p.src.keyPos(ptr), hint, "remote.place: no node called %q", k)
		case n.Kind == KindHost:
			p.probs.add(p.src.keyPos(ptr), "leave it out: a host-kind node is the machine tbctl runs on", "remote.place: node %s is of kind host", k)
		case strings.TrimSpace(d.Place[k]) == "":
			p.probs.add(p.src.pos(ptr), "write a host name or key=value labels", "remote.place.%s is empty", k)
		}
	}
	var missing []string
	for _, name := range names {
		sel := d.Place[name]
		if sel == "" {
			sel = d.Default
		}
		if sel == "" {
			missing = append(missing, name)
			continue
		}
		r.Place[name] = sel
	}
	if len(missing) > 0 {
		p.probs.add(r.Pos, "add them to remote.place, or set remote.default to a host or labels for the rest",
			"remote: no host for node(s) %s", strings.Join(missing, ", "))
	}
	t.Remote = r
}

// relative anchors a path written in the file at the file's directory.
func (p *parser) relative(path string) string {
	if path == "" || filepath.IsAbs(path) || p.src.file == "" {
		return path
	}
	return filepath.Join(filepath.Dir(p.src.file), path)
}
