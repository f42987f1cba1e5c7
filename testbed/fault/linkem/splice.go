package linkem

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"

	"github.com/tbctl/tbctl/internal/proc"
)

// Link names the two ends of an existing veth link: the network namespace
// of each (a path such as /run/netns/lab-r1) and its interface there.
type Link struct {
	NSA string `json:"nsA"`
	IfA string `json:"ifA"`
	NSB string `json:"nsB"`
	IfB string `json:"ifB"`
}

func (l Link) String() string { return l.NSA + ":" + l.IfA + " - " + l.NSB + ":" + l.IfB }

// Iface is what end B's interface had in its namespace, to be put back.
type Iface struct {
	Name      string  `json:"name"`
	Index     int     `json:"index"`
	MAC       string  `json:"mac"`
	MTU       int     `json:"mtu"`
	Up        bool    `json:"up"`
	Master    string  `json:"master,omitempty"`
	NoARP     bool    `json:"noarp,omitempty"`
	Addrs     []Addr  `json:"addrs,omitempty"`
	Routes    []Route `json:"routes,omitempty"`
	PeerIndex int     `json:"peerIndex"` // IfA's index in NSA
}

// Addr is an interface address as data.
type Addr struct {
	CIDR      string `json:"cidr"`
	Broadcast string `json:"broadcast,omitempty"`
}

// Route is a route through end B's interface as data; devices by name.
type Route struct {
	Family   int    `json:"family"`
	Dst      string `json:"dst,omitempty"` // "" is the default route
	Src      string `json:"src,omitempty"`
	Gw       string `json:"gw,omitempty"`
	Dev      string `json:"dev,omitempty"`
	Hops     []Hop  `json:"hops,omitempty"`
	Table    int    `json:"table"`
	Priority int    `json:"priority,omitempty"`
	Scope    int    `json:"scope"`
	Protocol int    `json:"protocol"`
	Type     int    `json:"type"`
	Flags    int    `json:"flags,omitempty"`
}

// Hop is one next hop of a multipath route.
type Hop struct {
	Dev    string `json:"dev"`
	Gw     string `json:"gw,omitempty"`
	Weight int    `json:"weight,omitempty"` // netlink "hops": weight-1
	Flags  int    `json:"flags,omitempty"`
}

// State is an inserted emulator: everything needed to change, check or
// remove it later, from this process or another one.
type State struct {
	Link       Link       `json:"link"`
	Dir        string     `json:"dir"`
	NSPath     string     `json:"nsPath"` // the hidden namespace's pin
	RelayPID   int        `json:"relayPid,omitempty"`
	RelayStart uint64     `json:"relayStart,omitempty"` // /proc/PID/stat field 22
	B          Iface      `json:"b"`
	Impairment Impairment `json:"impairment"`
	Generation int        `json:"generation"`
}

// Names of the interfaces in the hidden namespace.
const (
	SideA = "a-side" // the original end B, still paired with IfA
	SideB = "b-side" // the peer of the new IfB
)

// ReadyTimeout bounds the wait for the relay to start.
var ReadyTimeout = 10 * time.Second

func (s *State) configFile() string { return filepath.Join(s.Dir, "config.json") }
func (s *State) statsFile() string  { return filepath.Join(s.Dir, "stats.json") }

// StateFile is where Insert and Update write the State as JSON.
func (s *State) StateFile() string { return filepath.Join(s.Dir, "state.json") }

// LoadState reads a State written by Insert or Update.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (s *State) save() error {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.StateFile(), js)
}

func (s *State) writeConfig(imp Impairment, gen int) error {
	js, err := json.Marshal(impConfig{Generation: gen, Impairment: imp})
	if err != nil {
		return err
	}
	return writeFileAtomic(s.configFile(), js)
}

