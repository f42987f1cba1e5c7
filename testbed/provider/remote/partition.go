package remote

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/tbctl/tbctl/testbed/errkind"
	"github.com/tbctl/tbctl/testbed/fault"
	"github.com/tbctl/tbctl/testbed/provider/remote/wire"
)

// part is one host's share of a fault the relay composed.
type part struct {
	host *hostState
	id   string // the host's own ID
}

// injectPartition cuts two sets of nodes that live on several hosts: on
// each node's host, a black hole from the node to every address of every
// node of the other set (and back, unless oneway). The parts are applied
// by the hosts as ordinary faults, on their dead-man switches; the fault
// returned stands for all of them, with the ID partition/N. If a part
// fails, the parts already applied are reverted.
func (r *relay) injectPartition(ctx context.Context, target string, params map[string]string) (*fault.Fault, error) {
	left, right, _ := strings.Cut(target, "|")
	sets := [2][]string{}
	for i, side := range []string{left, right} {
		for _, n := range strings.Split(side, ",") {
			if n = strings.TrimSpace(n); n != "" {
				sets[i] = append(sets[i], n)
			}
		}
	}
	dirs := [][2]int{{0, 1}}
	if params["oneway"] != "true" {
		dirs = append(dirs, [2]int{1, 0})
	}
	var parts []part
	var applied []*fault.Fault
	undo := func() {
		for _, p := range parts {
			if a, err := r.agent(p.host); err == nil {
				a.call(wire.FaultRequest{Op: "clear", ID: p.id})
			}
		}
	}
	for _, d := range dirs {
		for _, src := range sets[d[0]] {
			h, err := r.st.hostOf(src)
			if err != nil {
				undo()
				return nil, errkind.User("net.partition on %s: %v", target, err)
			}
			a, err := r.agent(h)
			if err != nil {
				undo()
				return nil, err
			}
			for _, dst := range sets[d[1]] {
				for _, addr := range r.addrs(dst) {
					rep, err := a.call(wire.FaultRequest{Op: "inject", Code: "net.blackhole", Target: src, Params: map[string]string{"dst": addr.String()}})
					if err == nil && (rep.Error != "" || len(rep.Faults) != 1) {
						err = fmt.Errorf("%s: black hole %s to %s: %s", h.Target.Name, src, addr, rep.Error)
					}
					if err != nil {
						undo()
						return nil, fmt.Errorf("net.partition on %s: %w (the parts applied are reverted)", target, err)
					}
					parts = append(parts, part{h, rep.Faults[0].ID})
					applied = append(applied, rep.Faults[0])
				}
			}
		}
	}
	if len(parts) == 0 {
		return nil, errkind.User("net.partition on %s: the nodes have no data-plane addresses", target)
	}
	r.mu.Lock()
	r.composed++
	id := fmt.Sprintf("partition/%d", r.composed)
	r.parts[id] = parts
	r.mu.Unlock()
	return r.composite(id, target, params, parts, applied), nil
}

// addrs returns a node's data-plane addresses, as host prefixes.
func (r *relay) addrs(node string) []netip.Prefix {
	n := r.topo.Node(node)
	if n == nil {
		return nil
	}
	var out []netip.Prefix
	for _, i := range n.Interfaces {
		for _, a := range i.Addrs {
			if a.Addr().Is4() {
				out = append(out, netip.PrefixFrom(a.Addr(), 32))
			}
		}
	}
	return out
}

// composite is the one fault that stands for the parts: applied and
// verified when every part is, reverted when every part is.
func (r *relay) composite(id, target string, params map[string]string, parts []part, fs []*fault.Fault) *fault.Fault {
	var hosts []string
	for _, p := range parts {
		if !slices.Contains(hosts, p.host.Target.Name) {
			hosts = append(hosts, p.host.Target.Name)
		}
	}
	f := &fault.Fault{ID: id, Code: "net.partition", Target: target, Params: params, State: fault.StateApplied, Verified: true,
		Mechanism: fmt.Sprintf("net.blackhole ×%d on hosts %s", len(parts), strings.Join(hosts, ", "))}
	var ids []string
	for i, p := range fs {
		ids = append(ids, parts[i].host.Target.Name+"/"+parts[i].id)
		f.Verified = f.Verified && p.Verified
		if i == 0 || p.State != fault.StateApplied {
			f.State = p.State
		}
		if f.Time == "" {
			f.Time, f.Mono = p.Time, p.Mono
		}
	}
	f.Detail = "parts " + strings.Join(ids, " ")
	return f
}

// clearComposed reverts a composed fault's parts.
func (r *relay) clearComposed(id string) ([]*fault.Fault, error) {
	r.mu.Lock()
	parts, ok := r.parts[id]
	delete(r.parts, id)
	r.mu.Unlock()
	if !ok {
		return nil, errkind.User("no fault %s is active", id)
	}
	var cleared []*fault.Fault
	var errs []string
	for _, p := range parts {
		a, err := r.agent(p.host)
		if err == nil {
			var rep wire.FaultReply
			if rep, err = a.call(wire.FaultRequest{Op: "clear", ID: p.id}); err == nil && rep.Error != "" {
				err = fmt.Errorf("%s", rep.Error)
			}
			cleared = append(cleared, rep.Faults...)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s/%s: %v", p.host.Target.Name, p.id, err))
		}
	}
	f := r.composite(id, "", nil, parts, cleared)
	if len(cleared) == len(parts) {
		f.State = fault.StateReverted
	}
	if len(errs) > 0 {
		return []*fault.Fault{f}, fmt.Errorf("revert %s: %s", id, strings.Join(errs, "; "))
	}
	return []*fault.Fault{f}, nil
}
