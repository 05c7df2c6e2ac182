package nftables

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// dtype is the datatype of a key; it says how a right-hand value is read.
type dtype uint8

const (
	dtUnknown  dtype = iota
	dtInt            // a plain number (ttl, length, ct zone…)
	dtPort           // inet_service
	dtProto          // inet_proto (meta l4proto, ip protocol)
	dtAddr4          // ipv4_addr
	dtAddr6          // ipv6_addr
	dtIfname         // ifname (strings, "eth*" wildcards)
	dtIfindex        // iface_index: nft prints the name when it can
	dtMark           // mark (numbers, 0x… strings)
	dtCtState        // ct_state bitmask
	dtCtStatus       // ct_status bitmask
	dtCtDir          // ct_dir
	dtNfproto        // nf_proto
	dtEther          // ether_type (meta protocol)
	dtPktType        // pkt_type
	dtFibType        // fib_addrtype
	dtTCPFlags       // tcp_flag bitmask
	dtBool           // fib … oif missing/exists
	dtVerdict        // map data
)

// bitmask types compare with "in" as a bit test.
func (d dtype) bitmask() bool { return d == dtCtState || d == dtCtStatus || d == dtTCPFlags }

// max is the largest value of a numeric type.
func (d dtype) max() uint64 {
	switch d {
	case dtPort:
		return math.MaxUint16
	case dtProto, dtTCPFlags, dtPktType, dtNfproto, dtCtDir:
		return math.MaxUint8
	case dtEther:
		return math.MaxUint16
	case dtMark, dtCtState, dtCtStatus, dtFibType, dtIfindex:
		return math.MaxUint32
	}
	return math.MaxUint64
}

// dtypeOfName maps a set type name to a datatype.
func dtypeOfName(s string) dtype {
	switch s {
	case "ipv4_addr":
		return dtAddr4
	case "ipv6_addr":
		return dtAddr6
	case "inet_service":
		return dtPort
	case "inet_proto":
		return dtProto
	case "ifname":
		return dtIfname
	case "iface_index":
		return dtIfindex
	case "mark":
		return dtMark
	case "ct_state":
		return dtCtState
	case "ct_status":
		return dtCtStatus
	case "nf_proto":
		return dtNfproto
	case "ether_type":
		return dtEther
	case "pkt_type":
		return dtPktType
	case "fib_addrtype":
		return dtFibType
	case "tcp_flag":
		return dtTCPFlags
	case "verdict":
		return dtVerdict
	case "integer", "ct_label", "dccp_pkttype", "ipsec_spi":
		return dtInt
	}
	return dtUnknown
}