// Insert splices the emulator into a running veth link, with impairment
// imp, keeping its files (and the hidden namespace's pin) in dir, which it
// creates. End B's interface is replaced by a new veth with the same name,
// index, MAC, MTU, addresses, master and routes. On failure it undoes what
// it did.
func Insert(l Link, imp Impairment, dir string) (_ *State, err error) {
	if err := imp.Validate(); err != nil {
		return nil, fmt.Errorf("link emulator: %w", err)
	}
	if l.NSA == "" || l.IfA == "" || l.NSB == "" || l.IfB == "" {
		return nil, fmt.Errorf("link emulator: link %s: both namespaces and interfaces are needed", l)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &State{Link: l, Dir: dir, NSPath: filepath.Join(dir, "linkem-ns"), Impairment: imp, Generation: 1}
	wrap := func(what string, err error) error {
		return fmt.Errorf("insert link emulator on %s: %s: %w", l, what, err)
	}

	hb, fdB, err := openNS(l.NSB)
	if err != nil {
		return nil, wrap("open namespace "+l.NSB, err)
	}
	defer hb.Close()
	defer fdB.Close()
	old, err := hb.LinkByName(l.IfB)
	if err != nil {
		return nil, wrap("find "+l.IfB, err)
	}
	if _, ok := old.(*netlink.Veth); !ok {
		return nil, wrap(l.IfB, fmt.Errorf("is a %s, not a veth", old.Type()))
	}
	if s.B, err = snapshot(hb, old); err != nil {
		return nil, wrap("read "+l.IfB, err)
	}
	if ha, fdA, err := openNS(l.NSA); err == nil {
		if a, err := ha.LinkByName(l.IfA); err == nil && a.Attrs().Index != s.B.PeerIndex {
			err = fmt.Errorf("%s is not paired with %s", l.IfB, l.IfA)
			ha.Close()
			fdA.Close()
			return nil, wrap("check link", err)
		}
		ha.Close()
		fdA.Close()
	}
	if err := s.writeConfig(imp, s.Generation); err != nil {
		return nil, wrap("write config", err)
	}
	if _, err := os.Stat(s.NSPath); err == nil {
		return nil, wrap("hidden namespace", fmt.Errorf("%s exists: an emulator is already inserted there; remove it first", s.NSPath))
	}
	// From here on, a failure undoes what was done.
	defer func() {
		if err != nil {
			if rerr := Remove(s); rerr != nil {
				err = fmt.Errorf("%w (and undoing it: %v)", err, rerr)
			}
		}
	}()
	if err := createHidden(s.NSPath); err != nil {
		return nil, wrap("create hidden namespace", err)
	}
	hh, fdH, err := openNS(s.NSPath)
	if err != nil {
		return nil, wrap("open hidden namespace", err)
	}
	defer hh.Close()
	defer fdH.Close()

	if err := hb.LinkSetNsFd(old, int(fdH)); err != nil {
		return nil, wrap("move "+l.IfB+" to the hidden namespace", err)
	}
	moved, err := hh.LinkByIndex(s.B.Index)
	if err != nil {
		return nil, wrap("find the moved "+l.IfB, err)
	}
	if err := hh.LinkSetName(moved, SideA); err != nil {
		return nil, wrap("rename the moved "+l.IfB, err)
	}
	mac, _ := net.ParseMAC(s.B.MAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.IfB, Index: s.B.Index, MTU: s.B.MTU, HardwareAddr: mac},
		PeerName:      SideB,
		PeerMTU:       uint32(s.B.MTU),
		PeerNamespace: netlink.NsFd(int(fdH)),
	}
	if err := hb.LinkAdd(veth); err != nil {
		veth.Index = 0 // the index is taken: let the kernel choose
		if err2 := hb.LinkAdd(veth); err2 != nil {
			return nil, wrap("create the new "+l.IfB, err)
		}
	}
	for _, name := range []string{SideA, SideB} {
		ln, err := hh.LinkByName(name)
		if err == nil {
			err = hh.LinkSetARPOff(ln)
		}
		if err == nil {
			err = hh.LinkSetUp(ln)
		}
		if err != nil {
			return nil, wrap("set "+name+" up", err)
		}
	}
	nb, err := hb.LinkByName(l.IfB)
	if err != nil {
		return nil, wrap("find the new "+l.IfB, err)
	}
	if err := restore(hb, s.B, nb); err != nil {
		return nil, wrap("configure the new "+l.IfB, err)
	}
	if err := s.startRelay(); err != nil {
		return nil, wrap("start relay", err)
	}
	if err := s.save(); err != nil {
		return nil, wrap("save state", err)
	}
	return s, nil
}

