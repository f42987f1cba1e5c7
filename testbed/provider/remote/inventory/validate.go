package inventory

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tbctl/tbctl/internal/suggest"
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	labelRE = `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`
	dnsRE   = regexp.MustCompile(`^` + labelRE + `(\.` + labelRE + `)*\.?$`)
)

// checkName reports a host name that is not a DNS label: the name is used
// in node names and in host names on the remote side.
func (p *parser) checkName(key *yaml.Node, name string) {
	switch {
	case len(name) > 63:
		p.add(key, "shorten it to at most 63 characters", "host name %q is longer than 63 characters", name)
	case !nameRE.MatchString(name):
		p.add(key, "use lower-case letters, digits and -, starting with a letter or digit", "host name %q is not a DNS label", name)
	}
}

// checkAddress reports an address that is neither an IP address nor a DNS
// name.
func (p *parser) checkAddress(n *yaml.Node, path, s string) {
	if s == "" {
		p.add(n, "write the host's IP address or DNS name", "%s.address is empty", path)
		return
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return
	}
	if len(s) <= 253 && dnsRE.MatchString(s) {
		return
	}
	hint := "write an IP address such as 10.0.0.11 or a DNS name such as gpu1.lab.example"
	if strings.Contains(s, ":") {
		hint = "write the port in port:, and an IPv6 address without brackets"
	}
	p.add(n, hint, "%s.address: %q is neither an IP address nor a DNS name", path, s)
}

// addressKey is the form of an address compared across hosts.
func addressKey(s string, port int) string {
	if a, err := netip.ParseAddr(s); err == nil {
		s = a.Unmap().String()
	} else {
		s = strings.TrimSuffix(strings.ToLower(s), ".")
	}
	return fmt.Sprintf("%s port %d", s, port)
}

// checkAddresses reports hosts that name the same address and port:
// addrs[i] is the address node of hosts[i], in the order written.
func (p *parser) checkAddresses(hosts []*Host, addrs []*yaml.Node) {
	first := map[string]*Host{}
	for i, h := range hosts {
		if addrs[i] == nil || h.Address == "" {
			continue
		}
		k := addressKey(h.Address, h.Port)
		if f, ok := first[k]; ok {
			p.add(addrs[i], "give each host its own address, or its own port when they share one",
				"hosts.%s: %s is also host %s (%s)", h.Name, k, f.Name, f.Pos)
			continue
		}
		first[k] = h
	}
}

// checkHostKey checks that s is a public key in authorized_keys format,
// "TYPE BASE64 [COMMENT]", of an accepted type, whose data starts with
// that same type. It returns a message and a hint, or "" when s is fine.
// The key itself is checked by the SSH client when it connects.
func checkHostKey(s string) (msg, hint string) {
	const copyHint = "copy the host's whole public key line, e.g. from /etc/ssh/ssh_host_ed25519_key.pub or ssh-keyscan -t ed25519 HOST"
	f := strings.Fields(s)
	switch {
	case len(f) == 0:
		return "the key is empty", copyHint
	case len(f) < 2:
		return fmt.Sprintf("%q is not \"TYPE BASE64\"", s), copyHint
	case f[0] == "ssh-dss":
		return "DSA keys (ssh-dss) are not accepted", "pin another of the host's keys, e.g. ssh-keyscan -t ed25519 HOST"
	case !slices.Contains(KeyTypes, f[0]):
		return fmt.Sprintf("unknown key type %q", f[0]), suggest.Hint(f[0], KeyTypes, "types")
	}
	data, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "the key data is not base64", copyHint
	}
	if len(data) < 4 || uint64(binary.BigEndian.Uint32(data)) > uint64(len(data)-4) {
		return "the key data is truncated", copyHint
	}
	n := binary.BigEndian.Uint32(data)
	if typ := string(data[4 : 4+n]); typ != f[0] {
		return fmt.Sprintf("the key data is of type %q, not %q", typ, f[0]), "write the type the key data holds, or " + copyHint
	}
	if len(data) == int(4+n) {
		return "the key data holds no key", copyHint
	}
	return "", ""
}

// checkLabelKey reports a label key that a selector could not name.
func checkLabelKey(k string) string {
	switch {
	case k == "":
		return "a label key is empty"
	case strings.ContainsAny(k, "=, \t"):
		return fmt.Sprintf("label key %q contains '=', ',' or a space", k)
	}
	return ""
}

// checkNICName reports a name Linux would not give an interface.
func checkNICName(s string) string {
	switch {
	case s == "":
		return "the name is empty"
	case len(s) > 15:
		return fmt.Sprintf("%q is longer than 15 characters", s)
	case s == "." || s == ".." || strings.ContainsAny(s, "/: \t"):
		return fmt.Sprintf("%q is not an interface name", s)
	}
	return ""
}
