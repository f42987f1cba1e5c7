package inventory

import (
	"io"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Write writes the inventory as an inventory file that Parse reads back
// to the same hosts: each host with the defaults applied, its paths
// absolute and its NICs. It writes no defaults section and no comments.
func (inv *Inventory) Write(w io.Writer) error {
	hosts := mapping(0)
	for _, h := range inv.Hosts {
		hosts.Content = append(hosts.Content, str(h.Name), hostNode(h))
	}
	doc := mapping(0)
	doc.Content = append(doc.Content, str("hosts"), hosts)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

func hostNode(h *Host) *yaml.Node {
	n := mapping(0)
	set := func(key string, value *yaml.Node) { n.Content = append(n.Content, str(key), value) }
	setStr := func(key, value string) {
		if value != "" {
			set(key, str(value))
		}
	}
	setStr("address", h.Address)
	setStr("tunnel_address", h.TunnelAddress)
	setStr("user", h.User)
	set("port", integer(h.Port))
	setStr("identity", h.Identity)
	setStr("host_key", h.HostKey)
	setStr("known_hosts", h.KnownHosts)
	if len(h.Labels) > 0 {
		keys := make([]string, 0, len(h.Labels))
		for k := range h.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		labels := mapping(yaml.FlowStyle)
		for _, k := range keys {
			labels.Content = append(labels.Content, str(k), str(h.Labels[k]))
		}
		set("labels", labels)
	}
	if len(h.NICs) > 0 {
		nics := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, nic := range h.NICs {
			m := mapping(yaml.FlowStyle)
			m.Content = append(m.Content, str("name"), str(nic.Name))
			if nic.SpeedMbps != 0 {
				m.Content = append(m.Content, str("speed_mbps"), integer(nic.SpeedMbps))
			}
			if nic.RDMA != nil {
				r := mapping(yaml.FlowStyle)
				r.Content = append(r.Content, str("device"), str(nic.RDMA.Device), str("port"), integer(nic.RDMA.Port))
				m.Content = append(m.Content, str("rdma"), r)
			}
			nics.Content = append(nics.Content, m)
		}
		set("nics", nics)
	}
	return n
}

func mapping(style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: style}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}