// startRelay starts `tbctl fault relay` in the hidden namespace and waits
// until it is ready.
func (s *State) startRelay() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(RelayConfig{IfA: SideA, IfB: SideB, ConfigFile: s.configFile(), StatsFile: s.statsFile(), ReadyFD: 3})
	if err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(s.Dir, "relay.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(self, "fault", "relay", "--config", string(cfg))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = namespace.InThread(func() error {
		if err := namespace.Enter(s.NSPath, unix.CLONE_NEWNET); err != nil {
			return err
		}
		return cmd.Start()
	})
	w.Close()
	if err != nil {
		return err
	}
	s.RelayPID = cmd.Process.Pid
	s.RelayStart, _, _ = proc.Stat(s.RelayPID)
	go cmd.Wait() // reap it if it ends while this process lives
	r.SetReadDeadline(time.Now().Add(ReadyTimeout))
	line, _ := bufio.NewReader(r).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		tail, _ := os.ReadFile(filepath.Join(s.Dir, "relay.log"))
		if len(tail) > 500 {
			tail = tail[len(tail)-500:]
		}
		return fmt.Errorf("relay (pid %d) did not get ready: %s", s.RelayPID, strings.TrimSpace(string(tail)))
	}
	return nil
}

// Update changes the impairment of an inserted emulator, live, and waits
// until the relay has taken it.
func Update(s *State, imp Impairment) error {
	if err := imp.Validate(); err != nil {
		return fmt.Errorf("link emulator: %w", err)
	}
	if !relayAlive(s) {
		return fmt.Errorf("update link emulator on %s: relay (pid %d) is not running", s.Link, s.RelayPID)
	}
	gen := s.Generation + 1
	if err := s.writeConfig(imp, gen); err != nil {
		return err
	}
	if err := unix.Kill(s.RelayPID, unix.SIGHUP); err != nil {
		return fmt.Errorf("update link emulator on %s: signal relay: %w", s.Link, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if st, err := ReadStats(s); err == nil && st.Generation >= gen {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("update link emulator on %s: the relay did not take the new impairment within 3s", s.Link)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Impairment, s.Generation = imp, gen
	return s.save()
}

// ReadStats reads the relay's counters, written every second, on Update
// and on exit.
func ReadStats(s *State) (Stats, error) {
	var st Stats
	b, err := os.ReadFile(s.statsFile())
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// Remove takes the emulator out and puts end B's original interface back
// with its name, addresses, master and routes, then deletes the hidden
// namespace. It does whatever is left to do, so it may be called again,
// from another process, after a crash, or after the relay died.
func Remove(s *State) error {
	var errs []error
	if err := stopRelay(s); err != nil {
		errs = append(errs, err)
	}
	hb, fdB, err := openNS(s.Link.NSB)
	if err != nil {
		// End B's namespace is gone, and the link with it.
		errs = append(errs, unpin(s.NSPath))
		return joinErr(s, errs)
	}
	defer hb.Close()
	defer fdB.Close()
	if pinned(s.NSPath) {
		if err := moveBack(s, hb, fdB); err != nil {
			// Keep the pin: the original interface lives there.
			return joinErr(s, append(errs, err))
		}
	}
	if ln, err := hb.LinkByName(s.B.Name); err != nil {
		errs = append(errs, fmt.Errorf("find %s: %w", s.B.Name, err))
	} else if err := restore(hb, s.B, ln); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, unpin(s.NSPath))
	return joinErr(s, errs)
}

func joinErr(s *State, errs []error) error {
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove link emulator on %s: %w", s.Link, err)
	}
	return nil
}

// moveBack deletes the new interface and moves the original one from the
// hidden namespace back to end B's, under its name.
func moveBack(s *State, hb *netlink.Handle, fdB netns.NsHandle) error {
	hh, fdH, err := openNS(s.NSPath)
	if err != nil {
		return fmt.Errorf("open hidden namespace: %w", err)
	}
	defer hh.Close()
	defer fdH.Close()
	orig := findOriginal(hh, s)
	if orig == nil {
		return nil // already moved back, or lost
	}
	if cur, err := hb.LinkByName(s.B.Name); err == nil {
		if err := hb.LinkDel(cur); err != nil {
			return fmt.Errorf("delete the emulator's %s: %w", s.B.Name, err)
		}
	}
	if b, err := hh.LinkByName(SideB); err == nil {
		hh.LinkDel(b)
	}
	hh.LinkSetDown(orig)
	if orig.Attrs().Name != s.B.Name {
		if err := hh.LinkSetName(orig, s.B.Name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", orig.Attrs().Name, s.B.Name, err)
		}
	}
	if err := hh.LinkSetNsFd(orig, int(fdB)); err != nil {
		return fmt.Errorf("move %s back to %s: %w", s.B.Name, s.Link.NSB, err)
	}
	return nil
}

// findOriginal finds end B's original interface in the hidden namespace.
func findOriginal(hh *netlink.Handle, s *State) netlink.Link {
	links, err := hh.LinkList()
	if err != nil {
		return nil
	}
	for _, ln := range links {
		a := ln.Attrs()
		if a.Name == SideA || a.Index == s.B.Index && a.Name != SideB && a.Name != "lo" {
			return ln
		}
	}
	return nil
}

// Verify checks that the emulator is in place: the relay runs, the hidden
// namespace holds both sides, up, and end B's namespace holds the new
// interface, paired with the hidden namespace.
func Verify(s *State) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("verify link emulator on %s: %s", s.Link, fmt.Sprintf(format, a...))
	}
	if !relayAlive(s) {
		return fail("relay (pid %d) is not running", s.RelayPID)
	}
	if !pinned(s.NSPath) {
		return fail("hidden namespace %s is not there", s.NSPath)
	}
	hh, fdH, err := openNS(s.NSPath)
	if err != nil {
		return fail("open hidden namespace: %v", err)
	}
	defer hh.Close()
	defer fdH.Close()
	var sideB netlink.Link
	for _, name := range []string{SideA, SideB} {
		ln, err := hh.LinkByName(name)
		if err != nil {
			return fail("%s: %v", name, err)
		}
		if ln.Attrs().Flags&net.FlagUp == 0 {
			return fail("%s is down", name)
		}
		sideB = ln
	}
	hb, fdB, err := openNS(s.Link.NSB)
	if err != nil {
		return fail("open %s: %v", s.Link.NSB, err)
	}
	defer hb.Close()
	defer fdB.Close()
	nb, err := hb.LinkByName(s.B.Name)
	if err != nil {
		return fail("%s: %v", s.B.Name, err)
	}
	if nb.Attrs().ParentIndex != sideB.Attrs().Index {
		return fail("%s is not paired with the emulator", s.B.Name)
	}
	if nb.Attrs().HardwareAddr.String() != s.B.MAC {
		return fail("%s has MAC %s, want %s", s.B.Name, nb.Attrs().HardwareAddr, s.B.MAC)
	}
	return nil
}

