package topo

import (
	"reflect"
	"strings"
)

// The types in this file mirror a topology file as written, before
// inheritance and validation. Field tags are the YAML keys; tbctl's own
// additions to containerlab's format are marked as such.
//
// Fields tagged tbctl:"unused" are containerlab fields that tbctl accepts, so
// that an existing containerlab lab parses unchanged, but does not use on the
// netns provider. They are decoded as written (any YAML value; the schema
// checks their types) and reported as notes, never as problems.

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

	// Remote says where the remote provider runs the nodes (tbctl addition).
	Remote *RemoteDef `yaml:"remote,omitempty" json:"remote,omitempty"`

	// Accepted for containerlab compatibility; not used by the netns provider.
	Settings any `yaml:"settings,omitempty" json:"settings,omitempty" tbctl:"unused"`
	Debug    any `yaml:"debug,omitempty" json:"debug,omitempty" tbctl:"unused"`
}

// MgmtDef is the `mgmt:` block.
type MgmtDef struct {
	Network    string `yaml:"network,omitempty" json:"network,omitempty"`
	IPv4Subnet string `yaml:"ipv4-subnet,omitempty" json:"ipv4-subnet,omitempty"`
	Disabled   bool   `yaml:"disabled,omitempty" json:"disabled,omitempty"` // tbctl addition

	// Accepted for containerlab compatibility; not used by the netns provider.
	IPv6Subnet     any `yaml:"ipv6-subnet,omitempty" json:"ipv6-subnet,omitempty" tbctl:"unused"`
	IPv4Gw         any `yaml:"ipv4-gw,omitempty" json:"ipv4-gw,omitempty" tbctl:"unused"`
	IPv6Gw         any `yaml:"ipv6-gw,omitempty" json:"ipv6-gw,omitempty" tbctl:"unused"`
	IPv4Range      any `yaml:"ipv4-range,omitempty" json:"ipv4-range,omitempty" tbctl:"unused"`
	IPv6Range      any `yaml:"ipv6-range,omitempty" json:"ipv6-range,omitempty" tbctl:"unused"`
	MTU            any `yaml:"mtu,omitempty" json:"mtu,omitempty" tbctl:"unused"`
	Bridge         any `yaml:"bridge,omitempty" json:"bridge,omitempty" tbctl:"unused"`
	ExternalAccess any `yaml:"external-access,omitempty" json:"external-access,omitempty" tbctl:"unused"`
	Driver         any `yaml:"driver,omitempty" json:"driver,omitempty" tbctl:"unused"`
	DriverOpts     any `yaml:"driver-opts,omitempty" json:"driver-opts,omitempty" tbctl:"unused"`
	MacvlanParent  any `yaml:"macvlan-parent,omitempty" json:"macvlan-parent,omitempty" tbctl:"unused"`
	MacvlanMode    any `yaml:"macvlan-mode,omitempty" json:"macvlan-mode,omitempty" tbctl:"unused"`
	MacvlanAux     any `yaml:"macvlan-aux,omitempty" json:"macvlan-aux,omitempty" tbctl:"unused"`
}

// AddressingDef turns on automatic addressing (tbctl addition).
// RemoteDef is the remote provider's section (tbctl addition): the hosts'
// inventory, the mode, and which host runs which node.
type RemoteDef struct {
	Inventory string            `yaml:"inventory,omitempty" json:"inventory,omitempty"` // relative to the topology file
	Cloud     *CloudDef         `yaml:"cloud,omitempty" json:"cloud,omitempty"`         // instead of inventory
	Mode      string            `yaml:"mode,omitempty" json:"mode,omitempty"`           // emulated (default) or physical
	Place     map[string]string `yaml:"place,omitempty" json:"place,omitempty"`         // node → host selector
	Default   string            `yaml:"default,omitempty" json:"default,omitempty"`     // selector for nodes not in place
	// AllowSSHCut lets faults act on the interface or route that carries
	// tbctl's SSH session to a host (physical mode).
	AllowSSHCut bool `yaml:"allow_ssh_cut,omitempty" json:"allow_ssh_cut,omitempty"`
}

