// Package nft applies and removes network faults with nftables inside a
// node's network namespace: partitions, blackholes and random loss. Each
// fault is one table of its own, so removing it is deleting that table.
//
// The package talks to the kernel over netlink (github.com/google/nftables);
// it never runs the nft program. Every function takes the path of the node's
// network namespace (for example /run/netns/tb-lab-h1; "" means the caller's
// namespace) and the name of the fault's table, which must match
// [a-z0-9_]{1,32}.
//
// Tables made here:
//
//   - Partition and Blackhole: one table of family ip with base chains named
//     after their hooks (input, output, forward), each at priority -300
//     (before the usual filter chains, so the counters see every matching
//     packet) with policy accept and one counting drop rule per direction.
//   - Loss: a table of family netdev with one chain named after its hook
//     (ingress or egress) bound to the interface, or, when the kernel refuses
//     a netdev chain there, a table of family ip with a chain named
//     prerouting (ingress) or postrouting (egress) that matches the
//     interface by name. The netdev chains drop any kind of frame (ARP
//     included), the ip fallback only IPv4 packets.
package nft

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Mechanisms reported by Loss.
const (
	MechNetdevEgress   = "nftables netdev egress"
	MechNetdevIngress  = "nftables netdev ingress"
	MechIPPostrouting  = "nftables ip postrouting (oifname)"
	MechIPPrerouting   = "nftables ip prerouting (iifname)"
	lossModulus        = 10000
	chainPriority      = -300
	maxTableNameLength = 32
)

var tableNameRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// forceLossFallback makes Loss skip the netdev chain, so that tests can
// exercise the ip-family fallback on kernels that have netdev egress.
var forceLossFallback bool

// ValidTableName reports an error unless name is usable as a fault table.
func ValidTableName(name string) error {
	if !tableNameRE.MatchString(name) {
		return fmt.Errorf("invalid nftables table name %q: want 1 to %d characters of [a-z0-9_]", name, maxTableNameLength)
	}
	return nil
}

