package report

import (
	"net/netip"
	"strings"
	"testing"
)

func ranges(ps ...string) []AddrRange {
	var out []AddrRange
	for _, p := range ps {
		out = append(out, RangeOf(netip.MustParsePrefix(p)))
	}
	return out
}

func TestFirstMatch(t *testing.T) {
	type part struct {
		rng  string
		rule int
	}
	for _, c := range []struct {
		name  string
		set   string
		rules [][]AddrRange
		want  []part
	}{
		{"no rules", "0.0.0.0/0", nil, []part{{"0.0.0.0-255.255.255.255", -1}}},
		{"one rule covers all", "10.0.0.0/8", [][]AddrRange{ranges("0.0.0.0/0")}, []part{{"10.0.0.0/8", 0}}},
		{"deny before allow", "0.0.0.0/0", [][]AddrRange{ranges("203.0.113.0/24"), ranges("0.0.0.0/0")},
			[]part{{"0.0.0.0-203.0.112.255", 1}, {"203.0.113.0/24", 0}, {"203.0.114.0-255.255.255.255", 1}}},
		{"later rule shadowed", "198.51.100.0/24", [][]AddrRange{ranges("198.51.0.0/16"), ranges("198.51.100.0/25")},
			[]part{{"198.51.100.0/24", 0}}},
		{"rule outside the set", "10.0.0.0/24", [][]AddrRange{ranges("192.168.0.0/16")}, []part{{"10.0.0.0/24", -1}}},
		{"several ranges in one rule, gaps unmatched", "10.0.0.0/24", [][]AddrRange{ranges("10.0.0.0/26", "10.0.0.128/26")},
			[]part{{"10.0.0.0/26", 0}, {"10.0.0.64/26", -1}, {"10.0.0.128/26", 0}, {"10.0.0.192/26", -1}}},
		{"other family ignored", "::/0", [][]AddrRange{ranges("0.0.0.0/0"), ranges("2001:db8::/32")},
			[]part{{":: -2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", -1}, {"2001:db8::/32", 1}, {"2001:db9:: -ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", -1}}},
		{"single address", "0.0.0.0/0", [][]AddrRange{{SingleAddr(netip.MustParseAddr("0.0.0.0"))}, ranges("255.255.255.255/32")},
			[]part{{"0.0.0.0/32", 0}, {"0.0.0.1-255.255.255.254", -1}, {"255.255.255.255/32", 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := FirstMatch(RangeOf(netip.MustParsePrefix(c.set)), c.rules)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i, w := range c.want {
				if got[i].Range != parseRange(t, w.rng) || got[i].Rule != w.rule {
					t.Errorf("part %d: %s rule %d; want %s rule %d", i, got[i].Range, got[i].Rule, w.rng, w.rule)
				}
			}
		})
	}
}

// parseRange reads "FROM-TO" or a prefix.
func parseRange(t *testing.T, s string) AddrRange {
	t.Helper()
	if from, to, ok := strings.Cut(s, "-"); ok {
		return AddrRange{netip.MustParseAddr(strings.TrimSpace(from)), netip.MustParseAddr(strings.TrimSpace(to))}
	}
	return RangeOf(netip.MustParsePrefix(s))
}

func TestSourceFor(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8::10")
	for _, c := range []struct {
		set  string
		dst  netip.Addr
		want string
	}{
		{"0.0.0.0/0", v6, "::/0"}, {"0.0.0.0/0", v4, "0.0.0.0/0"}, {"::/0", v4, "0.0.0.0/0"},
		{"198.51.100.0/24", v4, "198.51.100.0/24"}, {"198.51.100.0/24", v6, ""}, {"2001:db8::/32", v4, ""},
	} {
		got, ok := SourceFor(netip.MustParsePrefix(c.set), c.dst)
		if (ok && got.String() != c.want) || (!ok && c.want != "") {
			t.Errorf("SourceFor(%s, %s) = %v %v; want %q", c.set, c.dst, got, ok, c.want)
		}
	}
}
