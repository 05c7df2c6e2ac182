package btpanel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestParseFields(t *testing.T) {
	ports := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"8282", "8282", false},
		{"8000-8100", "8000-8100", false},
		{"39000:40000", "39000-40000", false},
		{"80, 443,8000-8010", "80 443 8000-8010", false},
		{"80,,443", "80 443", false},
		{"", "", true},
		{"0", "", true},
		{"70000", "", true},
		{"9000-8000", "", true},
		{"80a", "", true},
		{",", "", true},
	}
	for _, tt := range ports {
		got, err := ParsePorts(tt.in)
		var s []string
		for _, r := range got {
			s = append(s, r.String())
		}
		if (err != nil) != tt.wantErr || strings.Join(s, " ") != tt.want {
			t.Errorf("ParsePorts(%q) = %v, %v; want %q, error %v", tt.in, s, err, tt.want, tt.wantErr)
		}
	}

	addrs := []struct {
		in      string
		want    string // "" means every source
		wantErr bool
	}{
		{"", "", false},
		{"0.0.0.0/0", "", false},
		{"all", "", false},
		{"192.0.2.7", "192.0.2.7/32", false},
		{"192.0.2.0/24", "192.0.2.0/24", false},
		{"192.0.2.9/24", "192.0.2.0/24", false},
		{"192.0.2.1-192.0.2.6", "192.0.2.1/32, 192.0.2.2/31, 192.0.2.4/31, 192.0.2.6/32", false},
		{"2001:db8::/32", "2001:db8::/32", false},
		{"::ffff:192.0.2.7", "192.0.2.7/32", false},
		{"192.0.2.1, 198.51.100.0/24", "192.0.2.1/32 198.51.100.0/24", false},
		{"192.0.2.9-192.0.2.1", "", true},
		{"192.0.2.1-2001:db8::1", "", true},
		{"example.com", "", true},
		{"192.0.2.0/33", "", true},
	}
	for _, tt := range addrs {
		got, err := ParseAddresses(tt.in)
		var s []string
		for _, r := range got {
			s = append(s, r.String())
		}
		if (err != nil) != tt.wantErr || strings.Join(s, " ") != tt.want {
			t.Errorf("ParseAddresses(%q) = %v, %v; want %q, error %v", tt.in, s, err, tt.want, tt.wantErr)
		}
	}

	for in, want := range map[string]string{"tcp": "tcp", "UDP": "udp", "tcp/udp": "tcp udp", "tcp,udp": "tcp udp", "": "tcp udp", "all": "tcp udp", "icmp": "error"} {
		got, err := ParseProtocol(in)
		if s := strings.Join(got, " "); (err != nil) != (want == "error") || (err == nil && s != want) {
			t.Errorf("ParseProtocol(%q) = %q, %v; want %s", in, s, err, want)
		}
	}
	for in, want := range map[string]Action{"accept": Accept, "DROP": Drop, " reject ": Reject, "allow": None, "": None} {
		if got, err := ParseAction(in); got != want || (err != nil) != (want == None) {
			t.Errorf("ParseAction(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// cfg builds a panel configuration from rows of firewall_new ("P proto ports types address"),
// firewall_ip ("I types address") and the legacy table ("L port"), as the reader does.
func cfg(t *testing.T, rows ...string) *Config {
	t.Helper()
	c := &Config{}
	for i, r := range rows {
		f := strings.Split(r, " ")
		id := fmt.Sprint(i + 1)
		switch f[0] {
		case "P":
			addr := ""
			if len(f) > 4 {
				addr = f[4]
			}
			c.add("firewall_new", row{"id": id, "protocol": f[1], "ports": f[2], "types": f[3], "address": addr})
		case "I":
			c.add("firewall_ip", row{"id": id, "types": f[1], "address": f[2]})
		case "L":
			c.add("firewall", row{"id": id, "port": f[1]})
		}
	}
	if len(c.Unread) > 0 {
		t.Fatalf("rows not read: %v", c.Unread)
	}
	return c
}

func TestIntent(t *testing.T) {
	tests := []struct {
		name  string
		rows  []string
		proto string
		port  uint16
		src   string
		want  []string // "range action rule" per part
	}{
		{"no rule", []string{"P tcp 80 accept"}, "tcp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 - -"}},
		{"open to all", []string{"P tcp 8282 accept"}, "tcp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 accept firewall_new#1"}},
		{"other protocol", []string{"P udp 8282 accept"}, "tcp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 - -"}},
		{"both protocols", []string{"P tcp/udp 8282 accept"}, "udp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 accept firewall_new#1"}},
		{"range and list", []string{"P tcp 80,8000-8300 accept"}, "tcp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 accept firewall_new#1"}},
		{"one source", []string{"P tcp 3306 accept 198.51.100.0/24"}, "tcp", 3306, "198.51.100.0/23", []string{"198.51.100.0/24 accept firewall_new#1", "198.51.101.0/24 - -"}},
		{"a range of sources", []string{"P tcp 3306 accept 198.51.100.1-198.51.100.2"}, "tcp", 3306, "198.51.100.0/30",
			[]string{"198.51.100.0/32 - -", "198.51.100.1/32, 198.51.100.2/32 accept firewall_new#1", "198.51.100.3/32 - -"}},
		{"drop beats accept", []string{"P tcp 22 accept", "P tcp 22 drop 203.0.113.0/24"}, "tcp", 22, "203.0.113.0/24", []string{"203.0.113.0/24 drop firewall_new#2"}},
		{"IP rule decides before port rules", []string{"P tcp 22 drop", "I accept 203.0.113.7"}, "tcp", 22, "203.0.113.0/24",
			[]string{"203.0.113.0/30, 203.0.113.4/31, 203.0.113.6/32 drop firewall_new#1", "203.0.113.7/32 accept firewall_ip#2", "203.0.113.8/29, 203.0.113.16/28, 203.0.113.32/27, 203.0.113.64/26, 203.0.113.128/25 drop firewall_new#1"}},
		{"IP drop on every port", []string{"P tcp 8282 accept", "I drop 203.0.113.0/24"}, "tcp", 8282, "203.0.113.0/25", []string{"203.0.113.0/25 drop firewall_ip#2"}},
		{"IPv4 rules do not touch IPv6", []string{"P tcp 8282 accept", "I drop 203.0.113.0/24"}, "tcp", 8282, "::/0", []string{"::/0 accept firewall_new#1"}},
		{"legacy port", []string{"L 8282"}, "udp", 8282, "0.0.0.0/0", []string{"0.0.0.0/0 accept firewall#1"}},
		{"legacy tcp-only port", []string{"L 22"}, "udp", 22, "0.0.0.0/0", []string{"0.0.0.0/0 - -"}},
		{"legacy blocked address", []string{"L 8282", "L 192.0.2.0/24"}, "tcp", 8282, "192.0.2.128/25", []string{"192.0.2.128/25 drop firewall#2"}},
		{"reject", []string{"P tcp 8282 reject"}, "tcp", 8282, "10.0.0.0/8", []string{"10.0.0.0/8 reject firewall_new#1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg(t, tt.rows...)
			parts := c.Intent(tt.proto, tt.port, netip.MustParsePrefix(tt.src))
			var got []string
			for _, p := range parts {
				ref := "-"
				if p.Rule != nil {
					ref = p.Rule.Ref()
				}
				act := string(p.Action)
				if act == "" {
					act = "-"
				}
				got = append(got, p.Range.String()+" "+act+" "+ref)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			// the parts tile the source set exactly, in order
			full := report.RangeOf(netip.MustParsePrefix(tt.src))
			if parts[0].Range.From != full.From || parts[len(parts)-1].Range.To != full.To {
				t.Errorf("parts do not cover %s", full)
			}
			for i := 1; i < len(parts); i++ {
				if parts[i-1].Range.To.Next() != parts[i].Range.From {
					t.Errorf("gap or overlap between %s and %s", parts[i-1].Range, parts[i].Range)
				}
			}
		})
	}
}

func TestUnreadRowsAndOutputChain(t *testing.T) {
	c := &Config{}
	c.add("firewall_new", row{"id": "1", "protocol": "tcp", "ports": "25", "types": "drop", "chain": "OUTPUT"})
	c.add("firewall_new", row{"id": "2", "protocol": "sctp", "ports": "25", "types": "accept"})
	c.add("firewall_new", row{"id": "3", "protocol": "tcp", "ports": "25", "types": "allow"})
	c.add("firewall_ip", row{"id": "4", "types": "drop", "address": ""})
	c.add("firewall", row{"id": "5", "port": "not-a-port"})
	if len(c.Rules) != 0 {
		t.Errorf("rules %v; want none (an OUTPUT rule and four bad rows)", c.Rules)
	}
	want := []string{"firewall_new#2: unknown protocol", "firewall_new#3: unknown strategy", "firewall_ip#4: an IP rule without an address", "firewall#5: port \"not-a-port\""}
	if len(c.Unread) != len(want) {
		t.Fatalf("unread %q", c.Unread)
	}
	for i, w := range want {
		if !strings.HasPrefix(c.Unread[i], w) {
			t.Errorf("unread[%d] = %q; want %q…", i, c.Unread[i], w)
		}
	}
}
