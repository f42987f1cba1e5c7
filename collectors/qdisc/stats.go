package qdisc

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/collectors/internal/nldump"
)

// qdiscStats is what the kernel reports of one qdisc.
type qdiscStats struct {
	ifindex                                    int32
	handle, parent                             uint32
	kind                                       string
	bytes, packets                             uint64
	qlen, backlog, drops, requeues, overlimits uint32
}

// dumpQdiscs asks a namespace's kernel for every qdisc and appends each
// one's kind and statistics (TCA_STATS2) to out. It parses the replies
// itself rather than through netlink.QdiscList: that would also decode
// every qdisc's options, which costs more, and fails the whole dump if
// one kind's options are not what the library expects; and it reads the
// 64-bit packet count (TCA_STATS_PKT64) that the kernel adds once the
// 32-bit one has wrapped.
func dumpQdiscs(c *nldump.Conn, out []qdiscStats) ([]qdiscStats, error) {
	// A message that does not parse is left out, and the dump read to its
	// end all the same so that the next one starts clean.
	var perr error
	err := c.Dump(unix.RTM_GETQDISC, tcmsgAll[:], func(typ uint16, data []byte) error {
		if typ != unix.RTM_NEWQDISC {
			return nil
		}
		q, ok, err := parseQdisc(data)
		if err != nil {
			if perr == nil {
				perr = fmt.Errorf("RTM_NEWQDISC: %w", err)
			}
			return nil
		}
		if ok {
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, perr
}

// tcmsgAll is a struct tcmsg asking for every qdisc of every interface.
var tcmsgAll [nl.SizeofTcMsg]byte

// parseQdisc reads one RTM_NEWQDISC message: struct tcmsg, then
// attributes. ok is false for a message without statistics.
func parseQdisc(b []byte) (q qdiscStats, ok bool, err error) {
	if len(b) < nl.SizeofTcMsg {
		return q, false, nil
	}
	q.ifindex = int32(binary.NativeEndian.Uint32(b[4:]))
	q.handle = binary.NativeEndian.Uint32(b[8:])
	q.parent = binary.NativeEndian.Uint32(b[12:])
	attrs, err := nl.ParseRouteAttr(b[nl.SizeofTcMsg:])
	if err != nil {
		return q, false, err
	}
	var pkt64 uint64
	var have64 bool
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case nl.TCA_KIND:
			q.kind = cString(a.Value)
		case nl.TCA_STATS2:
			nested, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return q, false, err
			}
			for _, s := range nested {
				v := s.Value
				switch s.Attr.Type & nl.NLA_TYPE_MASK {
				case nl.TCA_STATS_BASIC: // struct gnet_stats_basic
					if len(v) >= 12 {
						q.bytes = binary.NativeEndian.Uint64(v)
						q.packets = uint64(binary.NativeEndian.Uint32(v[8:]))
						ok = true
					}
				case nl.TCA_STATS_PKT64:
					if len(v) >= 8 {
						pkt64, have64 = binary.NativeEndian.Uint64(v), true
					}
				case nl.TCA_STATS_QUEUE: // struct gnet_stats_queue
					if len(v) >= 20 {
						u := func(i int) uint32 { return binary.NativeEndian.Uint32(v[4*i:]) }
						q.qlen, q.backlog, q.drops, q.requeues, q.overlimits = u(0), u(1), u(2), u(3), u(4)
						ok = true
					}
				}
			}
		}
	}
	if have64 {
		q.packets = pkt64
	}
	return q, ok, nil
}

// cString is a NUL-terminated attribute as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
