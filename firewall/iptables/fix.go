package iptables

import (
	"strconv"
	"strings"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// Fix returns the commands that would let the packet (proto, port, from src) through where
// rule r decided: an ACCEPT inserted just before the deciding rule, or appended to the chain
// when its policy decided; then a reminder to make it permanent. Chains that ufw manages get
// the ufw command first. src "0.0.0.0/0" or "::/0" (or empty) means any source.
func Fix(r *report.Rule, fam netfilter.Family, legacy bool, proto string, port uint16, src string) []string {
	if r == nil || r.Chain == "" {
		return nil
	}
	tool, file := "iptables", "/etc/iptables/rules.v4"
	if fam == netfilter.IPv6 {
		tool, file = "ip6tables", "/etc/iptables/rules.v6"
	}
	if legacy {
		tool += "-legacy"
	}
	save := tool + "-save"
	anySrc := src == "" || src == "0.0.0.0/0" || src == "::/0"

	var b strings.Builder
	b.WriteString(tool)
	if r.Table != "" && r.Table != "filter" {
		b.WriteString(" -t " + r.Table)
	}
	if r.Position > 0 {
		b.WriteString(" -I " + r.Chain + " " + strconv.Itoa(r.Position))
	} else {
		b.WriteString(" -A " + r.Chain)
	}
	b.WriteString(" -p " + proto + " --dport " + strconv.Itoa(int(port)))
	if !anySrc {
		b.WriteString(" -s " + src)
	}
	b.WriteString(" -j ACCEPT")
	cmd := b.String()

	if strings.HasPrefix(r.Chain, "ufw-") || strings.HasPrefix(r.Chain, "ufw6-") {
		from := "any"
		if !anySrc {
			from = src
		}
		allow := "allow proto " + proto + " from " + from + " to any port " + strconv.Itoa(int(port))
		if r.Position > 0 && strings.Contains(r.Chain, "-user-") {
			// one of the user's own ufw rules decides: an allow added after it changes nothing
			return []string{
				"# a ufw rule decides: find its number with `ufw status numbered`, then: ufw insert NUM " + allow +
					" (portpath names the rule when it reads /etc/ufw: --local on the server, or --ufw-dir)",
				"# or, until ufw reloads: " + cmd,
			}
		}
		return []string{"ufw " + allow, "# or, until ufw reloads: " + cmd}
	}
	return []string{cmd, "# then make it permanent: netfilter-persistent save (or " + save + " > " + file + ")"}
}
