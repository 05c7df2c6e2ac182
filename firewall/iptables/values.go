package iptables

import (
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// parsePrefix reads one address of -s/-d: "10.0.0.0/8", "10.1.2.3", "fd00::/8" or a dotted
// mask "10.0.0.0/255.0.0.0". contiguous is false for a mask that is no prefix
// ("/255.0.255.0"), which no range can express.
func parsePrefix(s string) (p netip.Prefix, contiguous, ok bool) {
	addr, mask, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false, false
	}
	if !hasMask {
		return netip.PrefixFrom(a, a.BitLen()), true, true
	}
	if n, err := strconv.Atoi(mask); err == nil {
		if n < 0 || n > a.BitLen() {
			return netip.Prefix{}, false, false
		}
		return netip.PrefixFrom(a, n), true, true
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || m.BitLen() != a.BitLen() {
		return netip.Prefix{}, false, false
	}
	n, contiguous := maskBits(m)
	if !contiguous {
		return netip.Prefix{}, false, true
	}
	return netip.PrefixFrom(a, n), true, true
}

// maskBits is the prefix length of a netmask and whether the mask is contiguous.
func maskBits(m netip.Addr) (int, bool) {
	b := m.As16()
	raw := b[:]
	if m.Is4() {
		raw = raw[12:]
	}
	n, seenZero := 0, false
	for _, x := range raw {
		if seenZero && x != 0 {
			return 0, false
		}
		ones := bits.LeadingZeros8(^x)
		if ones < 8 {
			if x<<ones != 0 {
				return 0, false
			}
			seenZero = true
		}
		n += ones
	}
	return n, true
}

// listLen counts the elements of a comma-separated list.
func listLen(s string) int { return strings.Count(s, ",") + 1 }

// nextElem cuts the first element off a comma-separated list.
func nextElem(s string) (elem, rest string) {
	elem, rest, _ = strings.Cut(s, ",")
	return elem, rest
}

// checkAddrs validates a comma-separated address list.
func checkAddrs(s string) bool {
	for s != "" {
		var e string
		e, s = nextElem(s)
		if _, _, ok := parsePrefix(e); !ok {
			return false
		}
	}
	return true
}

// parseAddrRange reads "10.0.0.1-10.0.0.9" (iprange) or a single address.
func parseAddrRange(s string) (report.AddrRange, bool) {
	from, to, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(from)
	if err != nil || a.Zone() != "" {
		return report.AddrRange{}, false
	}
	if !isRange {
		return report.SingleAddr(a), true
	}
	b, err := netip.ParseAddr(to)
	if err != nil {
		return report.AddrRange{}, false
	}
	r := report.AddrRange{From: a, To: b}
	return r, r.Valid()
}

// checkPorts validates a comma-separated list of ports and a:b ranges (multiport).
func checkPorts(s string) bool {
	for s != "" {
		var e string
		e, s = nextElem(s)
		if _, err := report.ParsePortRange(e, ":"); err != nil {
			return false
		}
	}
	return true
}

// parseNATDest reads DNAT's --to-destination: "1.2.3.4", "1.2.3.4:80", "1.2.3.4:80-90",
// "1.2.3.4-1.2.3.9:80", "[fd00::1]:80", "fd00::1" or ":80". From ranges the first
// address and port are taken. addr is invalid when only the port changes.
func parseNATDest(s string) (addr netip.Addr, port uint16, ok bool) {
	var a, ports string
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, 0, false
		}
		a = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, 0, false
			}
			ports = rest[1:]
		}
	case strings.Count(s, ":") > 1:
		a = s
	default:
		a, ports, _ = strings.Cut(s, ":")
	}
	if first, _, isRange := strings.Cut(a, "-"); isRange {
		a = first
	}
	if a != "" {
		var err error
		if addr, err = netip.ParseAddr(a); err != nil || addr.Zone() != "" {
			return netip.Addr{}, 0, false
		}
	}
	if ports != "" {
		pr, err := report.ParsePortRange(ports, "-")
		if err != nil {
			return netip.Addr{}, 0, false
		}
		port = pr.Lo
	}
	return addr, port, addr.IsValid() || port != 0
}

// parseMark reads "0x4000", "0x4000/0x4000" or "16"; the mask defaults to all ones.
func parseMark(s string) (value, mask uint32, ok bool) {
	v, m, hasMask := strings.Cut(s, "/")
	x, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask = ^uint32(0)
	if hasMask {
		y, err := strconv.ParseUint(m, 0, 32)
		if err != nil {
			return 0, 0, false
		}
		mask = uint32(y)
	}
	return uint32(x), mask, true
}

// protoNumbers maps protocol names iptables prints to their numbers.
var protoNumbers = map[string]int{
	"all": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "dccp": 33,
	"ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "gre": 47, "esp": 50, "ah": 51,
	"ipv6-icmp": 58, "icmpv6": 58, "icmp6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "mh": 135, "ipv6-mh": 135, "udplite": 136,
}

// protoNumber reads a -p value: a name or a number; ok is false for anything else.
func protoNumber(s string) (int, bool) {
	if n, ok := protoNumbers[strings.ToLower(s)]; ok {
		return n, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return n, true
}

// Conntrack states as bits.
const (
	ctInvalid uint32 = 1 << iota
	ctNew
	ctEstablished
	ctRelated
	ctUntracked
	ctSNAT
	ctDNAT
)

var ctStateNames = map[string]uint32{
	"INVALID": ctInvalid, "NEW": ctNew, "ESTABLISHED": ctEstablished, "RELATED": ctRelated,
	"UNTRACKED": ctUntracked, "SNAT": ctSNAT, "DNAT": ctDNAT,
}

// TCP flags as bits.
const (
	tcpFIN uint32 = 1 << iota
	tcpSYN
	tcpRST
	tcpPSH
	tcpACK
	tcpURG
	tcpECE
	tcpCWR
)

var tcpFlagNames = map[string]uint32{
	"FIN": tcpFIN, "SYN": tcpSYN, "RST": tcpRST, "PSH": tcpPSH, "ACK": tcpACK, "URG": tcpURG,
	"ECE": tcpECE, "CWR": tcpCWR, "ALL": 0xff, "NONE": 0,
}

// Address types of -m addrtype as bits.
const (
	atUnspec uint32 = 1 << iota
	atUnicast
	atLocal
	atBroadcast
	atAnycast
	atMulticast
	atBlackhole
	atUnreachable
	atProhibit
	atThrow
	atNAT
	atXResolve
)

var addrTypeNames = map[string]uint32{
	"UNSPEC": atUnspec, "UNICAST": atUnicast, "LOCAL": atLocal, "BROADCAST": atBroadcast,
	"ANYCAST": atAnycast, "MULTICAST": atMulticast, "BLACKHOLE": atBlackhole,
	"UNREACHABLE": atUnreachable, "PROHIBIT": atProhibit, "THROW": atThrow, "NAT": atNAT,
	"XRESOLVE": atXResolve,
}

// parseBits reads a comma-separated list of names into a bit set; ok is false for an unknown name.
func parseBits(s string, names map[string]uint32) (uint32, bool) {
	var out uint32
	for s != "" {
		var e string
		e, s = nextElem(s)
		b, ok := names[strings.ToUpper(e)]
		if !ok {
			return 0, false
		}
		out |= b
	}
	return out, true
}
