package topo

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"

	"github.com/tbctl/tbctl/internal/yamlnode"
)

// hintError is a parse error of one value, with advice.
type hintError struct{ msg, hint string }

func (e *hintError) Error() string { return e.msg }

func problemf(hint, format string, args ...any) error {
	return &hintError{msg: fmt.Sprintf(format, args...), hint: hint}
}

func (p *parser) report(pos Pos, err error) {
	if he, ok := err.(*hintError); ok {
		p.probs.add(pos, he.hint, "%s", he.msg)
		return
	}
	p.probs.add(pos, "", "%s", err)
}

var (
	speedRE  = regexp.MustCompile(`^([0-9]+)(M|G|T)(bps)?$`)
	sysctlRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_-]+)+$`)
)

const sysctlHint = "only net.* sysctls can be set per node on the netns provider"

// checkSysctl checks a sysctl name: dotted, lower case, and in the net
// tree, the only one that is per network namespace.
func checkSysctl(name string) error {
	if !sysctlRE.MatchString(name) {
		return problemf(sysctlHint+"; write a dotted name such as net.ipv4.ip_forward", "invalid sysctl name %q", name)
	}
	if !strings.HasPrefix(name, "net.") {
		return problemf(sysctlHint, "sysctl %q is not a network sysctl", name)
	}
	return nil
}

// isSysctlValue reports whether v is a value a sysctl can be set to: a
// string, number or boolean.
func isSysctlValue(v any) bool {
	switch v.(type) {
	case string, int, int64, uint64, float64, bool:
		return true
	}
	return false
}

const (
	maxIfnameLen = 15  // IFNAMSIZ - 1
	maxNetnsLen  = 255 // a file name in /run/netns
	minMTU       = 68
	maxMTU       = 65535
)

var (
	defaultPool = netip.MustParsePrefix("198.18.0.0/16")
	linkTypes   = []string{LinkVeth, LinkHost, LinkMgmtNet, LinkDummy}
)

func checkName(what, name string) error {
	switch {
	case name == "":
		return problemf("give it a name", "%s name is empty", what)
	case len(name) > MaxLabName:
		return problemf(fmt.Sprintf("use at most %d characters", MaxLabName), "%s name %q is longer than %d characters", what, name, MaxLabName)
	case !labNameRE.MatchString(name):
		return problemf("use letters, digits, '_', '.' and '-', starting with a letter or digit", "%s name %q has invalid characters", what, name)
	}
	return nil
}

func checkIfname(name string) error {
	const hint = "use a Linux interface name such as eth1: at most 15 bytes, no '/', ':' or spaces"
	switch {
	case name == "":
		return problemf(hint, "interface name is empty")
	case len(name) > maxIfnameLen:
		return problemf(hint, "interface name %q is longer than %d bytes", name, maxIfnameLen)
	case name == "." || name == "..":
		return problemf(hint, "%q is not a valid interface name", name)
	case strings.ContainsAny(name, "/:") || strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return problemf(hint, "interface name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

func checkMTU(mtu int) error {
	if mtu < minMTU || mtu > maxMTU {
		return problemf(fmt.Sprintf("use a value from %d to %d", minMTU, maxMTU), "MTU %d is out of range", mtu)
	}
	return nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, problemf("write an IPv4 address such as 172.20.20.10", "%q is not an IPv4 address", s)
	}
	return a, nil
}

// parseIPv4Prefix parses an interface address: host bits are kept.
func parseIPv4Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, problemf("write an IPv4 address with its prefix length, e.g. 198.18.0.1/30", "bad CIDR %q", s)
	}
	return p, nil
}

// parseSubnet parses a network prefix: host bits must be zero.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := parseIPv4Prefix(s)
	if err != nil {
		return p, err
	}
	if p != p.Masked() {
		return netip.Prefix{}, problemf(fmt.Sprintf("write %s", p.Masked()), "bad CIDR %q: host bits are set", s)
	}
	return p, nil
}

func parseRouteDst(s string) (netip.Prefix, error) {
	if s == "default" {
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	return parseSubnet(s)
}

func parseMAC(s string) (net.HardwareAddr, error) {
	const hint = "write a unicast MAC such as 02:00:00:00:00:01: the low bit of the first octet must be 0"
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, problemf(hint, "bad MAC address %q", s)
	}
	if mac[0]&1 != 0 {
		return nil, problemf(hint, "MAC address %q is a multicast address", s)
	}
	return mac, nil
}

// parseSpeed parses "100M", "100Mbps", "25G", "25Gbps", "1T" into Mbit/s.
func parseSpeed(s string) (int, error) {
	m := speedRE.FindStringSubmatch(s)
	n, err := 0, error(nil)
	if m != nil {
		n, err = strconv.Atoi(m[1])
	}
	if m == nil || err != nil || n == 0 {
		return 0, problemf("write a number with a unit M, G or T, optionally followed by bps, e.g. 25G or 100Mbps", "bad speed %q", s)
	}
	return n * map[string]int{"M": 1, "G": 1000, "T": 1000_000}[m[2]], nil
}

// parseBind parses "host-path:node-path[:ro|rw]".
func parseBind(s string) (Bind, error) {
	const hint = `write "/host/path:/node/path" with an optional ":ro" or ":rw"`
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Bind{}, problemf(hint, "bad bind %q", s)
	}
	b := Bind{Host: parts[0], Node: parts[1]}
	switch {
	case b.Host == "":
		return Bind{}, problemf(hint, "bind %q has an empty host path", s)
	case !path.IsAbs(b.Host):
		return Bind{}, problemf(hint, "bind %q has a relative host path", s)
	case !path.IsAbs(b.Node):
		return Bind{}, problemf(hint, "bind %q has a relative or empty node path", s)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			b.ReadOnly = true
		case "rw":
		default:
			return Bind{}, problemf(hint, "bind %q has unknown option %q", s, parts[2])
		}
	}
	return b, nil
}

// joinName joins the non-empty parts of a resource name with "-".
func joinName(parts ...string) string {
	var out []string
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "-")
}

// resolve turns the decoded file into a Topology, reporting problems.
func (p *parser) resolve(f *File) *Topology {
	t := &Topology{Name: f.Name, Prefix: "tb", File: p.src.file, Provider: f.Provider}
	if f.Prefix != nil {
		t.Prefix = *f.Prefix
	}
	p.checkLabName(f, t)
	p.resolveMgmt(f, t)
	p.resolveAddressing(f, t)
	p.resolveRouting(f, t)
	p.checkDefs(&f.Topology)
	specs := p.resolveNodes(f, t)
	lr := &linkResolver{parser: p, t: t, specs: specs, seen: map[string]Pos{}, used: map[string]bool{}}
	lr.resolve(f.Topology.Links)
	lr.checkUnused()
	lr.checkAddresses()
	p.resolveRemote(f, t)
	p.addNotes(t, f, specs)
	return t
}

func (p *parser) checkLabName(f *File, t *Topology) {
	if _, written := p.src.values["/name"]; !written {
		p.probs.add(p.src.pos(""), "add name: <lab> at the top of the file", "missing lab name")
	} else if err := checkName("lab", f.Name); err != nil && !p.probs.at(p.src.pos("/name")) {
		p.report(p.src.pos("/name"), err)
	}
	if t.Prefix != "" && !labNameRE.MatchString(t.Prefix) {
		p.probs.add(p.src.pos("/prefix"), "use letters, digits, '_', '.' and '-'", "prefix %q has invalid characters", t.Prefix)
	}
}

func (p *parser) resolveMgmt(f *File, t *Topology) {
	t.Mgmt.Network = joinName(t.Prefix, t.Name, "mgmt")
	if f.Mgmt == nil {
		return
	}
	if f.Mgmt.Network != "" {
		t.Mgmt.Network = f.Mgmt.Network
	}
	t.Mgmt.Disabled = f.Mgmt.Disabled
	if f.Mgmt.IPv4Subnet != "" {
		if pfx, err := parseSubnet(f.Mgmt.IPv4Subnet); err != nil {
			p.report(p.src.pos("/mgmt/ipv4-subnet"), err)
		} else {
			t.Mgmt.IPv4Subnet = pfx
		}
	}
}

func (p *parser) resolveAddressing(f *File, t *Topology) {
	a := &t.Addressing
	*a = Addressing{Pool: defaultPool, P2PLength: 30, LANLength: 24}
	def := f.Addressing
	if def == nil {
		return
	}
	a.Auto = true
	if def.Pool != "" {
		if pfx, err := parseSubnet(def.Pool); err != nil {
			p.report(p.src.pos("/addressing/pool"), err)
		} else {
			a.Pool = pfx
		}
	}
	if def.P2PLength != 0 {
		a.P2PLength = def.P2PLength
		if a.P2PLength != 30 && a.P2PLength != 31 {
			p.probs.add(p.src.pos("/addressing/p2p-length"), "use 30 or 31", "p2p-length %d is not supported", a.P2PLength)
		}
	}
	if def.LANLength != 0 {
		a.LANLength = def.LANLength
		if a.LANLength < 8 || a.LANLength > 30 {
			p.probs.add(p.src.pos("/addressing/lan-length"), "use a length from 8 to 30", "lan-length %d is out of range", a.LANLength)
		}
	}
	if m := t.Mgmt.IPv4Subnet; m.IsValid() && !t.Mgmt.Disabled && m.Overlaps(a.Pool) {
		p.probs.add(p.src.pos("/mgmt/ipv4-subnet"), "choose a management subnet outside the addressing pool, or another pool",
			"overlapping address plans: mgmt ipv4-subnet %s overlaps the addressing pool %s", m, a.Pool)
	}
}

func (p *parser) resolveRouting(f *File, t *Topology) {
	t.Routing = f.Routing
	t.IPv6 = f.IPv6
	if f.Routing != RoutingNone && f.Routing != RoutingStatic {
		p.probs.add(p.src.pos("/routing"), `use "static" or leave routing out`, "unknown routing %q", f.Routing)
	}
}

// checkDefs checks the values written in every node, group, kind and
// defaults entry once, wherever they are inherited.
func (p *parser) checkDefs(top *TopologyDef) {
	if top.Defaults != nil {
		p.checkDef(top.Defaults, "/topology/defaults", "")
	}
	for _, name := range sortedKeys(top.Kinds) {
		d := top.Kinds[name]
		p.checkDef(&d, joinPtr("/topology/kinds", name), "kinds")
	}
	for _, name := range sortedKeys(top.Groups) {
		d := top.Groups[name]
		p.checkDef(&d, joinPtr("/topology/groups", name), "groups")
	}
	for _, name := range sortedKeys(top.Nodes) {
		d := top.Nodes[name]
		p.checkDef(&d, joinPtr("/topology/nodes", name), "")
	}
}

func (p *parser) checkDef(d *NodeDef, ptr, section string) {
	if d.Group != "" && section != "" {
		p.probs.add(p.src.pos(joinPtr(ptr, "group")), "set group: on nodes or in defaults", "an entry of %s cannot name a group", section)
	}
	if d.MgmtIPv4 != "" {
		if _, err := parseIPv4(d.MgmtIPv4); err != nil {
			p.report(p.src.pos(joinPtr(ptr, "mgmt-ipv4")), err)
		}
	}
	for i, b := range d.Binds {
		if _, err := parseBind(b); err != nil {
			p.report(p.src.pos(indexPtr(joinPtr(ptr, "binds"), i)), err)
		}
	}
	for _, name := range sortedKeys(d.Interfaces) {
		iptr := joinPtr(joinPtr(ptr, "interfaces"), name)
		if err := checkIfname(name); err != nil {
			p.report(p.src.keyPos(iptr), err)
		}
		p.checkIfaceDef(d.Interfaces[name], iptr)
	}
	for i, r := range d.Routes {
		p.checkRoute(r, indexPtr(joinPtr(ptr, "routes"), i))
	}
	for _, name := range sortedKeys(d.Sysctls) {
		sptr := joinPtr(joinPtr(ptr, "sysctls"), name)
		if err := checkSysctl(name); err != nil {
			p.report(p.src.keyPos(sptr), err)
		}
		if !isSysctlValue(d.Sysctls[name]) {
			got := "nothing"
			if n := p.src.values[sptr]; n != nil {
				got = yamlnode.Describe(n)
			}
			p.probs.add(p.src.pos(sptr), `write a single value such as 1 or "4096 87380 6291456"`,
				"%s: expected a string, number or boolean, got %s", displayPath(sptr), got)
		}
	}
}

func (p *parser) checkIfaceDef(d InterfaceDef, ptr string) {
	for i, s := range d.IPv4 {
		if _, err := parseIPv4Prefix(s); err != nil {
			p.report(p.src.pos(indexPtr(joinPtr(ptr, "ipv4"), i)), err)
		}
	}
	if d.MAC != "" {
		if _, err := parseMAC(d.MAC); err != nil {
			p.report(p.src.pos(joinPtr(ptr, "mac")), err)
		}
	}
	if d.MTU != 0 {
		if err := checkMTU(d.MTU); err != nil {
			p.report(p.src.pos(joinPtr(ptr, "mtu")), err)
		}
	}
	if d.Speed != "" {
		if _, err := parseSpeed(d.Speed); err != nil {
			p.report(p.src.pos(joinPtr(ptr, "speed")), err)
		}
	}
}

func (p *parser) checkRoute(r RouteDef, ptr string) {
	if _, err := parseRouteDst(r.Dst); err != nil {
		p.report(p.src.pos(joinPtr(ptr, "dst")), err)
	}
	if len(r.Via) == 0 {
		p.probs.add(p.src.pos(ptr), "add via: [GATEWAY]", "route to %q has no via", r.Dst)
	}
	for i, v := range r.Via {
		if _, err := parseIPv4(v); err != nil {
			p.report(p.src.pos(indexPtr(joinPtr(ptr, "via"), i)), err)
		}
	}
}

// reservedNodes are endpoint node names with a special meaning.
var reservedNodes = []string{"host", "mgmt-net", "macvlan"}

func (p *parser) resolveNodes(f *File, t *Topology) map[string]*nodeSpec {
	specs := map[string]*nodeSpec{}
	if len(f.Topology.Nodes) == 0 {
		p.probs.add(p.src.pos("/topology/nodes"), "add nodes under topology.nodes", "the topology has no nodes")
	}
	mgmtIPs := map[netip.Addr]string{}
	for _, name := range sortedKeys(f.Topology.Nodes) {
		def := f.Topology.Nodes[name]
		s := p.inherit(name, &def, &f.Topology)
		specs[name] = s
		n := buildNode(s, p.src.keyPos(s.ptr))
		n.Roles = p.nodeRoles(name, def.Roles)
		t.Nodes = append(t.Nodes, n)
		p.checkNode(t, s, n)
		p.checkMgmtIPv4(t, s, n, mgmtIPs)
	}
	p.checkRoles(f, t)
	return specs
}

// nodeRoles reads the roles written on a node itself.
func (p *parser) nodeRoles(node string, defs map[string]RoleDef) []*RoleInstance {
	var out []*RoleInstance
	for _, name := range sortedKeys(defs) {
		d := defs[name]
		ptr := "/topology/nodes/" + node + "/roles/" + name
		in := &RoleInstance{Name: name, Role: d.Role, Params: d.Params, After: d.After, Pos: p.src.keyPos(ptr)}
		if err := checkName("role instance", name); err != nil || strings.Contains(name, ".") {
			p.probs.add(in.Pos, "use letters, digits, '_' and '-'", "role instance name %q is not valid", name)
		}
		if d.Role == "" {
			p.probs.add(in.Pos, "name the role, e.g. role: traffic (tbctl role list shows them)", "role instance %s has no role", name)
		}
		out = append(out, in)
	}
	return out
}

// checkRoles checks that role instance names are unique in the lab, that
// `after` names instances, and that roles are written on nodes only.
func (p *parser) checkRoles(f *File, t *Topology) {
	seen := map[string]string{}
	for _, n := range t.Nodes {
		for _, in := range n.Roles {
			if other, dup := seen[in.Name]; dup {
				p.probs.add(in.Pos, "give each role instance its own name", "role instance %s is also placed on node %s", in.Name, other)
			}
			seen[in.Name] = n.Name
		}
	}
	for _, n := range t.Nodes {
		for _, in := range n.Roles {
			for _, a := range in.After {
				if _, ok := seen[a]; !ok {
					p.probs.add(in.Pos, "name a role instance of this lab", "role instance %s: after names unknown instance %q", in.Name, a)
				}
			}
		}
	}
	shared := map[string]*NodeDef{"/topology/defaults": f.Topology.Defaults}
	for k, d := range f.Topology.Kinds {
		shared["/topology/kinds/"+k] = &d
	}
	for g, d := range f.Topology.Groups {
		shared["/topology/groups/"+g] = &d
	}
	for ptr, d := range shared {
		if d != nil && len(d.Roles) > 0 {
			p.probs.add(p.src.keyPos(ptr+"/roles"), "write roles on the nodes that run them", "roles are placed on nodes, not inherited from %s", ptr[len("/topology/"):])
		}
	}
}

func (p *parser) checkNode(t *Topology, s *nodeSpec, n *Node) {
	if err := checkName("node", n.Name); err != nil {
		p.report(n.Pos, err)
	}
	if contains(reservedNodes, n.Name) {
		p.probs.add(n.Pos, "rename the node", "node name %q is reserved for special link endpoints", n.Name)
	}
	if ns := joinName(t.Prefix, t.Name, n.Name); len(ns) > maxNetnsLen {
		p.probs.add(n.Pos, "use a shorter prefix, lab or node name", "node %s: namespace name %q is longer than %d bytes", n.Name, ns, maxNetnsLen)
	}
	if p.opts.Kinds != nil && !p.opts.Kinds[n.Kind] {
		p.probs.add(p.specPos(s, "kind"), "run it with --provider containerlab",
			"node %s: kind %q is not supported by the %s provider", n.Name, n.Kind, p.opts.provider())
	}
	if n.Kind == KindBridge && len(n.Name) > maxIfnameLen {
		p.probs.add(n.Pos, "use a name of at most 15 bytes", "bridge node name %q is longer than %d bytes; it names the bridge device", n.Name, maxIfnameLen)
	}
}

func (p *parser) checkMgmtIPv4(t *Topology, s *nodeSpec, n *Node, seen map[netip.Addr]string) {
	if !n.MgmtIPv4.IsValid() {
		return
	}
	pos := p.specPos(s, "mgmt-ipv4")
	m := t.Mgmt
	switch {
	case m.Disabled:
		p.probs.add(pos, "remove mgmt-ipv4 or enable the management network", "node %s: mgmt-ipv4 is set but the management network is disabled", n.Name)
	case m.IPv4Subnet.IsValid() && !m.IPv4Subnet.Contains(n.MgmtIPv4):
		p.probs.add(pos, "pick an address inside the subnet or change mgmt ipv4-subnet",
			"node %s: mgmt-ipv4 %s is outside the management subnet %s", n.Name, n.MgmtIPv4, m.IPv4Subnet)
	}
	if other, dup := seen[n.MgmtIPv4]; dup {
		p.probs.add(pos, "give each node its own mgmt-ipv4", "node %s: mgmt-ipv4 %s is also used by node %s", n.Name, n.MgmtIPv4, other)
		return
	}
	seen[n.MgmtIPv4] = n.Name
}

// addNotes reports the containerlab fields the netns provider accepts but
// does not use: one note per field, naming the nodes it applies to (one per
// distinct value for image, so the note shows the image).
func (p *parser) addNotes(t *Topology, f *File, specs map[string]*nodeSpec) {
	if p.opts.provider() != "netns" {
		return
	}
	const unused = "is not used by the netns provider"
	var images []string
	imageNodes := map[string][]string{}
	fieldNodes := map[string][]string{}
	var hostSysctls []string
	for _, n := range t.Nodes {
		if n.Image != "" {
			if _, seen := imageNodes[n.Image]; !seen {
				images = append(images, n.Image)
			}
			imageNodes[n.Image] = append(imageNodes[n.Image], n.Name)
		}
		if s := specs[n.Name]; s != nil {
			for field := range s.unused {
				fieldNodes[field] = append(fieldNodes[field], n.Name)
			}
			if n.Kind == KindHost && len(s.def.Sysctls) > 0 {
				hostSysctls = append(hostSysctls, n.Name)
			}
		}
	}
	for _, img := range images {
		t.Notes = append(t.Notes, fmt.Sprintf("image %q %s (nodes: %s)", img, unused, strings.Join(imageNodes[img], ", ")))
	}
	for _, field := range sortedKeys(fieldNodes) {
		t.Notes = append(t.Notes, fmt.Sprintf("%s %s (nodes: %s)", field, unused, strings.Join(fieldNodes[field], ", ")))
	}
	if len(hostSysctls) > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("sysctls are not applied to host nodes, which are the host's own namespace (nodes: %s)",
			strings.Join(hostSysctls, ", ")))
	}
	for _, field := range unusedFields(reflect.ValueOf(f.Mgmt)) {
		t.Notes = append(t.Notes, fmt.Sprintf("mgmt.%s %s", field, unused))
	}
	for _, field := range unusedFields(reflect.ValueOf(f)) {
		t.Notes = append(t.Notes, fmt.Sprintf("%s %s", field, unused))
	}
}

// Links.

// rootNS names the root network namespace in interface claims: host and
// mgmt-net sides of links and interfaces of host-kind nodes live there.
const rootNS = "\x00root"

// linkResolver normalises links and attaches their ends to nodes.
type linkResolver struct {
	*parser
	t     *Topology
	specs map[string]*nodeSpec
	seen  map[string]Pos  // namespace + "/" + interface → first use
	used  map[string]bool // node + "/" + interface
	addrs []addrUse       // explicit interface addresses, in file order
}

type addrUse struct {
	pfx   netip.Prefix
	owner string
	pos   Pos
}

// end is one parsed link endpoint.
type end struct {
	ep       Endpoint
	obj      *EndpointDef // the extended form's object; nil for "node:iface"
	ptr      string
	pos      Pos // the endpoint as written
	nodePos  Pos
	ifacePos Pos
	special  bool // the host or mgmt-net side, in the root namespace
}

func (lr *linkResolver) resolve(links []LinkDef) {
	for i := range links {
		ptr := indexPtr("/topology/links", i)
		l, ends := lr.normalise(&links[i], ptr)
		if l == nil {
			continue
		}
		lr.t.Links = append(lr.t.Links, l)
		for _, e := range ends {
			lr.attach(l, e)
		}
	}
}

func (lr *linkResolver) normalise(ld *LinkDef, ptr string) (*Link, []end) {
	l := &Link{Type: ld.Type, MTU: ld.MTU, Pos: lr.src.pos(ptr)}
	if ld.MTU != 0 {
		if err := checkMTU(ld.MTU); err != nil {
			lr.report(lr.src.pos(joinPtr(ptr, "mtu")), err)
		}
	}
	if ld.Impair != nil {
		l.Impair = lr.impairment(ld, joinPtr(ptr, "impair"))
	}
	switch ld.Type {
	case "":
		return lr.shortLink(l, ld, ptr)
	case LinkVeth:
		return lr.vethLink(l, ld, ptr)
	case LinkHost, LinkMgmtNet:
		return lr.hostLink(l, ld, ptr)
	case LinkDummy:
		return lr.dummyLink(l, ld, ptr)
	case "macvlan", "vxlan", "vxlan-stitch":
		lr.probs.add(lr.src.pos(joinPtr(ptr, "type")), "run it with --provider containerlab",
			"link type %q is not supported by the %s provider", ld.Type, lr.opts.provider())
	default:
		hint := "valid types: " + strings.Join(linkTypes, ", ")
		if s := suggest.Closest(ld.Type, linkTypes); s != "" {
			hint = fmt.Sprintf("did you mean %q? %s", s, hint)
		}
		lr.probs.add(lr.src.pos(joinPtr(ptr, "type")), hint, "unknown link type %q", ld.Type)
	}
	return nil, nil
}

// impairment checks a link's impair block; only veth links between two
// nodes can carry one.
func (lr *linkResolver) impairment(ld *LinkDef, ptr string) *Impairment {
	d := ld.Impair
	imp := &Impairment{LossPct: d.Loss, RateMbps: d.Rate}
	if ld.Type != "" && ld.Type != LinkVeth {
		lr.probs.add(lr.src.keyPos(ptr), "impair veth links between two nodes", "impair on a %s link is not supported", ld.Type)
	}
	for key, val := range map[string]*time.Duration{"delay": &imp.Delay, "jitter": &imp.Jitter} {
		s := map[string]string{"delay": d.Delay, "jitter": d.Jitter}[key]
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			lr.probs.add(lr.src.pos(joinPtr(ptr, key)), "write a duration such as 10ms", "impair.%s %q is not a duration", key, s)
			continue
		}
		*val = v
	}
	if imp.Jitter > 0 && imp.Delay == 0 {
		lr.probs.add(lr.src.keyPos(joinPtr(ptr, "jitter")), "add a delay for the jitter to vary", "impair.jitter needs impair.delay")
	}
	if d.Loss < 0 || d.Loss > 100 {
		lr.probs.add(lr.src.pos(joinPtr(ptr, "loss")), "give a percentage above 0 and at most 100", "impair.loss %g is not a percentage", d.Loss)
	}
	if d.Rate < 0 {
		lr.probs.add(lr.src.pos(joinPtr(ptr, "rate")), "give a rate in Mbit/s above 0", "impair.rate %g is negative", d.Rate)
	}
	return imp
}

func (lr *linkResolver) shortLink(l *Link, ld *LinkDef, ptr string) (*Link, []end) {
	if ld.Endpoint != nil {
		lr.probs.add(lr.src.keyPos(joinPtr(ptr, "endpoint")), "set type: host, mgmt-net or dummy, or list both ends under endpoints:",
			"endpoint: needs a link type")
	}
	lr.noHostInterface(ld, ptr)
	ends, ok := lr.twoEnds(ld, ptr, "link")
	if !ok {
		return nil, nil
	}
	a, b := ends[0], ends[1]
	if a.special && b.special {
		lr.probs.add(l.Pos, "connect a node to the host or to mgmt-net", "link has no node end")
		return nil, nil
	}
	if a.special {
		a, b = b, a
	}
	l.A, l.B = a.ep, b.ep
	l.Type = LinkVeth
	if b.special {
		l.Type = b.ep.Node
		lr.checkMgmtNet(l)
	} else {
		lr.checkSelfLink(l)
	}
	return l, []end{a, b}
}

func (lr *linkResolver) vethLink(l *Link, ld *LinkDef, ptr string) (*Link, []end) {
	if ld.Endpoint != nil {
		lr.probs.add(lr.src.keyPos(joinPtr(ptr, "endpoint")), "list both ends under endpoints:", "a veth link takes endpoints:, not endpoint:")
	}
	lr.noHostInterface(ld, ptr)
	ends, ok := lr.twoEnds(ld, ptr, "veth link")
	if !ok || !lr.nodeEnd(ends[0]) || !lr.nodeEnd(ends[1]) {
		return nil, nil
	}
	l.A, l.B = ends[0].ep, ends[1].ep
	lr.checkSelfLink(l)
	return l, ends
}

func (lr *linkResolver) hostLink(l *Link, ld *LinkDef, ptr string) (*Link, []end) {
	lr.noEndpoints(ld, ptr)
	a, ok := lr.oneEnd(ld, ptr)
	hostPtr := joinPtr(ptr, "host-interface")
	if ld.HostInterface == "" {
		lr.probs.add(l.Pos, "add host-interface: NAME, the interface name on the host side", "a %s link needs host-interface:", ld.Type)
		return nil, nil
	}
	if err := checkIfname(ld.HostInterface); err != nil {
		lr.report(lr.src.pos(hostPtr), err)
	}
	if !ok {
		return nil, nil
	}
	hostPos := lr.src.pos(hostPtr)
	b := end{ep: Endpoint{Node: ld.Type, Iface: ld.HostInterface}, ptr: hostPtr, pos: hostPos, ifacePos: hostPos, special: true}
	l.A, l.B = a.ep, b.ep
	lr.checkMgmtNet(l)
	return l, []end{a, b}
}

func (lr *linkResolver) dummyLink(l *Link, ld *LinkDef, ptr string) (*Link, []end) {
	lr.noEndpoints(ld, ptr)
	lr.noHostInterface(ld, ptr)
	a, ok := lr.oneEnd(ld, ptr)
	if !ok {
		return nil, nil
	}
	l.A = a.ep
	return l, []end{a}
}

func (lr *linkResolver) noHostInterface(ld *LinkDef, ptr string) {
	if ld.HostInterface != "" {
		lr.probs.add(lr.src.keyPos(joinPtr(ptr, "host-interface")), "remove it, or set type: host or type: mgmt-net",
			"host-interface applies only to host and mgmt-net links")
	}
}

func (lr *linkResolver) noEndpoints(ld *LinkDef, ptr string) {
	if len(ld.Endpoints) > 0 {
		lr.probs.add(lr.src.keyPos(joinPtr(ptr, "endpoints")), "write endpoint: {node: NODE, interface: IFACE}",
			"a %s link takes endpoint:, not endpoints:", ld.Type)
	}
}

func (lr *linkResolver) twoEnds(ld *LinkDef, ptr, what string) ([]end, bool) {
	eptr := joinPtr(ptr, "endpoints")
	if len(ld.Endpoints) != 2 {
		lr.probs.add(lr.src.pos(eptr), `write endpoints: ["node1:eth1", "node2:eth1"]`,
			"a %s needs exactly 2 endpoints, got %d", what, len(ld.Endpoints))
		return nil, false
	}
	a, okA := lr.parseEnd(&ld.Endpoints[0], indexPtr(eptr, 0))
	b, okB := lr.parseEnd(&ld.Endpoints[1], indexPtr(eptr, 1))
	return []end{a, b}, okA && okB
}

func (lr *linkResolver) oneEnd(ld *LinkDef, ptr string) (end, bool) {
	if ld.Endpoint == nil {
		lr.probs.add(lr.src.pos(ptr), "add endpoint: {node: NODE, interface: IFACE}", "a %s link needs endpoint:", ld.Type)
		return end{}, false
	}
	e, ok := lr.parseEnd(ld.Endpoint, joinPtr(ptr, "endpoint"))
	return e, ok && lr.nodeEnd(e)
}

// nodeEnd reports a problem when e is the host or mgmt-net side.
func (lr *linkResolver) nodeEnd(e end) bool {
	if e.special {
		lr.probs.add(e.nodePos, "use a link of type host or mgmt-net with host-interface:", "%q is not a node", e.ep.Node)
	}
	return !e.special
}

func (lr *linkResolver) parseEnd(def *EndpointDef, ptr string) (end, bool) {
	e := end{ptr: ptr, pos: lr.src.pos(ptr)}
	e.nodePos, e.ifacePos = e.pos, e.pos
	if n := lr.src.values[ptr]; n != nil && n.Kind == yaml.ScalarNode {
		node, iface, ok := strings.Cut(def.Short, ":")
		if !ok || node == "" || iface == "" {
			lr.probs.add(e.pos, `write "node:interface", e.g. "r1:eth1"`, "malformed endpoint %q", def.Short)
			return e, false
		}
		e.ep = Endpoint{Node: node, Iface: iface}
	} else if n == nil || n.Kind != yaml.MappingNode {
		return e, false // reported by the decoder
	} else {
		e.obj = def
		e.ep = Endpoint{Node: def.Node, Iface: def.Interface}
		e.nodePos, e.ifacePos = lr.src.pos(joinPtr(ptr, "node")), lr.src.pos(joinPtr(ptr, "interface"))
		lr.checkIfaceDef(def.InterfaceDef, ptr)
		if def.Node == "" || def.Interface == "" {
			lr.probs.add(e.pos, "write node: NAME and interface: NAME", "endpoint needs both node: and interface:")
			return e, false
		}
	}
	switch e.ep.Node {
	case "macvlan":
		lr.probs.add(e.nodePos, "run it with --provider containerlab", "macvlan endpoints are not supported by the %s provider", lr.opts.provider())
		return e, false
	case LinkHost, LinkMgmtNet:
		e.special = true
	}
	if err := checkIfname(e.ep.Iface); err != nil {
		lr.report(e.ifacePos, err)
	}
	return e, true
}

func (lr *linkResolver) checkSelfLink(l *Link) {
	if l.A.Node == l.B.Node {
		lr.probs.add(l.Pos, "connect two different nodes", "link connects node %s to itself", l.A.Node)
	}
}

func (lr *linkResolver) checkMgmtNet(l *Link) {
	if l.Type == LinkMgmtNet && lr.t.Mgmt.Disabled {
		lr.probs.add(l.Pos, "enable the management network or remove the link", "mgmt-net link but the management network is disabled")
	}
}

// attach creates the interface for a link end on its node.
func (lr *linkResolver) attach(l *Link, e end) {
	if e.special {
		lr.claim(rootNS, e)
		return
	}
	s, ok := lr.specs[e.ep.Node]
	if !ok {
		lr.probs.add(e.nodePos, lr.nodeHint(e.ep.Node), "link endpoint %s names unknown node %q", e.ep, e.ep.Node)
		return
	}
	n := lr.t.Node(s.name)
	ns := n.Name
	if n.Kind == KindHost {
		ns = rootNS
	}
	if !lr.claim(ns, e) {
		return
	}
	lr.used[n.Name+"/"+e.ep.Iface] = true
	if e.ep.Iface == "eth0" && !lr.t.Mgmt.Disabled && n.Kind != KindBridge && n.Kind != KindHost {
		lr.probs.add(e.ifacePos, "use eth1 and up, or set mgmt: {disabled: true}",
			"node %s: eth0 is reserved for the management network", n.Name)
	}
	n.Interfaces = append(n.Interfaces, lr.buildInterface(l, s, e))
}

func (lr *linkResolver) nodeHint(name string) string {
	names := make([]string, 0, len(lr.t.Nodes))
	for _, n := range lr.t.Nodes {
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return "define the node under topology.nodes"
	}
	return suggest.Hint(name, names, "nodes")
}

// claim records that e uses its interface in namespace ns, reporting a
// second use.
func (lr *linkResolver) claim(ns string, e end) bool {
	key := ns + "/" + e.ep.Iface
	if first, dup := lr.seen[key]; dup {
		lr.probs.add(e.pos, "give each link end its own interface", "interface %s is used by two links, at %s and %s", e.ep, first, e.pos)
		return false
	}
	lr.seen[key] = e.pos
	return true
}

// buildInterface merges the endpoint's attributes over the node's
// `interfaces:` entry; the link's MTU applies when neither sets one.
func (lr *linkResolver) buildInterface(l *Link, s *nodeSpec, e end) *Interface {
	m := &ifaceSpec{from: map[string]string{}}
	if e.obj != nil {
		m.fill(e.obj.InterfaceDef, under(e.ptr))
	}
	if spec, ok := s.ifaces[e.ep.Iface]; ok {
		m.fill(spec.def, func(attr string) string { return spec.from[attr] })
	}
	iface := &Interface{Node: s.name, Name: e.ep.Iface, Link: l, Pos: e.pos}
	applyIfaceDef(iface, m.def)
	if iface.MTU == 0 {
		iface.MTU = l.MTU
	}
	for i, a := range m.def.IPv4 {
		if pfx, err := parseIPv4Prefix(a); err == nil {
			pos := lr.src.pos(indexPtr(m.from["ipv4"], i))
			lr.addrs = append(lr.addrs, addrUse{pfx: pfx, owner: e.ep.String(), pos: pos})
		}
	}
	return iface
}

func (lr *linkResolver) checkUnused() {
	for _, name := range sortedKeys(lr.specs) {
		s := lr.specs[name]
		for _, iname := range sortedKeys(s.ifaces) {
			if spec := s.ifaces[iname]; spec.own && !lr.used[name+"/"+iname] {
				lr.probs.add(lr.src.keyPos(spec.ptr), fmt.Sprintf("add a link with endpoint %q or remove the entry", name+":"+iname),
					"interface %s of node %s is not used by any link", iname, name)
			}
		}
	}
}

func (lr *linkResolver) checkAddresses() {
	mgmt := lr.t.Mgmt
	first := map[netip.Addr]addrUse{}
	for _, a := range lr.addrs {
		if f, dup := first[a.pfx.Addr()]; dup {
			lr.probs.add(a.pos, "give each interface its own address", "address %s is assigned to both %s and %s", a.pfx.Addr(), f.owner, a.owner)
		} else {
			first[a.pfx.Addr()] = a
		}
		if mgmt.IPv4Subnet.IsValid() && !mgmt.Disabled && mgmt.IPv4Subnet.Overlaps(a.pfx.Masked()) {
			lr.probs.add(a.pos, "use addresses outside the management subnet or change mgmt ipv4-subnet",
				"overlapping address plans: address %s of %s overlaps the management subnet %s", a.pfx, a.owner, mgmt.IPv4Subnet)
		}
	}
}
