package nftables

import (
	"slices"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

func TestFix(t *testing.T) {
	const persist = "nft list ruleset > /etc/nftables.conf  # keep it across reboots (RHEL: /etc/sysconfig/nftables.conf)"
	ruleAt := func(id string, pos int) *report.Rule {
		fam, table, chain, _, _ := ParseRuleID(id)
		return &report.Rule{ID: id, Text: "…", Origin: "nftables", Table: fam + " " + table, Chain: chain, Position: pos}
	}
	tests := []struct {
		name   string
		rule   *report.Rule
		family string
		proto  string
		port   uint16
		src    string
		want   []string
	}{
		{"rule, any source", ruleAt("inet filt input handle 12", 3), "ip", "tcp", 8282, "0.0.0.0/0",
			[]string{"nft insert rule inet filt input position 12 tcp dport 8282 accept", persist}},
		{"rule, a source network", ruleAt("inet filt input handle 12", 3), "ip", "tcp", 8282, "203.0.113.0/24",
			[]string{"nft insert rule inet filt input position 12 tcp dport 8282 ip saddr 203.0.113.0/24 accept", persist}},
		{"rule, one source address", ruleAt("ip filt input handle 4", 1), "ip", "udp", 53, "203.0.113.7/32",
			[]string{"nft insert rule ip filt input position 4 udp dport 53 ip saddr 203.0.113.7 accept", persist}},
		{"IPv6 source", ruleAt("inet filt input handle 12", 3), "ip6", "tcp", 443, "2001:db8::/32",
			[]string{"nft insert rule inet filt input position 12 tcp dport 443 ip6 saddr 2001:db8::/32 accept", persist}},
		{"IPv6 any source", ruleAt("inet filt input handle 12", 3), "ip6", "tcp", 443, "::/0",
			[]string{"nft insert rule inet filt input position 12 tcp dport 443 accept", persist}},
		{"policy", ruleAt("inet filt input policy", 0), "ip", "tcp", 8282, "0.0.0.0/0",
			[]string{"nft add rule inet filt input tcp dport 8282 accept", persist}},
		{"firewalld zone target", ruleAt("inet firewalld filter_IN_public handle 151", 11), "ip", "tcp", 80, "0.0.0.0/0",
			[]string{"firewall-cmd --zone=public --add-port=80/tcp", "firewall-cmd --runtime-to-permanent"}},
		{"firewalld zone, one source", ruleAt("inet firewalld filter_IN_lab handle 72", 8), "ip", "tcp", 8002, "10.99.0.5",
			[]string{`firewall-cmd --zone=lab --add-rich-rule='rule family="ipv4" source address="10.99.0.5" port port="8002" protocol="tcp" accept'`, "firewall-cmd --runtime-to-permanent"}},
		{"firewalld deny rich rule", ruleAt("inet firewalld filter_IN_lab_deny handle 77", 2), "ip", "tcp", 8006, "0.0.0.0/0",
			[]string{`firewall-cmd --zone=lab --add-rich-rule='rule priority="-32768" family="ipv4" port port="8006" protocol="tcp" accept'`, "firewall-cmd --runtime-to-permanent"}},
		{"firewalld outside a zone chain", ruleAt("inet firewalld filter_INPUT handle 34", 6), "ip", "tcp", 80, "0.0.0.0/0",
			[]string{"nft insert rule inet firewalld filter_INPUT position 34 tcp dport 80 accept", "# firewalld rewrites its table on reload: make the same change with firewall-cmd to keep it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fix(tt.rule, tt.family, tt.proto, tt.port, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("Fix =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	odd := &report.Rule{ID: "something else", Table: "inet filt", Chain: "input", Position: 4}
	if got := Fix(odd, "ip", "tcp", 1, ""); len(got) != 2 || got[0] != "nft insert rule inet filt input tcp dport 1 accept" {
		t.Errorf("Fix without a handle = %q", got)
	}
	if got := Fix(nil, "ip", "tcp", 1, ""); got != nil {
		t.Errorf("Fix(nil) = %q", got)
	}
}

// TestFixFromTrace fixes the rule a simulation blames, the way the firewall step does.
func TestFixFromTrace(t *testing.T) {
	chains := chainsOf(t, "sample-native-nft.json", false)
	tr := netfilter.Simulate(chains, evalCase{src: "198.51.100.7", port: 22}.packet(), testEnv())
	got := Fix(tr.Decider.Result.Rule, "ip", "tcp", 22, "198.51.100.0/24")
	if want := "nft insert rule inet filt input position 15 tcp dport 22 ip saddr 198.51.100.0/24 accept"; len(got) == 0 || got[0] != want {
		t.Errorf("Fix = %q; want %q first", got, want)
	}
	tr = netfilter.Simulate(chainsOf(t, "saddr-split.json", false), evalCase{src: "198.51.100.7", port: 22}.packet(), testEnv())
	got = Fix(tr.Decider.Result.Rule, "ip", "tcp", 22, "0.0.0.0/0")
	if want := "nft add rule inet f input tcp dport 22 accept"; len(got) == 0 || got[0] != want {
		t.Errorf("Fix = %q; want %q first", got, want)
	}
}