var (
	protoNames = map[string]uint64{
		"ip": 0, "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "tcp": 6, "egp": 8, "pup": 12,
		"udp": 17, "idp": 22, "rdp": 27, "dccp": 33, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44,
		"rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
		"ipv6-opts": 60, "ospf": 89, "ipip": 94, "encap": 98, "pim": 103, "ipcomp": 108, "comp": 108,
		"vrrp": 112, "l2tp": 115, "sctp": 132, "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137,
	}
	ctStateNames  = map[string]uint64{"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
	ctStatusNames = map[string]uint64{"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512}
	ctDirNames    = map[string]uint64{"original": 0, "reply": 1}
	nfprotoNames  = map[string]uint64{"ipv4": 2, "ipv6": 10, "inet": 1, "arp": 3, "bridge": 7, "netdev": 5}
	etherNames    = map[string]uint64{"ip": 0x0800, "arp": 0x0806, "ip6": 0x86dd, "vlan": 0x8100, "8021q": 0x8100, "8021ad": 0x88a8}
	pktTypeNames  = map[string]uint64{"host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3}
	fibTypeNames  = map[string]uint64{"unspec": 0, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5, "blackhole": 6, "unreachable": 7, "prohibit": 8}
	tcpFlagNames  = map[string]uint64{"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ecn": 0x40, "cwr": 0x80}
	serviceNames  = map[string]uint64{"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "https": 443, "ntp": 123, "imap": 143, "imaps": 993, "pop3": 110, "ldap": 389, "mysql": 3306, "postgresql": 5432}
)

func (d dtype) names() map[string]uint64 {
	switch d {
	case dtProto:
		return protoNames
	case dtCtState:
		return ctStateNames
	case dtCtStatus:
		return ctStatusNames
	case dtCtDir:
		return ctDirNames
	case dtNfproto:
		return nfprotoNames
	case dtEther:
		return etherNames
	case dtPktType:
		return pktTypeNames
	case dtFibType:
		return fibTypeNames
	case dtTCPFlags:
		return tcpFlagNames
	case dtPort:
		return serviceNames
	}
	return nil
}

// comp is one typed part of an element: a number interval, an address range, an
// interface name pattern, or an interface index.
type comp struct {
	lo, hi uint64
	r      report.AddrRange
	pat    string
	// index is true for an interface given by number (iif 3).
	index bool
}

// elem is one element of a set, one comp per part of the key.
type elem []comp

var errValue = errors.New("value not understood")

// untyped turns raw JSON into a plain Go value (string, json.Number, bool, nil,
// []any, map[string]any).
func untyped(raw json.RawMessage) (any, error) {
	v, ok := toAny(raw)
	if !ok {
		return nil, errValue
	}
	return v, nil
}

// single returns the one key and value of an object like {"prefix":{…}}.
func single(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, x := range m {
		return k, x, true
	}
	return "", nil, false
}

// elemsOf reads a right-hand value (a literal, a set, a prefix, a range, a concat)
// into typed elements for a key of the given part types.
func elemsOf(v any, dts []dtype) ([]elem, error) {
	if k, x, ok := single(v); ok && k == "set" {
		list, isList := x.([]any)
		if !isList {
			list = []any{x}
		}
		out := make([]elem, 0, len(list))
		for _, item := range list {
			e, err := elemOf(item, dts)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	e, err := elemOf(v, dts)
	if err != nil {
		return nil, err
	}
	return []elem{e}, nil
}

// elemOf reads one element: a concat for a multi-part key, else a single part.
func elemOf(v any, dts []dtype) (elem, error) {
	if k, x, ok := single(v); ok && k == "elem" { // {"elem":{"val":…,"timeout":…}}
		if m, ok := x.(map[string]any); ok {
			if val, ok := m["val"]; ok {
				v = val
			}
		}
	}
	if len(dts) == 1 {
		c, err := compOf(v, dts[0])
		if err != nil {
			return nil, err
		}
		return elem{c}, nil
	}
	k, x, ok := single(v)
	if !ok || k != "concat" {
		return nil, fmt.Errorf("%w: expected a concatenation of %d parts", errValue, len(dts))
	}
	parts, _ := x.([]any)
	if len(parts) != len(dts) {
		return nil, fmt.Errorf("%w: concatenation of %d parts, key has %d", errValue, len(parts), len(dts))
	}
	e := make(elem, len(dts))
	for i, p := range parts {
		c, err := compOf(p, dts[i])
		if err != nil {
			return nil, err
		}
		e[i] = c
	}
	return e, nil
}

// compOf reads one part of an element for a datatype.
func compOf(v any, d dtype) (comp, error) {
	switch d {
	case dtAddr4, dtAddr6:
		r, err := addrRangeOf(v)
		if err != nil {
			return comp{}, err
		}
		if (d == dtAddr4) != (r.From.BitLen() == 32) {
			return comp{}, fmt.Errorf("%w: %s is of the other address family", errValue, r)
		}
		return comp{r: r}, nil
	case dtIfname:
		s, ok := v.(string)
		if !ok {
			return comp{}, fmt.Errorf("%w: interface name %v", errValue, v)
		}
		return comp{pat: s}, nil
	case dtIfindex:
		switch x := v.(type) {
		case string:
			return comp{pat: x}, nil
		case json.Number:
			n, err := strconv.ParseUint(string(x), 10, 32)
			if err != nil {
				return comp{}, errValue
			}
			return comp{lo: n, hi: n, index: true}, nil
		}
		return comp{}, fmt.Errorf("%w: interface %v", errValue, v)
	case dtBool:
		b, ok := v.(bool)
		if !ok {
			return comp{}, fmt.Errorf("%w: %v is not true or false", errValue, v)
		}
		n := uint64(0)
		if b {
			n = 1
		}
		return comp{lo: n, hi: n}, nil
	case dtUnknown, dtVerdict:
		return comp{}, fmt.Errorf("%w: no datatype for %v", errValue, v)
	}
	if k, x, ok := single(v); ok && k == "range" {
		ends, _ := x.([]any)
		if len(ends) != 2 {
			return comp{}, fmt.Errorf("%w: range needs two ends", errValue)
		}
		lo, err := numOf(ends[0], d)
		if err != nil {
			return comp{}, err
		}
		hi, err := numOf(ends[1], d)
		if err != nil {
			return comp{}, err
		}
		if hi < lo {
			return comp{}, fmt.Errorf("%w: range %d-%d runs backwards", errValue, lo, hi)
		}
		return comp{lo: lo, hi: hi}, nil
	}
	n, err := numOf(v, d)
	if err != nil {
		return comp{}, err
	}
	return comp{lo: n, hi: n}, nil
}

// numOf reads a number of a numeric datatype: a JSON number, a name of the type, a
// 0x… string, or (for bitmasks) a list of flag names.
func numOf(v any, d dtype) (uint64, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseUint(string(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s", errValue, x)
		}
		if n > d.max() {
			return 0, fmt.Errorf("%w: %d is out of range", errValue, n)
		}
		return n, nil
	case string:
		if n, ok := d.names()[x]; ok {
			return n, nil
		}
		if n, err := strconv.ParseUint(x, 0, 64); err == nil && n <= d.max() {
			return n, nil
		}
		return 0, fmt.Errorf("%w: %q", errValue, x)
	case []any:
		if !d.bitmask() {
			return 0, fmt.Errorf("%w: a list for a non-flag type", errValue)
		}
		var n uint64
		for _, f := range x {
			b, err := numOf(f, d)
			if err != nil {
				return 0, err
			}
			n |= b
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: %v", errValue, v)
}

// addrRangeOf reads "10.0.0.1", {"prefix":{"addr","len"}} or {"range":[a,b]}.
func addrRangeOf(v any) (report.AddrRange, error) {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "/") {
			p, err := netip.ParsePrefix(x)
			if err != nil {
				return report.AddrRange{}, fmt.Errorf("%w: %q", errValue, x)
			}
			return report.RangeOf(p), nil
		}
		a, err := netip.ParseAddr(x)
		if err != nil {
			return report.AddrRange{}, fmt.Errorf("%w: %q", errValue, x)
		}
		return report.SingleAddr(a.WithZone("")), nil
	}
	k, x, ok := single(v)
	if !ok {
		return report.AddrRange{}, fmt.Errorf("%w: address %v", errValue, v)
	}
	switch k {
	case "prefix":
		m, _ := x.(map[string]any)
		s, _ := m["addr"].(string)
		l, _ := m["len"].(json.Number)
		a, err := netip.ParseAddr(s)
		if err != nil {
			return report.AddrRange{}, fmt.Errorf("%w: prefix address %q", errValue, s)
		}
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 0 || n > a.BitLen() {
			return report.AddrRange{}, fmt.Errorf("%w: prefix length %q", errValue, l)
		}
		return report.RangeOf(netip.PrefixFrom(a, n)), nil
	case "range":
		ends, _ := x.([]any)
		if len(ends) != 2 {
			return report.AddrRange{}, fmt.Errorf("%w: range needs two ends", errValue)
		}
		a, err := addrRangeOf(ends[0])
		if err != nil {
			return report.AddrRange{}, err
		}
		b, err := addrRangeOf(ends[1])
		if err != nil {
			return report.AddrRange{}, err
		}
		r := report.AddrRange{From: a.From, To: b.To}
		if !r.Valid() {
			return report.AddrRange{}, fmt.Errorf("%w: address range %v", errValue, v)
		}
		return r, nil
	}
	return report.AddrRange{}, fmt.Errorf("%w: address %v", errValue, v)
}
