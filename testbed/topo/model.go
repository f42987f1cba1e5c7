// Package topo is the topology model: it reads topology files (a superset of
// containerlab's format), resolves inheritance (node ← group ← kind ←
// defaults), validates them with positions, and hands providers a resolved
// Topology. It touches no kernel objects and starts no processes.
package topo

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Pos is a position in a topology file (1-based line and column).
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Node kinds understood by the netns provider. Other kinds (nokia_srlinux,
// ceos, ...) are accepted by the parser and refused by providers that cannot
// run them.
const (
	KindLinux  = "linux"
	KindBridge = "bridge"
	KindHost   = "host"
)

// Link types, as in containerlab's extended link format.
const (
	LinkVeth    = "veth"
	LinkHost    = "host"
	LinkMgmtNet = "mgmt-net"
	LinkDummy   = "dummy"
)

// Routing modes (tbctl addition).
const (
	RoutingNone   = ""
	RoutingStatic = "static"
)

// Topology is a resolved, validated topology: inheritance applied, links
// normalised to one form, interfaces attached to their nodes. Providers
// consume only this type.
type Topology struct {
	Name     string
	Prefix   string // resource name prefix; "tb" unless the file sets one
	File     string // path it was read from ("" when generated in memory)
	Provider string // provider named in the file, "" when unset

	Mgmt       Mgmt
	Addressing Addressing
	Routing    string

	// IPv6 keeps IPv6 enabled inside nodes. It is off unless the file sets
	// `ipv6: true`: without it links carry no IPv6 autoconfiguration
	// chatter (router solicitations, DAD, MLD) and deploys are several
	// times faster.
	IPv6 bool

	// Remote is where the remote provider runs the nodes; nil when the
	// file has no remote section.
	Remote *Remote

	Nodes []*Node // sorted by name
	Links []*Link // in file order

	// Notes are non-fatal remarks for the user, such as fields accepted for
	// containerlab compatibility that this provider does not use.
	Notes []string
}

// Remote modes.
const (
	RemoteEmulated = "emulated" // nodes are namespaces on the hosts
	RemotePhysical = "physical" // each node is a host
)

// Remote is the topology's remote section after checking. Host selectors
// are a host name or key=value[,key=value] labels; the remote provider
// resolves them against the inventory.
type Remote struct {
	Inventory string // absolute, or as written when the topology has no file
	// Cloud, when set instead of Inventory, makes the hosts: the runner
	// applies it and sets Inventory to what it outputs.
	Cloud *Cloud
	Mode  string
	Place map[string]string // node → selector, every node but host kinds
	// AllowSSHCut lets faults cut the path of tbctl's SSH session to a
	// host; refused otherwise.
	AllowSSHCut bool
	Pos         Pos
}

// Cloud is a Terraform/OpenTofu module that creates a lab's hosts.
type Cloud struct {
	Module string // absolute, or as written when the topology has no file
	Vars   map[string]any
}

// Mgmt is the per-lab management network.
type Mgmt struct {
	Network    string       // CNI network name; defaults to "<prefix>-<lab>-mgmt"
	IPv4Subnet netip.Prefix // zero: chosen automatically at deploy time
	Disabled   bool         // `mgmt: {disabled: true}` (tbctl addition)
}

// Addressing is the automatic address plan (tbctl addition). When Auto is
// false only explicitly written addresses are configured.
type Addressing struct {
	Auto      bool
	Pool      netip.Prefix // default 198.18.0.0/16
	P2PLength int          // prefix length for point-to-point segments, default 30
	LANLength int          // minimum prefix length for LAN segments, default 24
}

// Node is one node of the topology after inheritance.
type Node struct {
	Name     string
	Kind     string
	Group    string
	Image    string
	Exec     []string
	Env      map[string]string
	Binds    []Bind
	Cmd      string
	Labels   map[string]string
	MgmtIPv4 netip.Addr        // zero: assigned by IPAM
	Sysctls  map[string]string // "net.ipv4.ip_forward" → "1", set inside the node

	Roles []*RoleInstance // started by the lab's supervisor at deploy

	Interfaces []*Interface // in the order links were written
	Routes     []Route      // computed by routing: static, or written in the file

	Pos Pos
}

// RoleInstance is a role placed on a node in the topology file.
type RoleInstance struct {
	Name   string
	Role   string
	Params map[string]any
	After  []string // instances that must be ready first
	Pos    Pos
}

// Bind is one `binds:` entry, "host-path:node-path[:ro|rw]".
type Bind struct {
	Host     string
	Node     string
	ReadOnly bool
}

// Interface is one end of a link inside a node.
type Interface struct {
	Node  string // node name; "host" for the root namespace side of a host link
	Name  string
	MAC   net.HardwareAddr // nil: kernel-chosen
	MTU   int              // 0: kernel default
	Addrs []netip.Prefix   // explicit or from automatic addressing

	// NIC attributes (tbctl additions) used by later providers and roles.
	RDMA      bool
	SpeedMbps int

	Link *Link `json:"-"`
	Pos  Pos
}

// Link joins two endpoints. For host, mgmt-net and dummy links B describes
// the far side: the root-namespace interface (host, mgmt-net) or nothing
// (dummy, where B is the zero Endpoint).
type Link struct {
	Type   string
	A, B   Endpoint
	MTU    int
	Impair *Impairment // static impairments, each way; nil for none
	Pos    Pos
}

// Impairment is what a link's `impair:` asks for, each way. The fault
// engine applies it at deploy, with the mechanisms it uses for faults.
type Impairment struct {
	Delay, Jitter time.Duration
	LossPct       float64
	RateMbps      float64
}

// Endpoint names an interface of a node.
type Endpoint struct {
	Node  string
	Iface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// Route is one route installed in a node.
type Route struct {
	Dst      netip.Prefix
	NextHops []NextHop // more than one: ECMP
}

// NextHop is a gateway reached through one of the node's interfaces.
type NextHop struct {
	Via netip.Addr
	Dev string
}

// Node returns the node with the given name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Interface returns the node's interface with the given name, or nil.
func (n *Node) Interface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}
