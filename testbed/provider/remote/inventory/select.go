package inventory

import (
	"fmt"
	"strings"

	"github.com/tbctl/tbctl/internal/suggest"
)

// Select returns the hosts a placement names, sorted by name. selector is
// a host name, or labels as key=value[,key=value] that a host must all
// carry. It is an error when no host matches.
func (inv *Inventory) Select(selector string) ([]*Host, error) {
	selector = strings.TrimSpace(selector)
	if selector == "" {
		return nil, fmt.Errorf("%s: empty host selector: write a host name or key=value labels", inv.File)
	}
	if !strings.Contains(selector, "=") {
		if h := inv.Host(selector); h != nil {
			return []*Host{h}, nil
		}
		names := make([]string, len(inv.Hosts))
		for i, h := range inv.Hosts {
			names[i] = h.Name
		}
		msg := fmt.Sprintf("%s: no host named %q", inv.File, selector)
		if s := suggest.Closest(selector, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	want := map[string]string{}
	for _, part := range strings.Split(selector, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: host selector %q: %q is not key=value", inv.File, selector, strings.TrimSpace(part))
		}
		if prev, dup := want[k]; dup && prev != v {
			return nil, fmt.Errorf("%s: host selector %q asks for %s twice", inv.File, selector, k)
		}
		want[k] = v
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if matches(h, want) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no host has the labels %q", inv.File, selector)
	}
	return out, nil
}

func matches(h *Host, want map[string]string) bool {
	for k, v := range want {
		if got, ok := h.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
