package fault

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/testbed/fault/nft"

	internalproc "github.com/tbctl/tbctl/internal/proc"
)

// Step is one action of a revert, as data: any later tbctl can carry it
// out from the journal.
type Step struct {
	Do    string `json:"do"` // link-up | qdisc-delete | signal-cont
	NS    string `json:"ns,omitempty"`
	Iface string `json:"iface,omitempty"`
	Procs []proc `json:"procs,omitempty"`
	Table string `json:"table,omitempty"` // nftables table, for nft-delete
	// Dir holds a link emulator's state (linkem-remove) or a cgroup
	// (cgroup-restore).
	// Routes through the interface, which the kernel deletes when it goes
	// down and link-up puts back.
	Routes []route `json:"routes,omitempty"`
	Dir    string  `json:"dir,omitempty"`
	// For cgroup-restore: the hierarchy and who was moved.
	Cgroup  *cpuCgroup `json:"cgroup,omitempty"`
	Members []cgMember `json:"members,omitempty"`
}

// route is an IPv4 route as data.
type route struct {
	Dst  string    `json:"dst"`
	Hops []nexthop `json:"hops"`
}

type nexthop struct {
	Gw  string `json:"gw,omitempty"`
	Dev string `json:"dev"`
}

// routesVia snapshots the static routes of a namespace that use an
// interface (kernel-made connected routes come back by themselves).
func routesVia(e end) ([]route, error) {
	h, done, err := handleIn(e.NS)
	if err != nil {
		return nil, err
	}
	defer done()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []route
	for _, r := range rs {
		if r.Protocol == unix.RTPROT_KERNEL || r.Dst == nil {
			continue
		}
		rt := route{Dst: r.Dst.String()}
		uses := false
		if len(r.MultiPath) == 0 {
			rt.Hops = []nexthop{{Gw: ipString(r.Gw), Dev: names[r.LinkIndex]}}
			uses = names[r.LinkIndex] == e.Iface
		}
		for _, nh := range r.MultiPath {
			rt.Hops = append(rt.Hops, nexthop{Gw: ipString(nh.Gw), Dev: names[nh.LinkIndex]})
			uses = uses || names[nh.LinkIndex] == e.Iface
		}
		if uses {
			out = append(out, rt)
		}
	}
	return out, nil
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

// restoreRoutes puts snapshotted routes back (replacing any that remain).
func restoreRoutes(ns string, rs []route) error {
	if len(rs) == 0 {
		return nil
	}
	h, done, err := handleIn(ns)
	if err != nil {
		return err
	}
	defer done()
	var errs []error
	for _, rt := range rs {
		_, dst, err := net.ParseCIDR(rt.Dst)
		if err != nil {
			continue
		}
		r := &netlink.Route{Dst: dst}
		for _, hop := range rt.Hops {
			l, err := h.LinkByName(hop.Dev)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(hop.Gw)})
		}
		if len(r.MultiPath) == 1 {
			r.LinkIndex, r.Gw, r.MultiPath = r.MultiPath[0].LinkIndex, r.MultiPath[0].Gw, nil
		}
		if err := h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("restore route to %s: %w", rt.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// handleIn opens a netlink socket in a namespace ("" for the host's own).
func handleIn(ns string) (*netlink.Handle, func(), error) {
	if ns == "" {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, nil, err
		}
		return h, h.Close, nil
	}
	fd, err := netns.GetFromPath(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, nil, err
	}
	return h, func() { h.Close(); fd.Close() }, nil
}

// linkIn opens a netlink socket in an end's namespace and finds its
// interface; call done when finished.
func linkIn(e end) (h *netlink.Handle, l netlink.Link, done func(), err error) {
	h, done, err = handleIn(e.NS)
	if err != nil {
		return nil, nil, nil, err
	}
	l, err = h.LinkByName(e.Iface)
	if err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("%s: %w", e, err)
	}
	return h, l, done, nil
}

// setLink sets an interface administratively up or down.
func setLink(e end, up bool) error {
	h, l, done, err := linkIn(e)
	if err != nil {
		return err
	}
	defer done()
	if up {
		return h.LinkSetUp(l)
	}
	return h.LinkSetDown(l)
}

// linkIsUp reads an interface's administrative state back.
func linkIsUp(e end) (bool, error) {
	_, l, done, err := linkIn(e)
	if err != nil {
		return false, err
	}
	defer done()
	return l.Attrs().Flags&1 != 0, nil // net.FlagUp
}

// addTBF puts a token bucket on an interface's egress. It refuses to
// replace a root qdisc someone else set (such as a topology's own tbf).
func addTBF(e end, mbps float64, queue time.Duration) error {
	h, l, done, err := linkIn(e)
	if err != nil {
		return err
	}
	defer done()
	if q, err := rootQdisc(h, l); err == nil && q != nil && q.Type() != "noqueue" && q.Type() != "pfifo_fast" && q.Type() != "fq_codel" {
		return fmt.Errorf("%s already has a %s qdisc at its root (set by the topology?); tbctl does not replace it", e, q.Type())
	}
	rate := uint64(mbps * 1e6 / 8) // bytes per second
	burst := max(uint32(rate/250), 16*1024)
	limit := uint32(float64(rate)*queue.Seconds()) + burst
	tbf := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0x7b, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate, Limit: limit, Buffer: burstToBuffer(rate, burst),
	}
	if err := h.QdiscReplace(tbf); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%s: the kernel has no tbf qdisc (sch_tbf): %w", e, err)
		}
		return fmt.Errorf("%s: add tbf: %w", e, err)
	}
	return nil
}

