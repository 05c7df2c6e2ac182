package report

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of ports; the zero value matches no port.
type PortRange struct{ Lo, Hi uint16 }

// AllPorts matches every port.
var AllPorts = PortRange{0, 65535}

// Contains reports whether p lies in the range.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// ParsePortRange reads "80", "8000:8010" or "8000-8010" (sep is the separator to accept).
func ParsePortRange(s string, sep string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, sep)
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %q runs backwards", s)
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// AddrRange is an inclusive range of addresses of one family.
type AddrRange struct{ From, To netip.Addr }

// RangeOf returns the addresses of a prefix as a range.
func RangeOf(p netip.Prefix) AddrRange {
	p = p.Masked()
	return AddrRange{p.Addr(), lastAddr(p)}
}

// SingleAddr is the range holding only a.
func SingleAddr(a netip.Addr) AddrRange { return AddrRange{a, a} }

// Contains reports whether a lies in the range.
func (r AddrRange) Contains(a netip.Addr) bool {
	return a.BitLen() == r.From.BitLen() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// Valid reports whether the range is well formed (one family, From ≤ To).
func (r AddrRange) Valid() bool {
	return r.From.IsValid() && r.To.IsValid() && r.From.BitLen() == r.To.BitLen() && r.From.Compare(r.To) <= 0
}

// Prefixes returns the shortest list of CIDR prefixes covering exactly the range.
func (r AddrRange) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	from := r.From
	for r.Valid() && from.Compare(r.To) <= 0 {
		bits := from.BitLen()
		// grow the prefix while it stays aligned on from and inside the range
		l := bits
		for l > 0 {
			p := netip.PrefixFrom(from, l-1)
			if p.Masked().Addr() != from || lastAddr(p).Compare(r.To) > 0 {
				break
			}
			l--
		}
		p := netip.PrefixFrom(from, l)
		out = append(out, p)
		last := lastAddr(p)
		if last == maxAddr(bits) {
			break
		}
		from = last.Next()
	}
	return out
}

func (r AddrRange) String() string {
	ps := r.Prefixes()
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Size is the number of addresses in the range as a float (IPv6 ranges exceed any integer).
func (r AddrRange) Size() float64 {
	a, b := r.From.AsSlice(), r.To.AsSlice()
	var d float64
	for i := range a {
		d = d*256 + float64(int(b[i])-int(a[i]))
	}
	return d + 1
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func maxAddr(bits int) netip.Addr {
	if bits == 32 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// ParsePrefixOrAddr reads "10.0.0.0/8", "10.1.2.3" or "fd00::1" (an address is its /32 or /128).
func ParsePrefixOrAddr(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q: IPv4-mapped IPv6", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Subtract returns the parts of r not covered by any of cut, in order.
func (r AddrRange) Subtract(cut []AddrRange) []AddrRange {
	cut = slices.Clone(cut)
	slices.SortFunc(cut, func(a, b AddrRange) int { return a.From.Compare(b.From) })
	out := []AddrRange{}
	cur := r
	for _, c := range cut {
		if !cur.Valid() {
			break
		}
		if c.From.BitLen() != cur.From.BitLen() || c.To.Compare(cur.From) < 0 || c.From.Compare(cur.To) > 0 {
			continue
		}
		if c.From.Compare(cur.From) > 0 {
			out = append(out, AddrRange{cur.From, c.From.Prev()})
		}
		if c.To.Compare(cur.To) >= 0 {
			return out
		}
		cur = AddrRange{c.To.Next(), cur.To}
	}
	if cur.Valid() {
		out = append(out, cur)
	}
	return out
}

// Intersect returns the addresses in both ranges; ok is false when they share none
// (or are of different families).
func (r AddrRange) Intersect(o AddrRange) (AddrRange, bool) {
	if !r.Valid() || !o.Valid() || r.From.BitLen() != o.From.BitLen() {
		return AddrRange{}, false
	}
	from, to := r.From, r.To
	if o.From.Compare(from) > 0 {
		from = o.From
	}
	if o.To.Compare(to) < 0 {
		to = o.To
	}
	if from.Compare(to) > 0 {
		return AddrRange{}, false
	}
	return AddrRange{from, to}, true
}

// MergeRanges sorts ranges and joins those that overlap or touch; families stay apart (IPv4 first).
func MergeRanges(rs []AddrRange) []AddrRange {
	rs = slices.DeleteFunc(slices.Clone(rs), func(r AddrRange) bool { return !r.Valid() })
	slices.SortFunc(rs, func(a, b AddrRange) int {
		if a.From.BitLen() != b.From.BitLen() {
			return a.From.BitLen() - b.From.BitLen()
		}
		return a.From.Compare(b.From)
	})
	var out []AddrRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.From.BitLen() == r.From.BitLen() && (r.From.Compare(last.To) <= 0 || last.To.Next() == r.From) {
				if r.To.Compare(last.To) > 0 {
					last.To = r.To
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// Intersect returns the ports in both ranges; ok is false when they share none.
func (r PortRange) Intersect(o PortRange) (PortRange, bool) {
	lo, hi := max(r.Lo, o.Lo), min(r.Hi, o.Hi)
	if lo > hi {
		return PortRange{}, false
	}
	return PortRange{lo, hi}, true
}
