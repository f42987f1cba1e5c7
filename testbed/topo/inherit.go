package topo

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/tbctl/tbctl/internal/suggest"
)

// A layer is one NodeDef taking part in inheritance, with the pointer to
// where it is written.
type layer struct {
	def *NodeDef
	ptr string
}

// nodeSpec is a node's definition after inheritance. from records, for
// each field ("image", "env/FOO", "binds", ...), the pointer of the value
// that won, so checks can cite where it was written.
type nodeSpec struct {
	name   string
	ptr    string
	def    NodeDef
	from   map[string]string
	ifaces map[string]*ifaceSpec
	unused map[string]bool // containerlab fields set on any layer, by YAML key
}

// ifaceSpec is an `interfaces:` entry after inheritance, merged attribute
// by attribute.
type ifaceSpec struct {
	def  InterfaceDef
	from map[string]string // "ipv4", "mac", "mtu", "rdma", "speed" → pointer
	ptr  string            // the nearest entry naming this interface
	own  bool              // written on the node itself
}

// pos is where field was written for the node, or the node itself when the
// value is a default.
func (p *parser) specPos(s *nodeSpec, field string) Pos {
	if ptr, ok := s.from[field]; ok {
		return p.src.pos(ptr)
	}
	return p.src.keyPos(s.ptr)
}

// inherit applies node ← group ← kind ← defaults to the node name.
func (p *parser) inherit(name string, def *NodeDef, top *TopologyDef) *nodeSpec {
	s := &nodeSpec{name: name, ptr: joinPtr("/topology/nodes", name), from: map[string]string{}, ifaces: map[string]*ifaceSpec{}, unused: map[string]bool{}}
	layers := []layer{{def, s.ptr}}
	defaults := layer{top.Defaults, "/topology/defaults"}
	if g := p.groupLayer(s, def, defaults, top); g.def != nil {
		layers = append(layers, g)
	}
	if defaults.def != nil {
		layers = append(layers, defaults)
	}
	s.resolveKind(layers)
	if kd, ok := top.Kinds[s.def.Kind]; ok {
		kl := layer{&kd, joinPtr("/topology/kinds", s.def.Kind)}
		if defaults.def != nil {
			layers = append(layers[:len(layers)-1], kl, defaults)
		} else {
			layers = append(layers, kl)
		}
	}
	for _, l := range layers {
		s.merge(l)
	}
	s.ifaces = mergeInterfaces(layers)
	return s
}

// groupLayer finds the node's group, named by the node or by the defaults.
func (p *parser) groupLayer(s *nodeSpec, def *NodeDef, defaults layer, top *TopologyDef) layer {
	group, ptr := def.Group, joinPtr(s.ptr, "group")
	if group == "" && defaults.def != nil {
		group, ptr = defaults.def.Group, joinPtr(defaults.ptr, "group")
	}
	if group == "" {
		return layer{}
	}
	s.def.Group, s.from["group"] = group, ptr
	gd, ok := top.Groups[group]
	if !ok {
		hint := "define it under topology.groups"
		if len(top.Groups) > 0 {
			hint = suggest.Hint(group, sortedKeys(top.Groups), "groups")
		}
		p.probs.add(p.src.pos(ptr), hint, "group %q is not defined", group)
		return layer{}
	}
	return layer{&gd, joinPtr("/topology/groups", group)}
}

func (s *nodeSpec) resolveKind(layers []layer) {
	for _, l := range layers {
		if l.def.Kind != "" {
			s.def.Kind, s.from["kind"] = l.def.Kind, joinPtr(l.ptr, "kind")
			return
		}
	}
	s.def.Kind = KindLinux
}

// merge fills what nearer layers left unset from l.
func (s *nodeSpec) merge(l layer) {
	d := l.def
	s.setString(&s.def.Image, d.Image, "image", l.ptr)
	s.setString(&s.def.Cmd, d.Cmd, "cmd", l.ptr)
	s.setString(&s.def.MgmtIPv4, d.MgmtIPv4, "mgmt-ipv4", l.ptr)
	if len(s.def.Exec) == 0 && len(d.Exec) > 0 {
		s.def.Exec, s.from["exec"] = d.Exec, joinPtr(l.ptr, "exec")
	}
	if len(s.def.Binds) == 0 && len(d.Binds) > 0 {
		s.def.Binds, s.from["binds"] = d.Binds, joinPtr(l.ptr, "binds")
	}
	if len(s.def.Routes) == 0 && len(d.Routes) > 0 {
		s.def.Routes, s.from["routes"] = d.Routes, joinPtr(l.ptr, "routes")
	}
	s.def.Env = mergeMap(s, s.def.Env, d.Env, "env", l.ptr)
	s.def.Labels = mergeMap(s, s.def.Labels, d.Labels, "labels", l.ptr)
	s.def.Sysctls = mergeMap(s, s.def.Sysctls, d.Sysctls, "sysctls", l.ptr)
	for _, name := range unusedFields(reflect.ValueOf(d)) {
		s.unused[name] = true
	}
}

