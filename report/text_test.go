package report

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPrefixStrings(t *testing.T) {
	r := func(from, to string) AddrRange {
		return AddrRange{From: netip.MustParseAddr(from), To: netip.MustParseAddr(to)}
	}
	tests := []struct {
		name string
		in   []AddrRange
		want []string
	}{
		{"none", nil, nil},
		{"one address", []AddrRange{SingleAddr(netip.MustParseAddr("192.0.2.7"))}, []string{"192.0.2.7/32"}},
		{"one prefix", []AddrRange{RangeOf(netip.MustParsePrefix("10.0.0.0/8"))}, []string{"10.0.0.0/8"}},
		{"unaligned range", []AddrRange{r("10.0.0.1", "10.0.0.6")}, []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"ranges in order", []AddrRange{r("198.51.100.0", "198.51.100.255"), r("2001:db8::", "2001:db8::1")}, []string{"198.51.100.0/24", "2001:db8::/127"}},
		{"whole internet", []AddrRange{RangeOf(netip.MustParsePrefix("0.0.0.0/0"))}, []string{"0.0.0.0/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PrefixStrings(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("PrefixStrings(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		max   int
		want  string
	}{
		{"none", nil, 3, ""},
		{"one", []string{"a"}, 3, "a"},
		{"exactly max", []string{"a", "b", "c"}, 3, "a, b, c"},
		{"one over", []string{"a", "b", "c", "d"}, 3, "a, b, c and 1 more"},
		{"many over", []string{"a", "b", "c", "d", "e", "f"}, 2, "a, b and 4 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.items, tt.max); got != tt.want {
				t.Errorf("Summarize(%q, %d) = %q, want %q", tt.items, tt.max, got, tt.want)
			}
		})
	}
}
