package clab

import (
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/topo"
)

// file is the part of containerlab's topology file tbctl writes.
type file struct {
	Name     string   `yaml:"name"`
	Mgmt     mgmt     `yaml:"mgmt"`
	Topology topology `yaml:"topology"`
}

type mgmt struct {
	Network    string `yaml:"network"`
	IPv4Subnet string `yaml:"ipv4-subnet,omitempty"`
}

type topology struct {
	Nodes map[string]*node `yaml:"nodes"`
	Links []link           `yaml:"links,omitempty"`
}

type node struct {
	Kind            string            `yaml:"kind"`
	Image           string            `yaml:"image,omitempty"`
	ImagePullPolicy string            `yaml:"image-pull-policy,omitempty"`
	Cmd             string            `yaml:"cmd,omitempty"`
	Exec            []string          `yaml:"exec,omitempty"`
	Binds           []string          `yaml:"binds,omitempty"`
	Env             map[string]string `yaml:"env,omitempty"`
	Labels          map[string]string `yaml:"labels,omitempty"`
	MgmtIPv4        string            `yaml:"mgmt-ipv4,omitempty"`
	Sysctls         map[string]string `yaml:"sysctls,omitempty"`
}

type link struct {
	Endpoints []string `yaml:"endpoints"`
	MTU       int      `yaml:"mtu,omitempty"`
}

// labName is the containerlab lab of a tbctl lab; its containers are
// clab-<labName>-<node>.
func labName(rec *lab.Record) string { return rec.Prefix + "-" + rec.Name }

// mgmtNetwork is the Docker network of a lab's management interfaces.
func mgmtNetwork(rec *lab.Record) string { return rec.Prefix + "-" + rec.Name + "-mgmt" }

// translate writes the containerlab file of a topology. Linux and bridge
// nodes without an image of their own run tbctl's node image and are then
// configured from the host by tbctl, as on the netns provider (addresses,
// routes, sysctls, exec lines: see netns.Adopt); adopt is the topology that
// configuration works from. Nodes with an image and kinds only
// containerlab knows are passed through with their own exec and cmd.
func translate(rec *lab.Record, t *topo.Topology, image, subnet string) (data []byte, adopt *topo.Topology, err error) {
	f := file{Name: labName(rec), Mgmt: mgmt{Network: mgmtNetwork(rec), IPv4Subnet: subnet}, Topology: topology{Nodes: map[string]*node{}}}
	cp := *t
	adopt = &cp
	adopt.Nodes = nil
	for _, n := range t.Nodes {
		if n.Kind == topo.KindHost {
			continue // the host itself: links to it end in "host:IFACE"
		}
		c := &node{Kind: n.Kind, Image: n.Image, Env: n.Env, Labels: n.Labels}
		for _, b := range n.Binds {
			s := b.Host + ":" + b.Node
			if b.ReadOnly {
				s += ":ro"
			}
			c.Binds = append(c.Binds, s)
		}
		if n.MgmtIPv4.IsValid() {
			c.MgmtIPv4 = n.MgmtIPv4.String()
		}
		ours := (n.Kind == topo.KindLinux || n.Kind == topo.KindBridge) && n.Image == ""
		an := *n
		switch {
		case ours:
			// A bridge node is a container whose bridge tbctl makes.
			c.Kind, c.Image, c.ImagePullPolicy = topo.KindLinux, image, "never"
		default:
			c.Cmd, c.Exec, c.Sysctls = n.Cmd, n.Exec, n.Sysctls
			an.Cmd, an.Exec, an.Sysctls = "", nil, nil
			if n.Kind == topo.KindLinux {
				c.ImagePullPolicy = "IfNotPresent"
			}
		}
		f.Topology.Nodes[n.Name] = c
		adopt.Nodes = append(adopt.Nodes, &an)
	}
	for _, l := range t.Links {
		ep, err := endpoints(t, l)
		if err != nil {
			return nil, nil, err
		}
		f.Topology.Links = append(f.Topology.Links, link{Endpoints: ep, MTU: l.MTU})
	}
	sort.Slice(adopt.Nodes, func(i, j int) bool { return adopt.Nodes[i].Name < adopt.Nodes[j].Name })
	data, err = yaml.Marshal(&f)
	return data, adopt, err
}

// endpoints writes a link's ends as containerlab does.
func endpoints(t *topo.Topology, l *topo.Link) ([]string, error) {
	end := func(e topo.Endpoint) string {
		if n := t.Node(e.Node); n != nil && n.Kind == topo.KindHost {
			return "host:" + e.Iface
		}
		return e.Node + ":" + e.Iface
	}
	switch l.Type {
	case topo.LinkVeth:
		return []string{end(l.A), end(l.B)}, nil
	case topo.LinkHost:
		return []string{end(l.A), "host:" + l.B.Iface}, nil
	case topo.LinkMgmtNet:
		return []string{end(l.A), "mgmt-net:" + l.B.Iface}, nil
	}
	return nil, errkind.User("%s: link type %q is not supported by the containerlab provider (use the netns provider)", l.Pos, l.Type)
}

// check refuses what the containerlab provider cannot do, before anything
// is made.
func check(t *topo.Topology) error {
	var probs []string
	for _, n := range t.Nodes {
		if n.Image == "" && n.Kind != topo.KindLinux && n.Kind != topo.KindBridge && n.Kind != topo.KindHost {
			probs = append(probs, fmt.Sprintf("%s: node %s: kind %s runs from its own image: set image (load it with docker load first: no registry is reached)", n.Pos, n.Name, n.Kind))
		}
	}
	for _, l := range t.Links {
		if _, err := endpoints(t, l); err != nil {
			probs = append(probs, err.Error())
		}
	}
	if len(probs) > 0 {
		return errkind.User("%s", joinLines(probs))
	}
	return nil
}