// withConn opens an nftables netlink connection inside the namespace at
// nsPath ("" for the caller's own) and runs fn with it.
func withConn(nsPath string, fn func(c *nftables.Conn) error) error {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if nsPath != "" {
		fd, err := netns.GetFromPath(nsPath)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", nsPath, err)
		}
		defer fd.Close()
		opts = append(opts, nftables.WithNetNSFd(int(fd)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("open nftables netlink socket in %s: %w", nsName(nsPath), err)
	}
	defer c.CloseLasting()
	return fn(c)
}

func nsName(nsPath string) string {
	if nsPath == "" {
		return "the current namespace"
	}
	return nsPath
}

// findTables returns the tables of any family called name.
func findTables(c *nftables.Conn, name string) ([]*nftables.Table, error) {
	all, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []*nftables.Table
	for _, t := range all {
		if t.Name == name {
			out = append(out, t)
		}
	}
	return out, nil
}

// create checks that no table called table exists yet, lets build queue the
// table's objects on c, and sends them in one atomic batch.
func create(c *nftables.Conn, table string, build func() error) error {
	have, err := findTables(c, table)
	if err != nil {
		return err
	}
	if len(have) > 0 {
		return fmt.Errorf("table %s already exists (family %s): delete it first", table, familyName(have[0].Family))
	}
	if err := build(); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

func prio(p int32) *nftables.ChainPriority {
	return nftables.ChainPriorityRef(nftables.ChainPriority(p))
}

func acceptPolicy() *nftables.ChainPolicy {
	p := nftables.ChainPolicyAccept
	return &p
}

// addHookChain queues a filter base chain named after its hook.
func addHookChain(c *nftables.Conn, t *nftables.Table, name string, hook *nftables.ChainHook, device string) *nftables.Chain {
	return c.AddChain(&nftables.Chain{
		Name:     name,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: prio(chainPriority),
		Policy:   acceptPolicy(),
		Device:   device,
	})
}

// ---------------------------------------------------------------- Partition

// Partition drops IPv4 packets between the addresses in from and those in
// to, in both directions unless oneWay (then only from→to). Installed in the
// namespace of one node; the caller installs it in each node that needs it.
// Hooks: input and output, and forward, so routers in the middle can also
// enforce it. The address lists become two interval sets, "from" and "to".
func Partition(nsPath, table string, from, to []netip.Prefix, oneWay bool) error {
	if err := ValidTableName(table); err != nil {
		return fmt.Errorf("nft partition: %w", err)
	}
	fromEls, err := intervalElements("from", from)
	if err != nil {
		return fmt.Errorf("nft partition %s: %w", table, err)
	}
	toEls, err := intervalElements("to", to)
	if err != nil {
		return fmt.Errorf("nft partition %s: %w", table, err)
	}
	err = withConn(nsPath, func(c *nftables.Conn) error {
		return create(c, table, func() error {
			t := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4})
			// Set IDs only name the sets within this batch; giving them
			// here keeps the library off its global (unguarded) counter,
			// so faults may be applied from several goroutines at once.
			fromSet := &nftables.Set{Table: t, ID: 1, Name: "from", KeyType: nftables.TypeIPAddr, Interval: true}
			toSet := &nftables.Set{Table: t, ID: 2, Name: "to", KeyType: nftables.TypeIPAddr, Interval: true}
			if err := c.AddSet(fromSet, fromEls); err != nil {
				return fmt.Errorf("add set from: %w", err)
			}
			if err := c.AddSet(toSet, toEls); err != nil {
				return fmt.Errorf("add set to: %w", err)
			}
			hooks := []struct {
				name string
				hook *nftables.ChainHook
			}{
				{"input", nftables.ChainHookInput},
				{"output", nftables.ChainHookOutput},
				{"forward", nftables.ChainHookForward},
			}
			for _, h := range hooks {
				ch := addHookChain(c, t, h.name, h.hook, "")
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: pairDrop(fromSet, toSet)})
				if !oneWay {
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: pairDrop(toSet, fromSet)})
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("nft partition %s in %s: %w", table, nsName(nsPath), err)
	}
	return nil
}

// pairDrop is `ip saddr @src ip daddr @dst counter drop`.
func pairDrop(src, dst *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: src.Name, SetID: src.ID},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: dst.Name, SetID: dst.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

type span struct{ lo, hi uint32 }

// intervalElements turns IPv4 prefixes into the elements of an interval
// set: overlapping and adjacent prefixes merged, each range [lo, hi] given
// as a start element lo and an end element hi+1 (none when hi is the last
// address).
func intervalElements(what string, prefixes []netip.Prefix) ([]nftables.SetElement, error) {
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("%s: no addresses given", what)
	}
	spans := make([]span, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("%s: %v is not an IPv4 prefix", what, p)
		}
		lo, hi := prefixSpan(p)
		spans = append(spans, span{lo, hi})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	merged := spans[:1]
	for _, s := range spans[1:] {
		last := &merged[len(merged)-1]
		if last.hi == math.MaxUint32 || s.lo <= last.hi+1 {
			if s.hi > last.hi {
				last.hi = s.hi
			}
			continue
		}
		merged = append(merged, s)
	}
	var els []nftables.SetElement
	for _, s := range merged {
		els = append(els, nftables.SetElement{Key: be32(s.lo)})
		if s.hi != math.MaxUint32 {
			els = append(els, nftables.SetElement{Key: be32(s.hi + 1), IntervalEnd: true})
		}
	}
	return els, nil
}

func prefixSpan(p netip.Prefix) (lo, hi uint32) {
	p = p.Masked()
	a := p.Addr().As4()
	lo = uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	hostBits := 32 - p.Bits()
	if hostBits == 32 {
		return 0, math.MaxUint32
	}
	return lo, lo | (uint32(1)<<hostBits - 1)
}

func be32(v uint32) []byte { return binaryutil.BigEndian.PutUint32(v) }

// ---------------------------------------------------------------- Blackhole

