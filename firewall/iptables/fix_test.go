package iptables

import (
	"slices"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

func TestFix(t *testing.T) {
	rule := &report.Rule{ID: "filter/INPUT#7", Table: "filter", Chain: "INPUT", Position: 7}
	policy := &report.Rule{ID: "filter/INPUT policy", Table: "filter", Chain: "INPUT"}
	tests := []struct {
		name   string
		r      *report.Rule
		fam    netfilter.Family
		legacy bool
		proto  string
		src    string
		want   []string
	}{
		{"rule", rule, netfilter.IPv4, false, "tcp", "203.0.113.0/24", []string{
			"iptables -I INPUT 7 -p tcp --dport 8282 -s 203.0.113.0/24 -j ACCEPT",
			"# then make it permanent: netfilter-persistent save (or iptables-save > /etc/iptables/rules.v4)"}},
		{"policy, any source", policy, netfilter.IPv4, false, "tcp", "0.0.0.0/0", []string{
			"iptables -A INPUT -p tcp --dport 8282 -j ACCEPT",
			"# then make it permanent: netfilter-persistent save (or iptables-save > /etc/iptables/rules.v4)"}},
		{"ipv6 legacy udp", rule, netfilter.IPv6, true, "udp", "::/0", []string{
			"ip6tables-legacy -I INPUT 7 -p udp --dport 8282 -j ACCEPT",
			"# then make it permanent: netfilter-persistent save (or ip6tables-legacy-save > /etc/iptables/rules.v6)"}},
		{"other table", &report.Rule{Table: "raw", Chain: "PREROUTING", Position: 2}, netfilter.IPv4, false, "tcp", "", []string{
			"iptables -t raw -I PREROUTING 2 -p tcp --dport 8282 -j ACCEPT",
			"# then make it permanent: netfilter-persistent save (or iptables-save > /etc/iptables/rules.v4)"}},
		{"ufw chain", &report.Rule{Table: "filter", Chain: "ufw-user-input", Position: 6}, netfilter.IPv4, false, "tcp", "198.51.100.7/32", []string{
			"# a ufw rule decides: find its number with `ufw status numbered`, then: ufw insert NUM allow proto tcp from 198.51.100.7/32 to any port 8282 (portpath names the rule when it reads /etc/ufw: --local on the server, or --ufw-dir)",
			"# or, until ufw reloads: iptables -I ufw-user-input 6 -p tcp --dport 8282 -s 198.51.100.7/32 -j ACCEPT"}},
		{"ufw default policy", &report.Rule{Table: "filter", Chain: "ufw-user-input", Position: 0}, netfilter.IPv4, false, "tcp", "0.0.0.0/0", []string{
			"ufw allow proto tcp from any to any port 8282",
			"# or, until ufw reloads: iptables -A ufw-user-input -p tcp --dport 8282 -j ACCEPT"}},
		{"no rule", nil, netfilter.IPv4, false, "tcp", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fix(tt.r, tt.fam, tt.legacy, tt.proto, 8282, tt.src)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Fix = %q;\nwant %q", got, tt.want)
			}
		})
	}
}