// burstToBuffer converts a burst in bytes into tbf's buffer, which the
// kernel counts in scheduler ticks.
func burstToBuffer(rate uint64, burst uint32) uint32 {
	return uint32(netlink.Xmittime(rate, burst))
}

func rootQdisc(h *netlink.Handle, l netlink.Link) (netlink.Qdisc, error) {
	qs, err := h.QdiscList(l)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q, nil
		}
	}
	return nil, nil
}

// readTBF returns the rate of the tbf at an interface's root, 0 if none.
func readTBF(e end) (uint64, error) {
	h, done, err := handleIn(e.NS)
	if err != nil {
		return 0, err
	}
	defer done()
	l, err := h.LinkByName(e.Iface)
	if err != nil {
		return 0, err
	}
	q, err := rootQdisc(h, l)
	if err != nil {
		return 0, err
	}
	if tbf, ok := q.(*netlink.Tbf); ok {
		return tbf.Rate, nil
	}
	return 0, nil
}

// deleteRootQdisc removes the qdisc tbctl put at an interface's root.
func deleteRootQdisc(e end) error {
	h, done, err := handleIn(e.NS)
	if err != nil {
		return err
	}
	defer done()
	l, err := h.LinkByName(e.Iface)
	if err != nil {
		return nil // the interface is gone, and its qdisc with it
	}
	q, err := rootQdisc(h, l)
	if err != nil || q == nil || q.Attrs().Handle != netlink.MakeHandle(0x7b, 0) {
		return err
	}
	return h.QdiscDel(q)
}

// signal sends sig to processes that are still the ones recorded.
func signal(ps []proc, sig syscall.Signal) {
	for _, p := range ps {
		if startTime(p.PID) == p.Start {
			syscall.Kill(p.PID, sig)
		}
	}
}

// procState returns the state letter of a process ("" when it is gone).
func procState(p proc) string {
	start, state, err := internalproc.Stat(p.PID)
	if err != nil || start != p.Start {
		return ""
	}
	return string(state)
}

// waitStates waits until every live process is in one of states.
func waitStates(ps []proc, states string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		for _, p := range ps {
			if st := procState(p); st != "" && !strings.Contains(states, st) {
				bad = append(bad, fmt.Sprintf("%d is %s", p.PID, st))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes not in state %s: %s", states, strings.Join(bad, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// undo carries out one revert step; it is idempotent.
func undo(s Step) error {
	switch s.Do {
	case "link-up":
		if err := setLink(end{NS: s.NS, Iface: s.Iface}, true); err != nil {
			return err
		}
		return restoreRoutes(s.NS, s.Routes)
	case "qdisc-delete":
		return deleteRootQdisc(end{NS: s.NS, Iface: s.Iface})
	case "signal-cont":
		signal(s.Procs, syscall.SIGCONT)
		return nil
	case "signal-kill":
		signal(s.Procs, syscall.SIGKILL)
		return nil
	case "cgroup-restore":
		return undoStraggler(*s.Cgroup, s.Dir, s.Members)
	case "nft-delete":
		if _, err := os.Stat(s.NS); s.NS != "" && err != nil {
			return nil // the namespace is gone, and the table with it
		}
		return nft.Delete(s.NS, s.Table)
	case "linkem-remove":
		return removeEmulator(s.Dir)
	}
	return fmt.Errorf("unknown revert step %q", s.Do)
}

// checkUndone reads back that a step's revert holds.
func checkUndone(s Step) error {
	switch s.Do {
	case "link-up":
		up, err := linkIsUp(end{NS: s.NS, Iface: s.Iface})
		if err != nil || up {
			return err
		}
		return fmt.Errorf("%s is still down", s.Iface)
	case "qdisc-delete":
		rate, err := readTBF(end{NS: s.NS, Iface: s.Iface})
		if err != nil || rate == 0 {
			return nil
		}
		return fmt.Errorf("%s still has a tbf", s.Iface)
	case "signal-cont":
		return waitStates(s.Procs, "RSDIZ", 2*time.Second)
	case "signal-kill":
		return waitStates(s.Procs, "Z", 2*time.Second)
	case "cgroup-restore":
		if _, err := os.Stat(s.Dir); err == nil {
			return fmt.Errorf("cgroup %s still exists", s.Dir)
		}
	case "nft-delete":
		if _, err := os.Stat(s.NS); s.NS != "" && err != nil {
			return nil
		}
		if ok, err := nft.Exists(s.NS, s.Table); err != nil || ok {
			return fmt.Errorf("nftables table %s still present (%v)", s.Table, err)
		}
	case "linkem-remove":
		return emulatorRemoved(s.Dir)
	}
	return nil
}
