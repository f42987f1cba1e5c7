package topo

// The types in this file mirror a topology file as written, before
// inheritance and validation. Field tags are the YAML keys; tbctl's own
// additions to containerlab's format are marked as such.

// File is a whole topology file.
type File struct {
	Name     string   `yaml:"name" json:"name"`
	Prefix   *string  `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Provider string   `yaml:"provider,omitempty" json:"provider,omitempty"` // tbctl addition
	Mgmt     *MgmtDef `yaml:"mgmt,omitempty" json:"mgmt,omitempty"`

	Addressing *AddressingDef `yaml:"addressing,omitempty" json:"addressing,omitempty"` // tbctl addition
	Routing    string         `yaml:"routing,omitempty" json:"routing,omitempty"`       // tbctl addition: "static"
	IPv6       bool           `yaml:"ipv6,omitempty" json:"ipv6,omitempty"`             // tbctl addition: keep IPv6 on in nodes

	Topology TopologyDef `yaml:"topology" json:"topology"`
}

// MgmtDef is the `mgmt:` block.
type MgmtDef struct {
	Network    string `yaml:"network,omitempty" json:"network,omitempty"`
	IPv4Subnet string `yaml:"ipv4-subnet,omitempty" json:"ipv4-subnet,omitempty"`
	Disabled   bool   `yaml:"disabled,omitempty" json:"disabled,omitempty"` // tbctl addition
}

// AddressingDef turns on automatic addressing (tbctl addition).
type AddressingDef struct {
	Pool      string `yaml:"pool,omitempty" json:"pool,omitempty"`
	P2PLength int    `yaml:"p2p-length,omitempty" json:"p2p-length,omitempty"`
	LANLength int    `yaml:"lan-length,omitempty" json:"lan-length,omitempty"`
}

// TopologyDef is the `topology:` block.
type TopologyDef struct {
	Defaults *NodeDef           `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Kinds    map[string]NodeDef `yaml:"kinds,omitempty" json:"kinds,omitempty"`
	Groups   map[string]NodeDef `yaml:"groups,omitempty" json:"groups,omitempty"`
	Nodes    map[string]NodeDef `yaml:"nodes,omitempty" json:"nodes,omitempty"`
	Links    []LinkDef          `yaml:"links,omitempty" json:"links,omitempty"`
}

// NodeDef is a node, group, kind or defaults entry. Every field may be
// inherited; maps are merged key by key, lists are replaced.
type NodeDef struct {
	Kind     string            `yaml:"kind,omitempty" json:"kind,omitempty"`
	Group    string            `yaml:"group,omitempty" json:"group,omitempty"`
	Image    string            `yaml:"image,omitempty" json:"image,omitempty"`
	Exec     []string          `yaml:"exec,omitempty" json:"exec,omitempty"`
	Env      map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Binds    []string          `yaml:"binds,omitempty" json:"binds,omitempty"`
	Cmd      string            `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	Labels   map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	MgmtIPv4 string            `yaml:"mgmt-ipv4,omitempty" json:"mgmt-ipv4,omitempty"`

	// tbctl additions.
	Interfaces map[string]InterfaceDef `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	Routes     []RouteDef              `yaml:"routes,omitempty" json:"routes,omitempty"`
}

// InterfaceDef sets attributes of a node's interface (tbctl addition).
// The same fields may be written on an extended link endpoint.
type InterfaceDef struct {
	IPv4  []string `yaml:"ipv4,omitempty" json:"ipv4,omitempty"` // "198.18.0.1/30"
	MAC   string   `yaml:"mac,omitempty" json:"mac,omitempty"`
	MTU   int      `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	RDMA  bool     `yaml:"rdma,omitempty" json:"rdma,omitempty"`
	Speed string   `yaml:"speed,omitempty" json:"speed,omitempty"` // "25G", "100Mbps"
}

// RouteDef is a static route written in the file (tbctl addition).
type RouteDef struct {
	Dst string   `yaml:"dst" json:"dst"`
	Via []string `yaml:"via" json:"via"`
}

// LinkDef is one entry of `links:`, in the short form (Endpoints of
// "node:iface" strings) or an extended form (Type with Endpoint or
// Endpoints as objects).
type LinkDef struct {
	Type          string            `yaml:"type,omitempty" json:"type,omitempty"`
	Endpoints     []EndpointDef     `yaml:"endpoints,omitempty" json:"endpoints,omitempty"`
	Endpoint      *EndpointDef      `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	HostInterface string            `yaml:"host-interface,omitempty" json:"host-interface,omitempty"`
	MTU           int               `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	Vars          map[string]any    `yaml:"vars,omitempty" json:"vars,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// EndpointDef is a link endpoint: a "node:iface" string in the short form or
// an object in the extended form. Short is set for the string form.
type EndpointDef struct {
	Short        string `yaml:"-" json:"-"`
	Node         string `yaml:"node,omitempty" json:"node,omitempty"`
	Interface    string `yaml:"interface,omitempty" json:"interface,omitempty"`
	InterfaceDef `yaml:",inline" json:",inline"`
}