// Blackhole drops IPv4 packets to dst at output and forward. With port > 0
// only packets of protocol proto ("tcp" or "udp") to that destination port
// are dropped; with port 0, proto may still name a protocol ("tcp", "udp")
// to drop only that one, or be "" to drop everything to dst.
func Blackhole(nsPath, table string, dst netip.Prefix, proto string, port int) error {
	if err := ValidTableName(table); err != nil {
		return fmt.Errorf("nft blackhole: %w", err)
	}
	match, err := blackholeMatch(dst, proto, port)
	if err != nil {
		return fmt.Errorf("nft blackhole %s: %w", table, err)
	}
	err = withConn(nsPath, func(c *nftables.Conn) error {
		return create(c, table, func() error {
			t := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4})
			for _, h := range []struct {
				name string
				hook *nftables.ChainHook
			}{{"output", nftables.ChainHookOutput}, {"forward", nftables.ChainHookForward}} {
				ch := addHookChain(c, t, h.name, h.hook, "")
				exprs := append(append([]expr.Any{}, match...), &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("nft blackhole %s in %s: %w", table, nsName(nsPath), err)
	}
	return nil
}

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}

func blackholeMatch(dst netip.Prefix, proto string, port int) ([]expr.Any, error) {
	if !dst.IsValid() || !dst.Addr().Is4() {
		return nil, fmt.Errorf("destination %v is not an IPv4 prefix", dst)
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("port %d out of range 1-65535 (0 for any)", port)
	}
	pnum, known := protoNumbers[proto]
	if proto != "" && !known {
		return nil, fmt.Errorf("protocol %q: want \"tcp\" or \"udp\"", proto)
	}
	if port > 0 && proto == "" {
		return nil, fmt.Errorf("port %d given without a protocol: want \"tcp\" or \"udp\"", port)
	}
	var ex []expr.Any
	if proto != "" {
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{pnum}})
	}
	dst = dst.Masked()
	ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4})
	if dst.Bits() < 32 {
		lo, hi := prefixSpan(dst)
		ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: be32(^(hi - lo)), Xor: be32(0)})
	}
	a := dst.Addr().As4()
	ex = append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
	if port > 0 {
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))})
	}
	return ex, nil
}

// --------------------------------------------------------------------- Loss

// Loss drops the given percentage (0 < pct <= 100, resolution 0.01) of the
// packets leaving (direction "egress") or entering ("ingress") interface
// iface, at random: numgen random mod 10000 < pct*100 → drop. It uses a
// netdev-family chain on the interface; if the kernel refuses it (netdev
// egress needs Linux 5.16 or later), it falls back to an ip-family chain at
// postrouting (egress) or prerouting (ingress) that matches the interface
// by name and so only sees IPv4. It returns a short description of the
// mechanism used (see the Mech constants).
func Loss(nsPath, table, iface string, pct float64, direction string) (mechanism string, err error) {
	return loss(nsPath, table, iface, pct, direction, forceLossFallback)
}

// LossIPv4 is Loss with the ip-family chain only: it sees IPv4 packets
// alone, but drops them on every kernel tried, while a netdev egress chain
// on a veth was seen counting ICMP packets it did not stop.
func LossIPv4(nsPath, table, iface string, pct float64, direction string) (mechanism string, err error) {
	return loss(nsPath, table, iface, pct, direction, true)
}

