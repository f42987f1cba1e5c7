// Package inventory reads the inventory of the remote provider: the hosts a
// lab may be placed on, how to reach each over SSH (address, port, user,
// key) and how to verify it (a pinned host key or a known_hosts file),
// with labels for placement and the NICs recorded from the host. Terraform
// outputs for cloud hosts are turned into the same file.
//
// It parses and validates only. It reads the file given to Load and
// nothing else: it opens no connection and reads neither the key files nor
// the known_hosts files it names (the provider does when it connects); it
// consults $HOME to expand ~/ and the working directory to make paths
// absolute.
package inventory

import (
	"sort"

	"github.com/tbctl/tbctl/testbed/topo"
)

// DefaultPort is the SSH port of a host that sets none, directly or
// through defaults.
const DefaultPort = 22

// KeyTypes are the host key types accepted in host_key.
var KeyTypes = []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"}

// Inventory is a parsed inventory file: every host with the defaults
// applied and its paths absolute.
type Inventory struct {
	Hosts []*Host // sorted by name
	File  string
}

// Host is one machine reached over SSH.
type Host struct {
	Name    string
	Address string // IP address or DNS name
	// TunnelAddress is the IP address other hosts reach this one at for
	// VXLAN tunnels, when it is not the address SSH reaches.
	TunnelAddress string
	User          string
	Port          int
	// Identity is the private key file; "" means the SSH agent only.
	Identity string
	// HostKey is the pinned public key ("TYPE BASE64 [COMMENT]"); exactly
	// one of HostKey and KnownHosts is set.
	HostKey    string
	KnownHosts string // a known_hosts file
	Labels     map[string]string
	NICs       []NIC
	Pos        topo.Pos // where the host's name is written
}

type NIC struct {
	Name      string
	SpeedMbps int   // 0 when unknown
	RDMA      *RDMA // nil when the NIC has no RDMA device
}

type RDMA struct {
	Device string // e.g. mlx5_0
	Port   int    // 1 when not written
}

// Host returns the host named name, or nil.
func (inv *Inventory) Host(name string) *Host {
	i := sort.Search(len(inv.Hosts), func(i int) bool { return inv.Hosts[i].Name >= name })
	if i < len(inv.Hosts) && inv.Hosts[i].Name == name {
		return inv.Hosts[i]
	}
	return nil
}
