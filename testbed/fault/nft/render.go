package nft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// value kinds of what a register holds, for printing what it is compared to.
const (
	kindHex = iota
	kindIPv4
	kindProto
	kindPort
	kindIfname
	kindInt
)

type register struct {
	desc string
	kind int
	bits int // prefix length after a mask, for kindIPv4
}

// renderRule prints the expressions of a rule read back from the kernel in
// an nft-like syntax. It knows the expressions this package makes and
// prints others by type. The kernel's byteorder expression is not decoded by
// the library, so after numgen the compared value is taken as big-endian.
func renderRule(exprs []expr.Any, sets map[string]string) string {
	var out []string
	regs := map[uint32]register{}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			if e.SourceRegister {
				out = append(out, fmt.Sprintf("meta set %d", e.Key))
				continue
			}
			regs[e.Register] = metaRegister(e.Key)
		case *expr.Payload:
			if e.OperationType != expr.PayloadLoad {
				out = append(out, "payload write")
				continue
			}
			regs[e.DestRegister] = payloadRegister(e)
		case *expr.Bitwise:
			r := regs[e.SourceRegister]
			if r.kind == kindIPv4 && len(e.Mask) == 4 {
				m := binary.BigEndian.Uint32(e.Mask)
				if n := bits.LeadingZeros32(^m); m<<n == 0 {
					r.bits = n
					regs[e.DestRegister] = r
					continue
				}
			}
			regs[e.DestRegister] = register{desc: fmt.Sprintf("%s & 0x%x", r.desc, e.Mask), kind: kindHex}
		case *expr.Numgen:
			kind := "inc"
			if e.Type == unix.NFT_NG_RANDOM {
				kind = "random"
			}
			d := fmt.Sprintf("numgen %s mod %d", kind, e.Modulus)
			if e.Offset != 0 {
				d += fmt.Sprintf(" offset %d", e.Offset)
			}
			regs[e.Register] = register{desc: d, kind: kindInt}
		case *expr.Cmp:
			r := regs[e.Register]
			out = append(out, r.desc+cmpOp(e.Op)+formatValue(r, e.Data))
		case *expr.Lookup:
			r := regs[e.SourceRegister]
			op := " "
			if e.Invert {
				op = " != "
			}
			s := r.desc + op + "@" + e.SetName
			if c, ok := sets[e.SetName]; ok {
				s += " " + c
			}
			out = append(out, s)
		case *expr.Counter:
			out = append(out, fmt.Sprintf("counter packets %d bytes %d", e.Packets, e.Bytes))
		case *expr.Verdict:
			out = append(out, verdictName(e))
		default:
			out = append(out, strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr."))
		}
	}
	return strings.Join(out, " ")
}

func metaRegister(k expr.MetaKey) register {
	switch k {
	case expr.MetaKeyL4PROTO:
		return register{desc: "meta l4proto", kind: kindProto}
	case expr.MetaKeyOIFNAME:
		return register{desc: "oifname", kind: kindIfname}
	case expr.MetaKeyIIFNAME:
		return register{desc: "iifname", kind: kindIfname}
	case expr.MetaKeyNFPROTO:
		return register{desc: "meta nfproto", kind: kindInt}
	}
	return register{desc: fmt.Sprintf("meta key%d", k), kind: kindHex}
}

func payloadRegister(p *expr.Payload) register {
	switch {
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 12 && p.Len == 4:
		return register{desc: "ip saddr", kind: kindIPv4, bits: 32}
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 16 && p.Len == 4:
		return register{desc: "ip daddr", kind: kindIPv4, bits: 32}
	case p.Base == expr.PayloadBaseNetworkHeader && p.Offset == 9 && p.Len == 1:
		return register{desc: "ip protocol", kind: kindProto}
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 0 && p.Len == 2:
		return register{desc: "th sport", kind: kindPort}
	case p.Base == expr.PayloadBaseTransportHeader && p.Offset == 2 && p.Len == 2:
		return register{desc: "th dport", kind: kindPort}
	}
	base := map[expr.PayloadBase]string{
		expr.PayloadBaseLLHeader:        "ll",
		expr.PayloadBaseNetworkHeader:   "nh",
		expr.PayloadBaseTransportHeader: "th",
	}[p.Base]
	return register{desc: fmt.Sprintf("@%s,%d,%d", base, p.Offset*8, p.Len*8), kind: kindHex}
}

func cmpOp(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return " "
	case expr.CmpOpNeq:
		return " != "
	case expr.CmpOpLt:
		return " < "
	case expr.CmpOpLte:
		return " <= "
	case expr.CmpOpGt:
		return " > "
	case expr.CmpOpGte:
		return " >= "
	}
	return fmt.Sprintf(" op%d ", op)
}

func formatValue(r register, d []byte) string {
	switch {
	case r.kind == kindIPv4 && len(d) == 4:
		a := netip.AddrFrom4([4]byte(d))
		if r.bits > 0 && r.bits < 32 {
			return netip.PrefixFrom(a, r.bits).String()
		}
		return a.String()
	case r.kind == kindProto && len(d) == 1:
		switch d[0] {
		case unix.IPPROTO_TCP:
			return "tcp"
		case unix.IPPROTO_UDP:
			return "udp"
		case unix.IPPROTO_ICMP:
			return "icmp"
		}
		return fmt.Sprint(d[0])
	case r.kind == kindPort && len(d) == 2:
		return fmt.Sprint(binary.BigEndian.Uint16(d))
	case r.kind == kindIfname:
		return fmt.Sprintf("%q", string(bytes.TrimRight(d, "\x00")))
	case r.kind == kindInt && len(d) == 4:
		return fmt.Sprint(binary.BigEndian.Uint32(d))
	}
	return fmt.Sprintf("0x%x", d)
}

func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}
