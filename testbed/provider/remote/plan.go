package remote

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/testbed/provider/remote/inventory"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
	"github.com/tbctl/tbctl/testbed/topo"
)

// UnderlayMTU is the MTU assumed between hosts; VXLAN takes 50 bytes of
// it, so emulated interfaces get at most UnderlayMTU-50.
const UnderlayMTU = 1500

// VXLANPort is the UDP port of the tunnels between hosts (IANA's).
const VXLANPort = 4789

// plan is where a lab's nodes run and what each host is asked to make.
type plan struct {
	lab       string
	inventory string // the inventory file it was placed from
	mode      string
	hosts     []*hostPlan // those that run a node, by name
	node      map[string]*hostPlan
}

// hostPlan is one host's share of a lab.
type hostPlan struct {
	host  *inventory.Host
	sub   string   // the lab tbctl deploys on the host (emulated mode)
	nodes []string // sorted
	// tunnels are the cross-host links with an end on this host.
	tunnels []*wire.Tunnel
}

// placeNodes resolves every node's host selector. A selector that matches
// several hosts spreads its nodes over them in turn, in node-name order.
func placeNodes(t *topo.Topology, inv *inventory.Inventory) (map[string]*inventory.Host, error) {
	if t.Remote == nil {
		return nil, fmt.Errorf("%s: the remote provider needs a remote: section (inventory, mode, place)", t.File)
	}
	var names []string
	for name := range t.Remote.Place {
		names = append(names, name)
	}
	sort.Strings(names)
	turn := map[string]int{}
	out := map[string]*inventory.Host{}
	var errs []string
	for _, name := range names {
		sel := t.Remote.Place[name]
		hosts, err := inv.Select(sel)
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %s: %v", name, err))
			continue
		}
		out[name] = hosts[turn[sel]%len(hosts)]
		turn[sel]++
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: remote placement: %s", t.File, strings.Join(errs, "; "))
	}
	return out, nil
}

// subLabName is the name of a lab's share on one host: distinct per host,
// so that hosts sharing a machine (or the controller's own) never collide.
func subLabName(lab, host string) string {
	name := lab + "." + host
	if len(name) <= topo.MaxLabName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	keep := topo.MaxLabName - 1 - 8
	return strings.TrimRight(lab[:min(len(lab), keep)], "-_.") + "." + hex.EncodeToString(sum[:4])
}

// newPlan places the nodes and, in emulated mode, turns every link whose
// ends are on two hosts into a tunnel at each end.
func newPlan(labName string, t *topo.Topology, inv *inventory.Inventory) (*plan, error) {
	where, err := placeNodes(t, inv)
	if err != nil {
		return nil, err
	}
	p := &plan{lab: labName, inventory: inv.File, mode: t.Remote.Mode, node: map[string]*hostPlan{}}
	byHost := map[string]*hostPlan{}
	for _, n := range t.Nodes {
		h := where[n.Name]
		if h == nil {
			continue
		}
		hp := byHost[h.Name]
		if hp == nil {
			hp = &hostPlan{host: h, sub: subLabName(labName, h.Name)}
			byHost[h.Name] = hp
			p.hosts = append(p.hosts, hp)
		}
		hp.nodes = append(hp.nodes, n.Name)
		p.node[n.Name] = hp
	}
	sort.Slice(p.hosts, func(i, j int) bool { return p.hosts[i].host.Name < p.hosts[j].host.Name })
	if p.mode == topo.RemotePhysical {
		for _, hp := range p.hosts {
			if len(hp.nodes) > 1 {
				return nil, fmt.Errorf("%s: physical mode: host %s is placed nodes %s, but a node is a host itself; place one node per host",
					t.File, hp.host.Name, strings.Join(hp.nodes, ", "))
			}
		}
	}
	return p, nil
}

func (p *plan) hostPlan(name string) *hostPlan {
	for _, hp := range p.hosts {
		if hp.host.Name == name {
			return hp
		}
	}
	return nil
}

// tunnelNames names the devices of a cross-host link's end from the lab
// and the link's index: at most 11 characters, the same on every run.
func tunnelNames(lab string, index int) (veth, bridge, vxlan string, vni int) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", lab, index)))
	h := hex.EncodeToString(sum[:4])
	vni = int(binary.BigEndian.Uint32(sum[4:8])%(1<<24-2)) + 1
	return "tbv" + h, "tbb" + h, "tbx" + h, vni
}

// crossHost reports whether a link's two ends are on different hosts.
func (p *plan) crossHost(l *topo.Link) bool {
	if l.Type != topo.LinkVeth {
		return false
	}
	return p.node[l.A.Node] != p.node[l.B.Node]
}