// VerifyRemoved checks that the emulator is gone: no relay, no hidden
// namespace, and end B's original interface back, paired with IfA, with
// its MAC and addresses.
func VerifyRemoved(s *State) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("verify link emulator removed from %s: %s", s.Link, fmt.Sprintf(format, a...))
	}
	if relayAlive(s) {
		return fail("relay (pid %d) still runs", s.RelayPID)
	}
	if _, err := os.Stat(s.NSPath); err == nil {
		return fail("hidden namespace %s is still there", s.NSPath)
	}
	hb, fdB, err := openNS(s.Link.NSB)
	if err != nil {
		return fail("open %s: %v", s.Link.NSB, err)
	}
	defer hb.Close()
	defer fdB.Close()
	ln, err := hb.LinkByName(s.B.Name)
	if err != nil {
		return fail("%s: %v", s.B.Name, err)
	}
	a := ln.Attrs()
	if a.ParentIndex != s.B.PeerIndex || a.HardwareAddr.String() != s.B.MAC {
		return fail("%s is not the original interface (peer %d, MAC %s; want peer %d, MAC %s)",
			s.B.Name, a.ParentIndex, a.HardwareAddr, s.B.PeerIndex, s.B.MAC)
	}
	if s.B.Up && a.Flags&net.FlagUp == 0 {
		return fail("%s is down", s.B.Name)
	}
	have := map[string]bool{}
	addrs, _ := hb.AddrList(ln, netlink.FAMILY_ALL)
	for _, ad := range addrs {
		have[ad.IPNet.String()] = true
	}
	for _, ad := range s.B.Addrs {
		if !have[ad.CIDR] {
			return fail("%s lacks address %s", s.B.Name, ad.CIDR)
		}
	}
	return nil
}