func loss(nsPath, table, iface string, pct float64, direction string, ipOnly bool) (mechanism string, err error) {
	if err := ValidTableName(table); err != nil {
		return "", fmt.Errorf("nft loss: %w", err)
	}
	if err := validLoss(iface, pct, direction); err != nil {
		return "", fmt.Errorf("nft loss %s: %w", table, err)
	}
	threshold := uint32(math.Round(pct * lossModulus / 100))
	if err := linkExists(nsPath, iface); err != nil {
		return "", fmt.Errorf("nft loss %s: %w", table, err)
	}
	err = withConn(nsPath, func(c *nftables.Conn) error {
		var netdevErr error
		if !ipOnly {
			netdevErr = create(c, table, func() error {
				t := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyNetdev})
				hook := nftables.ChainHookEgress
				if direction == "ingress" {
					hook = nftables.ChainHookIngress
				}
				ch := addHookChain(c, t, direction, hook, iface)
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: randomDrop(nil, threshold)})
				return nil
			})
			if netdevErr == nil {
				mechanism = MechNetdevEgress
				if direction == "ingress" {
					mechanism = MechNetdevIngress
				}
				return nil
			}
			if errors.Is(netdevErr, unix.EEXIST) || strings.Contains(netdevErr.Error(), "already exists") {
				return netdevErr
			}
		}
		err := create(c, table, func() error {
			t := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyIPv4})
			name, hook, key := "postrouting", nftables.ChainHookPostrouting, expr.MetaKeyOIFNAME
			if direction == "ingress" {
				name, hook, key = "prerouting", nftables.ChainHookPrerouting, expr.MetaKeyIIFNAME
			}
			ch := addHookChain(c, t, name, hook, "")
			match := []expr.Any{
				&expr.Meta{Key: key, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iface)},
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: randomDrop(match, threshold)})
			return nil
		})
		if err != nil {
			if netdevErr != nil {
				return fmt.Errorf("netdev %s chain: %v; ip fallback: %w", direction, netdevErr, err)
			}
			return err
		}
		mechanism = MechIPPostrouting
		if direction == "ingress" {
			mechanism = MechIPPrerouting
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("nft loss %s on %s in %s: %w", table, iface, nsName(nsPath), err)
	}
	return mechanism, nil
}

func validLoss(iface string, pct float64, direction string) error {
	if iface == "" || len(iface) >= unix.IFNAMSIZ || strings.ContainsAny(iface, "/ \x00") {
		return fmt.Errorf("invalid interface name %q", iface)
	}
	if math.IsNaN(pct) || pct <= 0 || pct > 100 {
		return fmt.Errorf("loss percentage %v outside (0, 100]", pct)
	}
	if math.Round(pct*lossModulus/100) < 1 {
		return fmt.Errorf("loss percentage %v below the resolution of 0.01%%", pct)
	}
	if direction != "egress" && direction != "ingress" {
		return fmt.Errorf("direction %q: want \"egress\" or \"ingress\"", direction)
	}
	return nil
}

// linkExists checks that iface is an interface of the namespace, so that a
// typo is reported as such rather than as a refused chain.
func linkExists(nsPath, iface string) error {
	var h *netlink.Handle
	var err error
	if nsPath == "" {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		fd, ferr := netns.GetFromPath(nsPath)
		if ferr != nil {
			return fmt.Errorf("open network namespace %s: %w", nsPath, ferr)
		}
		defer fd.Close()
		h, err = netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	}
	if err != nil {
		return fmt.Errorf("netlink socket in %s: %w", nsName(nsPath), err)
	}
	defer h.Close()
	if _, err := h.LinkByName(iface); err != nil {
		return fmt.Errorf("interface %s in %s: %w", iface, nsName(nsPath), err)
	}
	return nil
}

