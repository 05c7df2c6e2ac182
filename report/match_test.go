package report

import (
	"net/netip"
	"slices"
	"testing"
)

func TestAddrRangePrefixes(t *testing.T) {
	tests := []struct {
		from, to string
		want     []string
	}{
		{"10.0.0.0", "10.255.255.255", []string{"10.0.0.0/8"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"10.0.0.1", "10.0.0.6", []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"fd00::", "fd00::1", []string{"fd00::/127"}},
		{"255.255.255.255", "255.255.255.255", []string{"255.255.255.255/32"}},
	}
	for _, tt := range tests {
		r := AddrRange{netip.MustParseAddr(tt.from), netip.MustParseAddr(tt.to)}
		var got []string
		for _, p := range r.Prefixes() {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s-%s: got %v; want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestSubtract(t *testing.T) {
	all := RangeOf(netip.MustParsePrefix("0.0.0.0/0"))
	got := all.Subtract([]AddrRange{RangeOf(netip.MustParsePrefix("127.0.0.0/8")), RangeOf(netip.MustParsePrefix("0.0.0.0/8"))})
	if len(got) != 2 || got[0].String() != "1.0.0.0/8, 2.0.0.0/7, 4.0.0.0/6, 8.0.0.0/5, 16.0.0.0/4, 32.0.0.0/3, 64.0.0.0/3, 96.0.0.0/4, 112.0.0.0/5, 120.0.0.0/6, 124.0.0.0/7, 126.0.0.0/8" {
		t.Fatalf("got %v", got)
	}
	if got[1].From.String() != "128.0.0.0" || got[1].To.String() != "255.255.255.255" {
		t.Errorf("tail = %v", got[1])
	}
	if n := len(all.Subtract([]AddrRange{all})); n != 0 {
		t.Errorf("subtracting everything left %d ranges", n)
	}
}

func TestParsePortRangeAndPrefix(t *testing.T) {
	if r, err := ParsePortRange("8000:8010", ":"); err != nil || r != (PortRange{8000, 8010}) {
		t.Errorf("got %v %v", r, err)
	}
	for _, bad := range []string{"90:80", "x", "70000", ""} {
		if _, err := ParsePortRange(bad, ":"); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
	if p, err := ParsePrefixOrAddr("10.1.2.3"); err != nil || p.String() != "10.1.2.3/32" {
		t.Errorf("got %v %v", p, err)
	}
	if p, err := ParsePrefixOrAddr("10.1.2.3/8"); err != nil || p.String() != "10.0.0.0/8" {
		t.Errorf("got %v %v", p, err)
	}
	for _, bad := range []string{"10.1.2.3/33", "host", "::ffff:1.2.3.4/120"} {
		if _, err := ParsePrefixOrAddr(bad); err == nil {
			t.Errorf("ParsePrefixOrAddr(%q) accepted", bad)
		}
	}
}

func TestAddrRangeIntersectAndMerge(t *testing.T) {
	r := func(s string) AddrRange { return RangeOf(netip.MustParsePrefix(s)) }
	tests := []struct {
		a, b string
		want string // "" = no overlap
	}{
		{"10.0.0.0/8", "10.1.0.0/16", "10.1.0.0/16"},
		{"10.0.0.0/24", "10.0.1.0/24", ""},
		{"0.0.0.0/0", "::/0", ""},
		{"::/0", "2001:db8::/32", "2001:db8::/32"},
	}
	for _, tt := range tests {
		got, ok := r(tt.a).Intersect(r(tt.b))
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("%s ∩ %s = %v %v; want %q", tt.a, tt.b, got, ok, tt.want)
		}
	}
	m := MergeRanges([]AddrRange{r("10.0.1.0/24"), r("::/0"), r("10.0.0.0/24"), r("10.0.0.128/25"), r("192.0.2.0/24")})
	var got []string
	for _, x := range m {
		got = append(got, x.String())
	}
	if want := []string{"10.0.0.0/23", "192.0.2.0/24", "::/0"}; !slices.Equal(got, want) {
		t.Errorf("MergeRanges = %v; want %v", got, want)
	}
	if p, ok := (PortRange{1024, 65535}).Intersect(PortRange{0, 2000}); !ok || p != (PortRange{1024, 2000}) {
		t.Errorf("port intersect = %v %v", p, ok)
	}
	if _, ok := (PortRange{80, 80}).Intersect(PortRange{81, 90}); ok {
		t.Error("80 ∩ 81-90 overlaps")
	}
}
