package report

import (
	"net/netip"
	"slices"
)

// SourcePart is a part of a source set with the first rule of an ordered list that matches it.
type SourcePart struct {
	Range AddrRange
	// Rule is the index of the first rule whose sources contain Range; -1 when none does.
	Rule int
}

// FirstMatch cuts the source set where the rules' sources begin and end, and finds for each
// part the first rule (in slice order) whose sources contain it. Rules that are not about
// the protocol and port asked must be left out by the caller, and the slice put in
// evaluation order (priority, rule number, list position). Parts come sorted and disjoint;
// adjacent parts decided by the same rule are joined.
//
// It serves every ordered rule list a cloud has: a network ACL (first match), a security
// group evaluated by priority (Alibaba Cloud) or by position (Tencent Cloud), and a union of
// allow rules (AWS security groups, lightweight-server firewalls), where any matching rule allows.
func FirstMatch(set AddrRange, rules [][]AddrRange) []SourcePart {
	if !set.Valid() {
		return nil
	}
	// the addresses where a new part starts
	cuts := []netip.Addr{set.From}
	for _, srcs := range rules {
		for _, r := range srcs {
			in, ok := set.Intersect(r)
			if !ok {
				continue
			}
			cuts = append(cuts, in.From)
			if in.To != set.To {
				cuts = append(cuts, in.To.Next())
			}
		}
	}
	slices.SortFunc(cuts, func(a, b netip.Addr) int { return a.Compare(b) })
	cuts = slices.Compact(cuts)
	var out []SourcePart
	for i, from := range cuts {
		to := set.To
		if i+1 < len(cuts) {
			to = cuts[i+1].Prev()
		}
		first := -1
		for j, srcs := range rules {
			if slices.ContainsFunc(srcs, func(r AddrRange) bool { return r.Contains(from) }) {
				first = j
				break
			}
		}
		if n := len(out); n > 0 && out[n-1].Rule == first {
			out[n-1].Range.To = to
			continue
		}
		out = append(out, SourcePart{Range: AddrRange{From: from, To: to}, Rule: first})
	}
	return out
}

// SourceFor is the part of a user's source set that can reach dst: the IPv4 internet
// (0.0.0.0/0) stands for the whole internet, so it becomes ::/0 for an IPv6 destination.
// ok is false when the set and the destination are of different families.
func SourceFor(set netip.Prefix, dst netip.Addr) (netip.Prefix, bool) {
	if set.Addr().BitLen() == dst.BitLen() {
		return set, true
	}
	if set.Bits() == 0 {
		if dst.Is6() {
			return netip.MustParsePrefix("::/0"), true
		}
		return netip.MustParsePrefix("0.0.0.0/0"), true
	}
	return netip.Prefix{}, false
}
