package agent

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
	"github.com/tbctl/tbctl/testbed/topo"
)

// sshPath is the way the controller's SSH session reaches this host: the
// controller's address, and the interface holding the address it
// reached. Faults in the host's own namespace (physical mode) must not cut
// it: the controller would lose the host it is driving.
type sshPath struct {
	client, server netip.Addr
	iface          string
}

// currentSSHPath reads SSH_CONNECTION ("CLIENT PORT SERVER PORT"), which
// sshd sets; nil when this process is not under SSH.
func currentSSHPath() *sshPath {
	f := strings.Fields(os.Getenv("SSH_CONNECTION"))
	if len(f) != 4 {
		return nil
	}
	client, err1 := netip.ParseAddr(f[0])
	server, err2 := netip.ParseAddr(f[2])
	if err1 != nil || err2 != nil {
		return nil
	}
	p := &sshPath{client: client.Unmap(), server: server.Unmap()}
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == p.server {
					p.iface = i.Name
				}
			}
		}
	}
	return p
}

// cuts says why a fault would cut the SSH path, or "" when it would not.
// Only faults on host-kind nodes (the host itself) can.
func (p *sshPath) cuts(rec *lab.Record, req wire.FaultRequest) string {
	if p == nil || rec.Topology == nil {
		return ""
	}
	kind, ok := fault.Lookup(req.Code)
	if !ok {
		return ""
	}
	node, iface, _ := strings.Cut(req.Target, ":")
	if n := rec.Topology.Node(node); n == nil || n.Kind != topo.KindHost {
		return ""
	}
	switch kind.Target {
	case fault.OnInterface, fault.OnLink:
		if iface != "" && iface == p.iface {
			return fmt.Sprintf("%s on %s acts on %s, the interface holding %s that tbctl's SSH session from %s arrives on", req.Code, req.Target, iface, p.server, p.client)
		}
	case fault.OnNode:
		if dst := req.Params["dst"]; dst != "" {
			if pfx, err := netip.ParsePrefix(dst); err == nil && pfx.Contains(p.client) {
				return fmt.Sprintf("%s to %s covers %s, the controller tbctl's SSH session comes from", req.Code, dst, p.client)
			}
		}
	}
	return ""
}