// CloudDef names a Terraform/OpenTofu module that creates the hosts and
// outputs them as `hosts`, with its input variables (tbctl addition).
type CloudDef struct {
	Module string         `yaml:"module" json:"module"` // relative to the topology file
	Vars   map[string]any `yaml:"vars,omitempty" json:"vars,omitempty"`
}

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
	// Sysctls are set inside the node; values may be strings, numbers or
	// booleans. Only net.* sysctls are per network namespace.
	Sysctls map[string]any `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`

	// tbctl additions.
	Interfaces map[string]InterfaceDef `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	Routes     []RouteDef              `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Roles placed on the node when the lab is deployed, kept running by
	// the lab's supervisor (tbctl addition; on nodes only, not inherited).
	Roles map[string]RoleDef `yaml:"roles,omitempty" json:"roles,omitempty"`

	// Accepted for containerlab compatibility; not used by the netns provider.
	Type                  any `yaml:"type,omitempty" json:"type,omitempty" tbctl:"unused"`
	ImagePullPolicy       any `yaml:"image-pull-policy,omitempty" json:"image-pull-policy,omitempty" tbctl:"unused"`
	License               any `yaml:"license,omitempty" json:"license,omitempty" tbctl:"unused"`
	Position              any `yaml:"position,omitempty" json:"position,omitempty" tbctl:"unused"`
	Entrypoint            any `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty" tbctl:"unused"`
	Publish               any `yaml:"publish,omitempty" json:"publish,omitempty" tbctl:"unused"`
	EnvFiles              any `yaml:"env-files,omitempty" json:"env-files,omitempty" tbctl:"unused"`
	MgmtIPv6              any `yaml:"mgmt-ipv6,omitempty" json:"mgmt-ipv6,omitempty" tbctl:"unused"`
	MACAddress            any `yaml:"mac-address,omitempty" json:"mac-address,omitempty" tbctl:"unused"`
	StartupConfig         any `yaml:"startup-config,omitempty" json:"startup-config,omitempty" tbctl:"unused"`
	StartupDelay          any `yaml:"startup-delay,omitempty" json:"startup-delay,omitempty" tbctl:"unused"`
	EnforceStartupConfig  any `yaml:"enforce-startup-config,omitempty" json:"enforce-startup-config,omitempty" tbctl:"unused"`
	SuppressStartupConfig any `yaml:"suppress-startup-config,omitempty" json:"suppress-startup-config,omitempty" tbctl:"unused"`
	AutoRemove            any `yaml:"auto-remove,omitempty" json:"auto-remove,omitempty" tbctl:"unused"`
	RestartPolicy         any `yaml:"restart-policy,omitempty" json:"restart-policy,omitempty" tbctl:"unused"`
	Ports                 any `yaml:"ports,omitempty" json:"ports,omitempty" tbctl:"unused"`
	User                  any `yaml:"user,omitempty" json:"user,omitempty" tbctl:"unused"`
	NetworkMode           any `yaml:"network-mode,omitempty" json:"network-mode,omitempty" tbctl:"unused"`
	Runtime               any `yaml:"runtime,omitempty" json:"runtime,omitempty" tbctl:"unused"`
	CPU                   any `yaml:"cpu,omitempty" json:"cpu,omitempty" tbctl:"unused"`
	CPUSet                any `yaml:"cpu-set,omitempty" json:"cpu-set,omitempty" tbctl:"unused"`
	Memory                any `yaml:"memory,omitempty" json:"memory,omitempty" tbctl:"unused"`
	Sandbox               any `yaml:"sandbox,omitempty" json:"sandbox,omitempty" tbctl:"unused"`
	Kernel                any `yaml:"kernel,omitempty" json:"kernel,omitempty" tbctl:"unused"`
	Components            any `yaml:"components,omitempty" json:"components,omitempty" tbctl:"unused"`
	Config                any `yaml:"config,omitempty" json:"config,omitempty" tbctl:"unused"`
	Devices               any `yaml:"devices,omitempty" json:"devices,omitempty" tbctl:"unused"`
	CapAdd                any `yaml:"cap-add,omitempty" json:"cap-add,omitempty" tbctl:"unused"`
	ShmSize               any `yaml:"shm-size,omitempty" json:"shm-size,omitempty" tbctl:"unused"`
	DNS                   any `yaml:"dns,omitempty" json:"dns,omitempty" tbctl:"unused"`
	Certificate           any `yaml:"certificate,omitempty" json:"certificate,omitempty" tbctl:"unused"`
	SANs                  any `yaml:"SANs,omitempty" json:"SANs,omitempty" tbctl:"unused"`
	Healthcheck           any `yaml:"healthcheck,omitempty" json:"healthcheck,omitempty" tbctl:"unused"`
	Aliases               any `yaml:"aliases,omitempty" json:"aliases,omitempty" tbctl:"unused"`
	Extras                any `yaml:"extras,omitempty" json:"extras,omitempty" tbctl:"unused"`
	WaitFor               any `yaml:"wait-for,omitempty" json:"wait-for,omitempty" tbctl:"unused"`
	Stages                any `yaml:"stages,omitempty" json:"stages,omitempty" tbctl:"unused"`
}

// unusedFields lists the YAML keys of the fields of v (a struct or a pointer
// to one) tagged tbctl:"unused" that are set, in declaration order.
func unusedFields(v reflect.Value) []string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.Tag.Get("tbctl") != "unused" || v.Field(i).IsNil() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		names = append(names, name)
	}
	return names
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
	// Impair sets impairments that hold for the lab's life (tbctl addition).
	Impair *ImpairDef `yaml:"impair,omitempty" json:"impair,omitempty"`
}

// ImpairDef is a link's static impairment, each way (tbctl addition).
type ImpairDef struct {
	Delay  string  `yaml:"delay,omitempty" json:"delay,omitempty"`   // "10ms"
	Jitter string  `yaml:"jitter,omitempty" json:"jitter,omitempty"` // "1ms"
	Loss   float64 `yaml:"loss,omitempty" json:"loss,omitempty"`     // percent
	Rate   float64 `yaml:"rate,omitempty" json:"rate,omitempty"`     // Mbit/s
}

// EndpointDef is a link endpoint: a "node:iface" string in the short form or
// an object in the extended form. Short is set for the string form.
type EndpointDef struct {
	Short        string `yaml:"-" json:"-"`
	Node         string `yaml:"node,omitempty" json:"node,omitempty"`
	Interface    string `yaml:"interface,omitempty" json:"interface,omitempty"`
	InterfaceDef `yaml:",inline" json:",inline"`
}

// RoleDef places one role instance on a node (tbctl addition); the map key
// is the instance name, unique in the lab.
type RoleDef struct {
	Role   string         `yaml:"role" json:"role"`
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	After  []string       `yaml:"after,omitempty" json:"after,omitempty"`
}
