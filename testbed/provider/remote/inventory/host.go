package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// settings are the connection fields written in defaults or in a host,
// with where each was written.
type settings struct {
	user, identity, hostKey, knownHosts string
	port                                int
	set                                 map[string]entry // the fields written
	bad                                 map[string]bool  // the fields with a problem
}

func (s settings) has(field string) bool {
	_, ok := s.set[field]
	return ok
}

// settings decodes the connection fields of defaults or of a host.
func (p *parser) settings(f map[string]entry, path string) settings {
	s := settings{set: map[string]entry{}, bad: map[string]bool{}}
	for _, name := range connFields {
		e, ok := f[name]
		if !ok {
			continue
		}
		s.set[name] = e
		at, good := path+"."+name, false
		switch name {
		case "user":
			s.user, good = p.str(e.value, at)
		case "port":
			s.port, good = p.port(e.value, at)
		case "identity":
			s.identity, good = p.path(e.value, at)
		case "known_hosts":
			s.knownHosts, good = p.path(e.value, at)
		case "host_key":
			s.hostKey, good = p.hostKey(e.value, at)
		}
		s.bad[name] = !good
	}
	return s
}

// host decodes one host and applies the defaults. It returns the host
// (nil when it is not a mapping) and the node of its address.
func (p *parser) host(e entry, defaults settings) (*Host, *yaml.Node) {
	name := e.key.Value
	path := "hosts." + name
	p.checkName(e.key, name)
	f := p.fields(e.value, path, hostFields)
	if f == nil {
		return nil, nil
	}
	h := &Host{Name: name, Pos: p.pos(e.key)}
	var addr *yaml.Node
	if a, ok := f["address"]; ok {
		addr = a.value
		if s, ok := p.str(a.value, path+".address"); ok {
			h.Address = s
			p.checkAddress(a.value, path, s)
		}
	} else {
		p.add(e.key, "add address: with the host's IP address or DNS name", "%s: address is required", path)
	}
	if a, ok := f["tunnel_address"]; ok {
		if s, ok := p.str(a.value, path+".tunnel_address"); ok {
			if ip, err := netip.ParseAddr(s); err != nil {
				p.add(a.value, "write the IP address the other hosts reach this one at for tunnels", "%s.tunnel_address %q is not an IP address", path, s)
			} else {
				h.TunnelAddress = ip.String()
			}
		}
	}
	p.merge(h, e.key, path, p.settings(f, path), defaults)
	if l, ok := f["labels"]; ok {
		h.Labels = p.labels(l.value, path+".labels")
	}
	if n, ok := f["nics"]; ok {
		h.NICs = p.nics(n.value, path+".nics")
	}
	return h, addr
}

// merge sets the connection fields of h from the host's own settings, or
// else from the defaults, and checks what is required.
func (p *parser) merge(h *Host, key *yaml.Node, path string, own, defaults settings) {
	pick := func(field string) settings {
		if own.has(field) {
			return own
		}
		return defaults
	}
	h.User = pick("user").user
	h.Port = DefaultPort
	if s := pick("port"); s.has("port") {
		h.Port = s.port
	}
	h.Identity = pick("identity").identity
	h.HostKey = own.hostKey
	switch {
	case own.has("host_key") && own.has("known_hosts"):
		p.add(own.set["known_hosts"].key, "pin the key with host_key or name a known_hosts file, not both",
			"%s: both host_key and known_hosts are set", path)
	case own.has("host_key"):
		// A pinned key replaces the default known_hosts file.
	default:
		h.KnownHosts = pick("known_hosts").knownHosts
	}
	if h.User == "" && !pick("user").bad["user"] {
		p.add(key, "add user: to the host or to defaults", "%s: user is required", path)
	}
	if !own.has("host_key") && h.KnownHosts == "" && !pick("known_hosts").bad["known_hosts"] {
		p.add(key, "pin the host's public key with host_key: (ssh-keyscan prints it) or name a known_hosts file here or in defaults",
			"%s: host_key or known_hosts is required", path)
	}
}

func (p *parser) port(n *yaml.Node, path string) (int, bool) {
	v, ok := p.integer(n, path)
	if ok && (v < 1 || v > 65535) {
		p.add(n, "use 1 to 65535 (SSH listens on 22)", "%s: %d is not a port", path, v)
		ok = false
	}
	return v, ok
}