// subTopologies writes each host's share of an emulated lab as a topology
// file the netns provider deploys: the host's nodes with their addresses
// and routes written out (the plan was made for the whole lab), the links
// between them, and for each cross-host link a host link whose far end is
// bridged to a VXLAN tunnel. underlay maps each host to the address the
// other hosts reach it at.
func (p *plan) subTopologies(t *topo.Topology, underlay map[string]netip.Addr) (map[string][]byte, error) {
	mtu := UnderlayMTU - 50
	files := map[string]*topo.File{}
	for _, hp := range p.hosts {
		f := &topo.File{Name: hp.sub, Prefix: &t.Prefix, Mgmt: &topo.MgmtDef{Disabled: true}, IPv6: t.IPv6}
		f.Topology.Nodes = map[string]topo.NodeDef{}
		files[hp.host.Name] = f
	}
	for _, n := range t.Nodes {
		hp := p.node[n.Name]
		if hp == nil {
			continue
		}
		files[hp.host.Name].Topology.Nodes[n.Name] = nodeDef(n, mtu)
	}
	for i, l := range t.Links {
		ha := p.node[l.A.Node]
		switch {
		case l.Type == topo.LinkDummy:
			files[ha.host.Name].Topology.Links = append(files[ha.host.Name].Topology.Links, topo.LinkDef{
				Type: topo.LinkDummy, Endpoint: &topo.EndpointDef{Node: l.A.Node, Interface: l.A.Iface}})
		case l.Type != topo.LinkVeth:
			return nil, fmt.Errorf("%s: a %s link cannot be made on remote hosts; only links between nodes can", l.Pos, l.Type)
		case !p.crossHost(l):
			files[ha.host.Name].Topology.Links = append(files[ha.host.Name].Topology.Links, topo.LinkDef{
				Type: topo.LinkVeth, MTU: min(orDefault(l.MTU, mtu), mtu), Endpoints: []topo.EndpointDef{
					{Node: l.A.Node, Interface: l.A.Iface}, {Node: l.B.Node, Interface: l.B.Iface}}})
		default:
			hb := p.node[l.B.Node]
			veth, bridge, vx, vni := tunnelNames(p.lab, i)
			for _, end := range []struct {
				hp, other *hostPlan
				ep        topo.Endpoint
			}{{ha, hb, l.A}, {hb, ha, l.B}} {
				f := files[end.hp.host.Name]
				f.Topology.Links = append(f.Topology.Links, topo.LinkDef{
					Type: topo.LinkHost, Endpoint: &topo.EndpointDef{Node: end.ep.Node, Interface: end.ep.Iface}, HostInterface: veth, MTU: mtu})
				remote, ok := underlay[end.other.host.Name]
				if !ok {
					return nil, fmt.Errorf("no underlay address for host %s", end.other.host.Name)
				}
				end.hp.tunnels = append(end.hp.tunnels, &wire.Tunnel{Lab: end.hp.sub, Veth: veth, Bridge: bridge, VXLAN: vx, VNI: vni,
					Remote: remote.String(), Port: VXLANPort, MTU: mtu})
			}
		}
	}
	out := map[string][]byte{}
	for name, f := range files {
		data, err := marshalTopology(f)
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	return out, nil
}

// nodeDef writes a resolved node back as a file's node: kind, exec, env,
// sysctls, and every interface's addresses and MTU, and its routes.
func nodeDef(n *topo.Node, mtu int) topo.NodeDef {
	d := topo.NodeDef{Kind: n.Kind, Exec: n.Exec, Env: n.Env, Labels: n.Labels}
	if len(n.Sysctls) > 0 {
		d.Sysctls = map[string]any{}
		for k, v := range n.Sysctls {
			d.Sysctls[k] = v
		}
	}
	for _, i := range n.Interfaces {
		id := topo.InterfaceDef{MTU: min(orDefault(i.MTU, mtu), mtu), RDMA: i.RDMA}
		if i.MAC != nil {
			id.MAC = i.MAC.String()
		}
		for _, a := range i.Addrs {
			if a.Addr().Is4() {
				id.IPv4 = append(id.IPv4, a.String())
			}
		}
		if i.SpeedMbps > 0 {
			id.Speed = fmt.Sprintf("%dMbps", i.SpeedMbps)
		}
		if d.Interfaces == nil {
			d.Interfaces = map[string]topo.InterfaceDef{}
		}
		d.Interfaces[i.Name] = id
	}
	for _, r := range n.Routes {
		rd := topo.RouteDef{Dst: r.Dst.String()}
		for _, nh := range r.NextHops {
			rd.Via = append(rd.Via, nh.Via.String())
		}
		d.Routes = append(d.Routes, rd)
	}
	return d
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func marshalTopology(f *topo.File) ([]byte, error) {
	data, err := yaml.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Written by tbctl's remote provider: this host's share of the lab.\n"), data...), nil
}
