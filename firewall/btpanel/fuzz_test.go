package btpanel

import (
	"net/netip"
	"testing"

	"github.com/portpath/portpath/report"
)

// FuzzParsePorts: any ports column gives ranges that are well formed, or an error.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"8282", "8000-8100", "39000:40000", "80,443,8000-8010", "", "0", "65535", "1-65535", "9000-8000", ",,", "80:", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParsePorts(s)
		if err != nil {
			return
		}
		if len(rs) == 0 {
			t.Fatalf("%q: no ranges and no error", s)
		}
		for _, r := range rs {
			if r.Lo == 0 || r.Lo > r.Hi {
				t.Fatalf("%q: bad range %v", s, r)
			}
		}
	})
}

// FuzzParseAddresses: any address column gives valid ranges of one family each, or an
// error; and the panel's intent over them tiles the source set.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{"", "192.0.2.7", "192.0.2.0/24", "192.0.2.1-192.0.2.9", "2001:db8::/32", "::ffff:192.0.2.7", "192.0.2.1, 198.51.100.0/24", "1.2.3.4-::1", "fe80::1%eth0", "a-b", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseAddresses(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if !r.Valid() {
				t.Fatalf("%q: invalid range %v", s, r)
			}
		}
		c := &Config{Rules: []Rule{
			{Table: "firewall_ip", ID: 1, Kind: IPRule, Sources: rs, Action: Drop},
			{Table: "firewall_new", ID: 2, Kind: PortRule, Protocols: []string{"tcp"}, Ports: []report.PortRange{{Lo: 80, Hi: 80}}, Sources: rs, Action: Accept},
		}}
		for _, src := range []string{"0.0.0.0/0", "::/0", "192.0.2.0/24"} {
			full := report.RangeOf(netip.MustParsePrefix(src))
			parts := c.Intent("tcp", 80, netip.MustParsePrefix(src))
			if len(parts) == 0 || parts[0].Range.From != full.From || parts[len(parts)-1].Range.To != full.To {
				t.Fatalf("%q: parts %v do not cover %s", s, parts, src)
			}
			for i := 1; i < len(parts); i++ {
				if parts[i-1].Range.To.Next() != parts[i].Range.From {
					t.Fatalf("%q: gap or overlap at %v", s, parts[i].Range)
				}
			}
		}
	})
}