// snapshot reads what end B's interface has in its namespace.
func snapshot(h *netlink.Handle, ln netlink.Link) (Iface, error) {
	a := ln.Attrs()
	f := Iface{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr.String(), MTU: a.MTU,
		Up: a.Flags&net.FlagUp != 0, NoARP: a.RawFlags&unix.IFF_NOARP != 0, PeerIndex: a.ParentIndex}
	if a.MasterIndex != 0 {
		m, err := h.LinkByIndex(a.MasterIndex)
		if err != nil {
			return f, fmt.Errorf("find master: %w", err)
		}
		f.Master = m.Attrs().Name
	}
	addrs, err := h.AddrList(ln, netlink.FAMILY_ALL)
	if err != nil {
		return f, fmt.Errorf("list addresses: %w", err)
	}
	for _, ad := range addrs {
		if ad.IP.IsLinkLocalUnicast() && ad.IP.To4() == nil {
			continue // the kernel makes IPv6 link-local addresses
		}
		x := Addr{CIDR: ad.IPNet.String()}
		if ad.Broadcast != nil {
			x.Broadcast = ad.Broadcast.String()
		}
		f.Addrs = append(f.Addrs, x)
	}
	links, err := h.LinkList()
	if err != nil {
		return f, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return f, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range rs {
			if r.Protocol == unix.RTPROT_KERNEL || r.Table == unix.RT_TABLE_LOCAL {
				continue // made by the kernel from addresses and links
			}
			uses := r.LinkIndex == a.Index
			for _, nh := range r.MultiPath {
				uses = uses || nh.LinkIndex == a.Index
			}
			if !uses {
				continue
			}
			x := Route{Family: fam, Src: ipString(r.Src), Gw: ipString(r.Gw), Table: r.Table,
				Priority: r.Priority, Scope: int(r.Scope), Protocol: int(r.Protocol), Type: r.Type, Flags: r.Flags}
			if r.Dst != nil {
				x.Dst = r.Dst.String()
			}
			if r.LinkIndex != 0 {
				x.Dev = names[r.LinkIndex]
			}
			for _, nh := range r.MultiPath {
				x.Hops = append(x.Hops, Hop{Dev: names[nh.LinkIndex], Gw: ipString(nh.Gw), Weight: nh.Hops, Flags: nh.Flags})
			}
			f.Routes = append(f.Routes, x)
		}
	}
	return f, nil
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

// restore gives an interface of end B's namespace the saved name, MAC,
// MTU, addresses, master, state and routes; what it has already is left.
func restore(h *netlink.Handle, f Iface, ln netlink.Link) error {
	a := ln.Attrs()
	if a.Name != f.Name {
		h.LinkSetDown(ln)
		if err := h.LinkSetName(ln, f.Name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", a.Name, f.Name, err)
		}
	}
	if a.HardwareAddr.String() != f.MAC {
		mac, _ := net.ParseMAC(f.MAC)
		if err := h.LinkSetHardwareAddr(ln, mac); err != nil {
			return fmt.Errorf("set MAC of %s: %w", f.Name, err)
		}
	}
	if a.MTU != f.MTU {
		if err := h.LinkSetMTU(ln, f.MTU); err != nil {
			return fmt.Errorf("set MTU of %s: %w", f.Name, err)
		}
	}
	for _, ad := range f.Addrs {
		x, err := netlink.ParseAddr(ad.CIDR)
		if err != nil {
			return err
		}
		if b := net.ParseIP(ad.Broadcast); b != nil {
			if b4 := b.To4(); b4 != nil {
				b = b4 // the kernel reads the first four bytes
			}
			x.Broadcast = b
		}
		if err := h.AddrReplace(ln, x); err != nil {
			return fmt.Errorf("add %s to %s: %w", ad.CIDR, f.Name, err)
		}
	}
	if noarp := a.RawFlags&unix.IFF_NOARP != 0; noarp != f.NoARP {
		set := h.LinkSetARPOn
		if f.NoARP {
			set = h.LinkSetARPOff
		}
		if err := set(ln); err != nil {
			return fmt.Errorf("set ARP of %s: %w", f.Name, err)
		}
	}
	if f.Master != "" {
		m, err := h.LinkByName(f.Master)
		if err != nil {
			return fmt.Errorf("find %s's master %s: %w", f.Name, f.Master, err)
		}
		if a.MasterIndex != m.Attrs().Index {
			if err := h.LinkSetMasterByIndex(ln, m.Attrs().Index); err != nil {
				return fmt.Errorf("attach %s to %s: %w", f.Name, f.Master, err)
			}
		}
	}
	if f.Up {
		if err := h.LinkSetUp(ln); err != nil {
			return fmt.Errorf("set %s up: %w", f.Name, err)
		}
	}
	var errs []error
	for _, r := range f.Routes {
		nr, err := r.netlink(h)
		if err == nil {
			err = h.RouteReplace(nr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore route %s via %s: %w", orDefault(r.Dst), f.Name, err))
		}
	}
	return errors.Join(errs...)
}

func orDefault(dst string) string {
	if dst == "" {
		return "default"
	}
	return dst
}

func (r Route) netlink(h *netlink.Handle) (*netlink.Route, error) {
	idx := func(dev string) (int, error) {
		ln, err := h.LinkByName(dev)
		if err != nil {
			return 0, fmt.Errorf("find %s: %w", dev, err)
		}
		return ln.Attrs().Index, nil
	}
	nr := &netlink.Route{Family: r.Family, Src: net.ParseIP(r.Src), Gw: net.ParseIP(r.Gw), Table: r.Table,
		Priority: r.Priority, Scope: netlink.Scope(r.Scope), Protocol: netlink.RouteProtocol(r.Protocol), Type: r.Type, Flags: r.Flags}
	if r.Dst != "" {
		_, dst, err := net.ParseCIDR(r.Dst)
		if err != nil {
			return nil, err
		}
		nr.Dst = dst
	}
	if r.Dev != "" {
		i, err := idx(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = i
	}
	for _, hop := range r.Hops {
		i, err := idx(hop.Dev)
		if err != nil {
			return nil, err
		}
		nr.MultiPath = append(nr.MultiPath, &netlink.NexthopInfo{LinkIndex: i, Gw: net.ParseIP(hop.Gw), Hops: hop.Weight, Flags: hop.Flags})
	}
	return nr, nil
}

// openNS opens a namespace and a netlink socket in it.
func openNS(path string) (*netlink.Handle, netns.NsHandle, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, -1, err
	}
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, -1, err
	}
	return h, fd, nil
}

// createHidden makes a network namespace pinned at path, with IPv6 off so
// that the relay's interfaces send nothing of their own.
func createHidden(path string) error {
	return namespace.InThread(func() error {
		if err := namespace.NewPinned(path); err != nil {
			return err
		}
		return namespace.DisableIPv6()
	})
}

// pinned reports whether a namespace is pinned at path.
func pinned(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// unpin unpins the hidden namespace; the kernel frees it, and what is in
// it, once no process is in it.
func unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// relayAlive reports whether the relay of s runs (the same process: its
// start time matches).
func relayAlive(s *State) bool {
	if s.RelayPID <= 0 {
		return false
	}
	start, state, err := proc.Stat(s.RelayPID)
	return err == nil && start == s.RelayStart && state != 'Z' && state != 'X'
}

// stopRelay ends the relay: SIGTERM, then SIGKILL after two seconds.
func stopRelay(s *State) error {
	if !relayAlive(s) {
		return nil
	}
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		unix.Kill(s.RelayPID, sig)
		for range 200 {
			if !relayAlive(s) {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return fmt.Errorf("relay (pid %d) does not end", s.RelayPID)
}