// randomDrop is `<match> numgen random mod 10000 < threshold counter drop`.
// numgen leaves a host-order number; cmp lt compares bytes, hence the hton.
func randomDrop(match []expr.Any, threshold uint32) []expr.Any {
	return append(append([]expr.Any{}, match...),
		&expr.Numgen{Register: 1, Modulus: lossModulus, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: be32(threshold)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// ------------------------------------------------------- inspection, removal

// Exists reports whether a table called table (of any family) is present.
func Exists(nsPath, table string) (bool, error) {
	if err := ValidTableName(table); err != nil {
		return false, fmt.Errorf("nft exists: %w", err)
	}
	var found bool
	err := withConn(nsPath, func(c *nftables.Conn) error {
		ts, err := findTables(c, table)
		found = len(ts) > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("nft exists %s in %s: %w", table, nsName(nsPath), err)
	}
	return found, nil
}

// Delete removes the table (of whatever family); deleting a table that is
// not there is not an error.
func Delete(nsPath, table string) error {
	if err := ValidTableName(table); err != nil {
		return fmt.Errorf("nft delete: %w", err)
	}
	err := withConn(nsPath, func(c *nftables.Conn) error {
		ts, err := findTables(c, table)
		if err != nil || len(ts) == 0 {
			return err
		}
		for _, t := range ts {
			c.DelTable(t)
		}
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("send batch: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nft delete %s in %s: %w", table, nsName(nsPath), err)
	}
	return nil
}

// Tables lists the names of the tables whose names start with prefix
// ("" for all), sorted, each once whatever its families.
func Tables(nsPath, prefix string) ([]string, error) {
	var names []string
	err := withConn(nsPath, func(c *nftables.Conn) error {
		all, err := c.ListTables()
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		seen := map[string]bool{}
		for _, t := range all {
			if strings.HasPrefix(t.Name, prefix) && !seen[t.Name] {
				seen[t.Name] = true
				names = append(names, t.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nft tables %q in %s: %w", prefix, nsName(nsPath), err)
	}
	sort.Strings(names)
	return names, nil
}

// Rules returns one line per rule of the table, read back from the kernel:
// "<family> <chain>: <rule>", in nft-like syntax with named sets shown with
// their contents and counters with their current values, e.g.
//
//	ip output: ip daddr 198.18.61.2 meta l4proto udp th dport 9999 counter packets 3 bytes 276 drop
//
// It returns an error if the table does not exist.
func Rules(nsPath, table string) ([]string, error) {
	if err := ValidTableName(table); err != nil {
		return nil, fmt.Errorf("nft rules: %w", err)
	}
	var lines []string
	err := withConn(nsPath, func(c *nftables.Conn) error {
		ts, err := findTables(c, table)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fmt.Errorf("no table %s", table)
		}
		for _, t := range ts {
			sets, err := setContents(c, t)
			if err != nil {
				return err
			}
			chains, err := c.ListChainsOfTableFamily(t.Family)
			if err != nil {
				return fmt.Errorf("list chains: %w", err)
			}
			for _, ch := range chains {
				if ch.Table == nil || ch.Table.Name != t.Name {
					continue
				}
				rules, err := c.GetRules(t, ch)
				if err != nil {
					return fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
				}
				for _, r := range rules {
					lines = append(lines, familyName(t.Family)+" "+ch.Name+": "+renderRule(r.Exprs, sets))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nft rules %s in %s: %w", table, nsName(nsPath), err)
	}
	return lines, nil
}

// setContents returns the IPv4 interval sets of t rendered as
// "{a/n, b/m}", by name.
func setContents(c *nftables.Conn, t *nftables.Table) (map[string]string, error) {
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	out := map[string]string{}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list elements of set %s: %w", s.Name, err)
		}
		if s.KeyType.Bytes != 4 || !s.Interval {
			out[s.Name] = fmt.Sprintf("{%d elements}", len(els))
			continue
		}
		out[s.Name] = "{" + strings.Join(elementsToPrefixes(els), ", ") + "}"
	}
	return out, nil
}

// elementsToPrefixes undoes intervalElements.
func elementsToPrefixes(els []nftables.SetElement) []string {
	type el struct {
		key uint32
		end bool
	}
	var es []el
	for _, e := range els {
		if len(e.Key) != 4 {
			continue
		}
		es = append(es, el{binaryutil.BigEndian.Uint32(e.Key), e.IntervalEnd})
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].key != es[j].key {
			return es[i].key < es[j].key
		}
		return es[i].end && !es[j].end
	})
	var out []string
	for i := 0; i < len(es); i++ {
		if es[i].end {
			continue
		}
		lo, hi := es[i].key, uint32(math.MaxUint32)
		if i+1 < len(es) && es[i+1].end {
			hi = es[i+1].key - 1
			i++
		}
		for _, p := range spanPrefixes(lo, hi) {
			out = append(out, p.String())
		}
	}
	return out
}

// spanPrefixes covers [lo, hi] with the fewest prefixes.
func spanPrefixes(lo, hi uint32) []netip.Prefix {
	var out []netip.Prefix
	for {
		bits := 32
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if uint64(lo)%size != 0 || uint64(lo)+size-1 > uint64(hi) {
				break
			}
			bits--
		}
		a := netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
		out = append(out, netip.PrefixFrom(a, bits))
		next := uint64(lo) + uint64(1)<<(32-bits)
		if next > uint64(hi) {
			return out
		}
		lo = uint32(next)
	}
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyNetdev:
		return "netdev"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return fmt.Sprintf("family%d", f)
}
