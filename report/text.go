package report

import (
	"fmt"
	"strings"
)

// PrefixStrings writes address ranges as the CIDR prefixes that cover them exactly, in order;
// nil for no ranges.
func PrefixStrings(rs []AddrRange) []string {
	var out []string
	for _, r := range rs {
		for _, p := range r.Prefixes() {
			out = append(out, p.String())
		}
	}
	return out
}

// Summarize joins items with ", ", quoting at most max of them and counting the rest
// ("a, b and 3 more").
func Summarize(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}