// path resolves a file name: ~/ against $HOME, a relative name against
// the inventory's directory. "" stays "".
func (p *parser) path(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok || s == "" {
		return s, ok
	}
	switch {
	case s == "~" || strings.HasPrefix(s, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			p.add(n, "set HOME, or write the full path", "%s: cannot expand ~: %v", path, err)
			return s, false
		}
		return filepath.Join(home, s[1:]), true
	case strings.HasPrefix(s, "~"):
		p.add(n, "write the full path", "%s: %q: only ~/ (your own home) is expanded", path, s)
		return s, false
	case filepath.IsAbs(s):
		return filepath.Clean(s), true
	}
	return filepath.Join(p.dir, s), true
}

func (p *parser) hostKey(n *yaml.Node, path string) (string, bool) {
	key, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if msg, hint := checkHostKey(key); msg != "" {
		p.add(n, hint, "%s: %s", path, msg)
		return key, false
	}
	return strings.TrimSpace(key), true
}

func (p *parser) labels(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.typeProblem(n, path, "a mapping")
		return nil
	}
	var out map[string]string
	for _, e := range entries(n) {
		k := e.key.Value
		if msg := checkLabelKey(k); msg != "" {
			p.add(e.key, "write a label as key: value with a key such as rack or gpu", "%s: %s", path, msg)
			continue
		}
		if e.value.Kind != yaml.ScalarNode || e.value.ShortTag() == "!!null" {
			p.typeProblem(e.value, path+"."+k, "a string")
			continue
		}
		if strings.Contains(e.value.Value, ",") {
			p.add(e.value, "remove the comma: selectors separate labels with commas", "%s.%s: a label value cannot contain a comma", path, k)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = e.value.Value
	}
	return out
}

func (p *parser) nics(n *yaml.Node, path string) []NIC {
	if n.Kind != yaml.SequenceNode {
		p.typeProblem(n, path, "a list")
		return nil
	}
	var out []NIC
	first := map[string]*yaml.Node{}
	for i, c := range n.Content {
		c = deref(c)
		at := fmt.Sprintf("%s[%d]", path, i)
		f := p.fields(c, at, nicFields)
		if f == nil {
			continue
		}
		var nic NIC
		if e, ok := f["name"]; ok {
			if s, ok := p.str(e.value, at+".name"); ok {
				nic.Name = s
				if msg := checkNICName(s); msg != "" {
					p.add(e.value, "use the interface's name as ip link shows it", "%s.name: %s", at, msg)
				} else if prev, dup := first[s]; dup {
					p.add(e.value, "list each NIC once", "%s: NIC %q is listed twice (first at %s)", path, s, p.pos(prev))
				} else {
					first[s] = e.value
				}
			}
		} else {
			p.add(c, "add name: with the interface's name", "%s: name is required", at)
		}
		if e, ok := f["speed_mbps"]; ok {
			if v, ok := p.integer(e.value, at+".speed_mbps"); ok {
				if v < 1 {
					p.add(e.value, "write the link speed in Mbit/s, or leave it out when unknown", "%s.speed_mbps: %d is not a speed", at, v)
				}
				nic.SpeedMbps = v
			}
		}
		if e, ok := f["rdma"]; ok {
			nic.RDMA = p.rdma(e.value, at+".rdma")
		}
		out = append(out, nic)
	}
	return out
}

func (p *parser) rdma(n *yaml.Node, path string) *RDMA {
	f := p.fields(n, path, rdmaFields)
	if f == nil {
		return nil
	}
	r := &RDMA{Port: 1}
	if e, ok := f["device"]; ok {
		if s, ok := p.str(e.value, path+".device"); ok {
			r.Device = s
			if s == "" {
				p.add(e.value, "name the RDMA device as rdma link shows it, e.g. mlx5_0", "%s.device is empty", path)
			}
		}
	} else {
		p.add(n, "name the RDMA device as rdma link shows it, e.g. mlx5_0", "%s: device is required", path)
	}
	if e, ok := f["port"]; ok {
		if v, ok := p.integer(e.value, path+".port"); ok {
			if v < 1 {
				p.add(e.value, "RDMA ports are numbered from 1", "%s.port: must be at least 1, got %d", path, v)
			}
			r.Port = v
		}
	}
	return r
}