func (s *nodeSpec) setString(dst *string, v, field, ptr string) {
	if *dst == "" && v != "" {
		*dst, s.from[field] = v, joinPtr(ptr, field)
	}
}

// mergeMap adds to dst the keys of src it lacks, recording where each was
// written.
func mergeMap[V any](s *nodeSpec, dst, src map[string]V, field, ptr string) map[string]V {
	for k, v := range src {
		if dst == nil {
			dst = map[string]V{}
		}
		if _, set := dst[k]; !set {
			dst[k] = v
			s.from[field+"/"+k] = joinPtr(joinPtr(ptr, field), k)
		}
	}
	return dst
}

// mergeInterfaces merges the `interfaces:` maps of layers (nearest first)
// attribute by attribute.
func mergeInterfaces(layers []layer) map[string]*ifaceSpec {
	out := map[string]*ifaceSpec{}
	for i, l := range layers {
		for name, def := range l.def.Interfaces {
			ptr := joinPtr(joinPtr(l.ptr, "interfaces"), name)
			spec, ok := out[name]
			if !ok {
				spec = &ifaceSpec{from: map[string]string{}, ptr: ptr, own: i == 0}
				out[name] = spec
			}
			spec.fill(def, under(ptr))
		}
	}
	return out
}

// under locates the attributes of an interface definition written at ptr.
func under(ptr string) func(attr string) string {
	return func(attr string) string { return joinPtr(ptr, attr) }
}

// fill sets the attributes of spec still unset from def; at tells where
// each attribute of def is written.
func (spec *ifaceSpec) fill(def InterfaceDef, at func(attr string) string) {
	d := &spec.def
	if len(d.IPv4) == 0 && len(def.IPv4) > 0 {
		d.IPv4, spec.from["ipv4"] = def.IPv4, at("ipv4")
	}
	if d.MAC == "" && def.MAC != "" {
		d.MAC, spec.from["mac"] = def.MAC, at("mac")
	}
	if d.MTU == 0 && def.MTU != 0 {
		d.MTU, spec.from["mtu"] = def.MTU, at("mtu")
	}
	if !d.RDMA && def.RDMA {
		d.RDMA, spec.from["rdma"] = true, at("rdma")
	}
	if d.Speed == "" && def.Speed != "" {
		d.Speed, spec.from["speed"] = def.Speed, at("speed")
	}
}

// buildNode turns a spec into a model Node. Values that do not parse were
// reported by checkDef and are left out.
func buildNode(s *nodeSpec, pos Pos) *Node {
	d := &s.def
	n := &Node{
		Name:   s.name,
		Kind:   d.Kind,
		Group:  d.Group,
		Image:  d.Image,
		Exec:   d.Exec,
		Env:    d.Env,
		Cmd:    d.Cmd,
		Labels: d.Labels,
		Pos:    pos,
	}
	if a, err := parseIPv4(d.MgmtIPv4); err == nil {
		n.MgmtIPv4 = a
	}
	for k, v := range d.Sysctls {
		// A host node is the host's own namespace: its sysctls would change
		// the host, so they are left out (and noted).
		if d.Kind == KindHost || checkSysctl(k) != nil || !isSysctlValue(v) {
			continue
		}
		if n.Sysctls == nil {
			n.Sysctls = map[string]string{}
		}
		n.Sysctls[k] = sysctlValue(v)
	}
	for _, b := range d.Binds {
		if bind, err := parseBind(b); err == nil {
			n.Binds = append(n.Binds, bind)
		}
	}
	for _, r := range d.Routes {
		if route, err := parseRoute(r); err == nil {
			n.Routes = append(n.Routes, route)
		}
	}
	return n
}

// sysctlValue formats a sysctl value as written to /proc/sys: booleans
// as 1 and 0, numbers and strings as written.
func sysctlValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

func parseRoute(r RouteDef) (Route, error) {
	dst, err := parseRouteDst(r.Dst)
	if err != nil {
		return Route{}, err
	}
	route := Route{Dst: dst}
	for _, v := range r.Via {
		a, err := parseIPv4(v)
		if err != nil {
			return Route{}, err
		}
		route.NextHops = append(route.NextHops, NextHop{Via: a})
	}
	return route, nil
}

// applyIfaceDef sets the attributes of iface from a merged definition.
func applyIfaceDef(iface *Interface, def InterfaceDef) {
	for _, s := range def.IPv4 {
		if pfx, err := parseIPv4Prefix(s); err == nil {
			iface.Addrs = append(iface.Addrs, pfx)
		}
	}
	if mac, err := parseMAC(def.MAC); err == nil {
		iface.MAC = mac
	}
	iface.MTU = def.MTU
	iface.RDMA = def.RDMA
	if sp, err := parseSpeed(def.Speed); err == nil {
		iface.SpeedMbps = sp
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
