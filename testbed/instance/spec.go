package instance

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/testbed/topo"
)

// Spec is a checked instance: its role exists, its node is in the
// topology, its parameters decode, and its node references are addresses.
type Spec struct {
	Name   string
	Node   string
	Role   *roles.Role
	Params map[string]any
}

// Prepare checks an instance against a topology and returns its Spec.
// Parameters that name nodes are resolved to addresses; a role with a
// duration parameter that params leave unset gets duration (when not 0).
// where prefixes messages, e.g. "exp.yaml:12:5: roles.flow1".
func Prepare(t *topo.Topology, name, roleName, node string, params map[string]any, duration time.Duration, where string) (*Spec, error) {
	r, err := roles.Get(roleName)
	if err != nil {
		return nil, fmt.Errorf("%s.role: %v", where, err)
	}
	if t.Node(node) == nil {
		return nil, fmt.Errorf("%s.node: no node %q in the topology", where, node)
	}
	resolved := map[string]any{}
	for k, v := range params {
		resolved[k] = v
	}
	if _, set := resolved["duration"]; !set && duration > 0 && hasParam(r, "duration") {
		resolved["duration"] = duration.String()
	}
	for _, pname := range r.RefParams() {
		switch v := resolved[pname].(type) {
		case string:
			addr, err := ResolveRef(t, v)
			if err != nil {
				return nil, fmt.Errorf("%s.params.%s: %v", where, pname, err)
			}
			resolved[pname] = addr
		case []any: // a list of node references
			addrs := make([]any, len(v))
			for i, e := range v {
				ref, ok := e.(string)
				if !ok {
					addrs[i] = e // Decode reports the type
					continue
				}
				addr, err := ResolveRef(t, ref)
				if err != nil {
					return nil, fmt.Errorf("%s.params.%s[%d]: %v", where, pname, i, err)
				}
				addrs[i] = addr
			}
			resolved[pname] = addrs
		}
	}
	if _, err := r.Decode(resolved, where+".params"); err != nil {
		return nil, err
	}
	return &Spec{Name: name, Node: node, Role: r, Params: resolved}, nil
}

func hasParam(r *roles.Role, name string) bool {
	for _, p := range r.Describe() {
		if p.Name == name {
			return true
		}
	}
	return false
}

// ResolveRef turns "node" or "node:iface" into an address: the interface's
// first address, or the node's first data-plane address (interfaces by
// name; eth0, the management interface, has none in the topology). An
// address stays as it is.
func ResolveRef(t *topo.Topology, ref string) (string, error) {
	if a, err := netip.ParseAddr(ref); err == nil {
		return a.String(), nil
	}
	nodeName, iface, _ := strings.Cut(ref, ":")
	n := t.Node(nodeName)
	if n == nil {
		return "", fmt.Errorf("no node %q in the topology", nodeName)
	}
	ifaces := append([]*topo.Interface(nil), n.Interfaces...)
	sort.Slice(ifaces, func(i, j int) bool { return ifaces[i].Name < ifaces[j].Name })
	for _, ifc := range ifaces {
		if (iface == "" || ifc.Name == iface) && len(ifc.Addrs) > 0 {
			return ifc.Addrs[0].Addr().String(), nil
		}
	}
	if iface != "" {
		return "", fmt.Errorf("node %s has no addressed interface %q", nodeName, iface)
	}
	return "", fmt.Errorf("node %s has no data-plane address (give its interfaces addresses, or add `addressing: {}` to the topology)", nodeName)
}

// Order groups instance names into start waves: each wave holds the
// instances whose `after` instances are all in earlier waves. A cycle is an
// error naming the instances in it.
func Order(names []string, after map[string][]string) ([][]string, error) {
	placed := map[string]bool{}
	var waves [][]string
	for len(placed) < len(names) {
		var wave []string
		for _, n := range names {
			if placed[n] {
				continue
			}
			ready := true
			for _, a := range after[n] {
				if !placed[a] {
					ready = false
				}
			}
			if ready {
				wave = append(wave, n)
			}
		}
		if len(wave) == 0 {
			var stuck []string
			for _, n := range names {
				if !placed[n] {
					stuck = append(stuck, n)
				}
			}
			return nil, fmt.Errorf("role instances wait for each other in a cycle: %s", strings.Join(stuck, ", "))
		}
		for _, n := range wave {
			placed[n] = true
		}
		waves = append(waves, wave)
	}
	return waves, nil
}
